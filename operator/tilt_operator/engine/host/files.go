package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// confine is path with every symlink resolved, or an error saying that `what` left root.
// Paths from a repo are untrusted: a load, a read_file or a symlink may point anywhere.
func confine(path, root, what string) (string, error) {
	resolved := mustResolve(path)
	realRoot := mustResolve(root)
	if resolved != realRoot && !strings.HasPrefix(resolved, strings.TrimSuffix(realRoot, "/")+"/") {
		shown := path
		if resolved != path {
			shown = fmt.Sprintf("%s (which resolves to %s)", path, resolved)
		}
		return "", fmt.Errorf("%s: %s is outside %s", what, shown, root)
	}
	return resolved, nil
}

// mustResolve is the absolute path with symlinks resolved as far as the path exists (the rest
// is kept as written, cleaned), like Python's Path.resolve().
func mustResolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	dir, base := filepath.Split(abs)
	if dir == "/" || dir == "" || dir == abs {
		return abs
	}
	return filepath.Clean(filepath.Join(mustResolve(strings.TrimSuffix(dir, "/")), base))
}

// missing is the signature of a file that does not exist.
const missing = "missing"

// fileSignature is what a run saw of a file: it changes whenever the file is rewritten or
// replaced (a new checkout is a new inode). A directory's is its tree's (treeSignature). The
// operator compares it with tilt_operator.engine.protocol.file_signature, which must give the
// same text.
func fileSignature(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return missing
	}
	if info.IsDir() {
		return treeSignature(path, info)
	}
	return statSignature(info)
}

func statSignature(info fs.FileInfo) string {
	stat := info.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d:%d", stat.Ino, stat.Mtim.Sec*1_000_000_000+stat.Mtim.Nsec, stat.Size)
}

// maxTreeEntries bounds what a directory's signature covers: 10,000 entries below it. A watched
// directory is one record of the run however large its tree, so a huge tree floods nothing; past
// the cap, a change goes unnoticed. tilt_operator.engine.protocol.MAX_TREE_ENTRIES is the same.
const maxTreeEntries = 10_000

// treeSignature is what a run saw of a directory and everything below it (Tilt watches a
// directory recursively): a hash of each entry's path and stat, the directory first, then its
// entries depth first in name order, symlinks not followed and .git left out (as a FileWatch
// leaves it out), at most maxTreeEntries of them. A directory that cannot be read adds nothing.
func treeSignature(root string, info fs.FileInfo) string {
	hash := sha256.New()
	fmt.Fprintf(hash, ".\x00%s\n", statSignature(info))
	left := maxTreeEntries
	var walk func(dir, relative string) bool
	walk = func(dir, relative string) bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return true
		}
		for _, entry := range entries {
			if entry.Name() == ".git" {
				continue
			}
			if left == 0 {
				return false
			}
			info, err := entry.Info()
			if err != nil {
				continue // gone since the directory was read
			}
			left--
			path := entry.Name()
			if relative != "" {
				path = relative + "/" + path
			}
			fmt.Fprintf(hash, "%s\x00%s\n", path, statSignature(info))
			if entry.IsDir() && !walk(filepath.Join(dir, entry.Name()), path) {
				return false
			}
		}
		return true
	}
	walk(root, "")
	return "tree:" + hex.EncodeToString(hash.Sum(nil))
}

// reason is an OS error as a person reads it: "No such file or directory".
func reason(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text := errno.Error()
		return strings.ToUpper(text[:1]) + text[1:]
	}
	return err.Error()
}
