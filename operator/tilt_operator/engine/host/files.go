package main

import (
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
// replaced (a new checkout is a new inode). The operator compares it with
// tilt_operator.engine.protocol.file_signature, which must give the same text.
func fileSignature(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return missing
	}
	stat := info.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d:%d", stat.Ino, stat.Mtim.Sec*1_000_000_000+stat.Mtim.Nsec, stat.Size)
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
