package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alessio/shellescape"
	"github.com/google/shlex"
	"go.starlark.net/starlark"
)

// Tilt's file builtins: read_file (a blob), watch_file, listdir, blob and shlex; the JSON and YAML
// ones are in encoding.go. Every path is relative to the file executing now and confined to the
// run's root. As in Tilt, a file read is one the run depends on (also a missing one: creating it
// changes the run), a directory read is not, and a directory watched or listed recursively is a
// dependency on everything inside it (files.go).

func (r *run) addData(add func(string, builtinFunc)) {
	add("blob", builtinBlob)
	add("read_file", r.builtinReadFile)
	add("watch_file", r.builtinWatchFile)
	add("listdir", r.builtinListdir)
	r.addEncoding(add)
	add("shlex.quote", builtinShlexQuote)
	add("shlex.split", builtinShlexSplit)
}

// blob is Tilt's blob: text that prints as itself but is not a string (str() makes it one), and
// where it came from ("file: PATH", "local: COMMAND"), which k8s_yaml's errors name as Tilt's do.
type blob struct {
	text   string
	source string
}

var _ starlark.Value = blob{}

func (b blob) String() string        { return b.text }
func (b blob) Type() string          { return "blob" }
func (b blob) Freeze()               {}
func (b blob) Truth() starlark.Bool  { return len(b.text) > 0 }
func (b blob) Hash() (uint32, error) { return 0, errors.New("unhashable type: blob") }

// Where Tilt says a blob came from, for those that come from no file or command.
const (
	sourceBlob             = "Tiltfile blob() call"
	sourceEncodeYAML       = "encode_yaml"
	sourceEncodeYAMLStream = "encode_yaml_stream"
)

// textOf is a string or a blob's text, as Tilt's builtins accept either where they take text.
func textOf(value starlark.Value) (string, bool) {
	if b, ok := value.(blob); ok {
		return b.text, true
	}
	return starlark.AsString(value)
}

// tiltTypeName is how Tilt's messages name the type of a value: its Go type, which for the values
// Tilt defines itself is Tilt's name for it.
func tiltTypeName(value any) string {
	switch value.(type) {
	case blob:
		return "io.Blob"
	case *module:
		return "starkit.Module"
	}
	return fmt.Sprintf("%T", value)
}

// stringable is an argument that takes a string or a blob, as Tilt's value.Stringable.
type stringable struct {
	text string
	set  bool
}

func (s *stringable) Unpack(value starlark.Value) error {
	text, ok := textOf(value)
	if !ok {
		return fmt.Errorf("Value should be convertible to string, but is type %s", value.Type())
	}
	s.text, s.set = text, true
	return nil
}

// optionalString is an argument that takes a string or None (not a blob), as Tilt's
// value.Optional[starlark.String].
type optionalString struct {
	text string
	set  bool
}

func (s *optionalString) Unpack(value starlark.Value) error {
	switch v := value.(type) {
	case starlark.NoneType:
		return nil
	case starlark.String:
		s.text, s.set = string(v), true
		return nil
	}
	return fmt.Errorf("expected starlark.String or None, got %s", tiltTypeName(value))
}

// pathArgument is a path argument as Tilt's value.LocalPath takes it: a string, relative to the
// file executing now.
type pathArgument struct {
	path string
}

func (p *pathArgument) Unpack(value starlark.Value) error {
	text, ok := starlark.AsString(value)
	if !ok {
		return fmt.Errorf("expected path | string. Actual type: %s", tiltTypeName(value))
	}
	p.path = text
	return nil
}

func builtinBlob(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var input string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "input", &input); err != nil {
		return nil, err
	}
	return blob{input, sourceBlob}, nil
}

// localPath is a path argument resolved as Tilt resolves it and confined to the run's root;
// a refusal shows the path as written, joined to the directory it is relative to.
func (r *run) localPath(thread *starlark.Thread, what, path string) (string, error) {
	if !filepath.IsAbs(path) {
		path = currentDir(thread) + "/" + path
	}
	return r.confineToCallers(thread, path, what)
}

// readFile reads a confined file as Tilt's io.ReadFile does: the file is recorded unless it is a
// directory, and a missing file is the OS's error (fs.ErrNotExist), which a default may answer.
func (r *run) readFile(thread *starlark.Thread, what, path string) ([]byte, string, error) {
	target, err := r.localPath(thread, what, path)
	if err != nil {
		return nil, "", err
	}
	info, err := os.Lstat(target)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, target, err
	case err != nil || !info.IsDir():
		r.recordFile(target)
	}
	data, err := os.ReadFile(target)
	return data, target, err
}

// builtinReadFile is Tilt's read_file(paths, default=None) -> blob.
func (r *run) builtinReadFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path pathArgument
	var fallback optionalString
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
		return nil, err
	}
	data, target, err := r.readFile(thread, fn.Name(), path.path)
	if errors.Is(err, fs.ErrNotExist) && fallback.set {
		return blob{fallback.text, "file: " + target}, nil
	}
	if err != nil {
		return nil, err
	}
	return blob{string(data), "file: " + target}, nil
}

// builtinWatchFile is Tilt's watch_file(paths): the run depends on the path without reading it, on
// everything inside it when it is a directory.
func (r *run) builtinWatchFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path pathArgument
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path); err != nil {
		return nil, err
	}
	target, err := r.localPath(thread, fn.Name(), path.path)
	if err != nil {
		return nil, err
	}
	r.recordFile(target)
	return starlark.None, nil
}

// builtinListdir is Tilt's listdir(dir, recursive=False): the files (not directories) in dir,
// absolute, sorted; recursive also lists the files of every subdirectory, and makes the run depend
// on the whole tree. A directory that does not exist (or cannot be read) lists nothing.
func (r *run) builtinListdir(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var dir pathArgument
	var recursive bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "dir", &dir, "recursive?", &recursive); err != nil {
		return nil, err
	}
	root, err := r.localPath(thread, fn.Name(), dir.path)
	if err != nil {
		return nil, err
	}
	if recursive {
		r.recordFile(root)
	}
	files := []starlark.Value{}
	// Errors inside the tree are skipped as Tilt skips them: what can be read is listed.
	_ = filepath.WalkDir(root, func(path string, entry fs.DirEntry, _ error) error {
		switch {
		case path == root:
		case !entry.IsDir():
			files = append(files, starlark.String(path))
		case !recursive:
			return filepath.SkipDir
		}
		return nil
	})
	return starlark.NewList(files), nil
}

func builtinShlexQuote(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &s); err != nil {
		return nil, err
	}
	return starlark.String(shellescape.Quote(s)), nil
}

func builtinShlexSplit(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "s", &s); err != nil {
		return nil, err
	}
	words, err := shlex.Split(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn.Name(), err)
	}
	items := make([]starlark.Value, len(words))
	for i, word := range words {
		items[i] = starlark.String(word)
	}
	return starlark.NewList(items), nil
}
