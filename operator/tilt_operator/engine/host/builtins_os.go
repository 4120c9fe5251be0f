package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.starlark.net/starlark"
)

// Tilt's os module. The environment is the run's own (the one a Cmd would get, sent with the
// request): os.putenv lasts for the run and reaches its local() calls, and never changes the
// host's own environment, so the next run starts from what the operator sends again.

func (r *run) addOS(add func(string, builtinFunc), names namespace) {
	add("os.getcwd", builtinGetcwd)
	add("os.getenv", r.builtinGetenv)
	add("os.putenv", r.builtinPutenv)
	add("os.unsetenv", r.builtinUnsetenv)
	names.add("os.environ", &environ{run: r})
	names.add("os.name", starlark.String("posix"))
	add("os.path.join", builtinPathJoin)
	add("os.path.relpath", builtinRelpath)
	for name, fn := range map[string]func(*starlark.Thread, string) (starlark.Value, error){
		"abspath": func(t *starlark.Thread, p string) (starlark.Value, error) { return starlark.String(absPath(t, p)), nil },
		"basename": func(_ *starlark.Thread, p string) (starlark.Value, error) {
			return starlark.String(filepath.Base(p)), nil
		},
		"dirname": func(_ *starlark.Thread, p string) (starlark.Value, error) {
			return starlark.String(filepath.Dir(p)), nil
		},
		"exists": func(t *starlark.Thread, p string) (starlark.Value, error) {
			_, err := os.Stat(absPath(t, p))
			return starlark.Bool(err == nil), nil
		},
		"realpath": func(t *starlark.Thread, p string) (starlark.Value, error) {
			real, err := filepath.EvalSymlinks(absPath(t, p))
			if err != nil {
				return nil, err
			}
			return starlark.String(real), nil
		},
	} {
		add("os.path."+name, pathBuiltin(fn))
	}
}

// absPath is path relative to the directory of the file executing now, as Tilt resolves paths
// (an absolute path is kept as it is written).
func absPath(thread *starlark.Thread, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(currentDir(thread), path)
}

func pathBuiltin(f func(*starlark.Thread, string) (starlark.Value, error)) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var path string
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
			return nil, err
		}
		return f(thread, path)
	}
}

// builtinGetcwd is Tilt's os.getcwd(): the directory of the file executing now.
func builtinGetcwd(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.String(currentDir(thread)), nil
}

// builtinPathJoin is Tilt's os.path.join(*paths), which takes no keyword arguments and ignores any.
func builtinPathJoin(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	parts := make([]string, len(args))
	for i, arg := range args {
		text, ok := starlark.AsString(arg)
		if !ok {
			return nil, fmt.Errorf("os.path.join() only accepts strings. Argument #%d: %s", i, arg)
		}
		parts[i] = text
	}
	return starlark.String(filepath.Join(parts...)), nil
}

func builtinRelpath(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	target, base := "", currentDir(thread)
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "targpath", &target, "basepath?", &base); err != nil {
		return nil, err
	}
	relative, err := filepath.Rel(base, target)
	if err != nil {
		return nil, err
	}
	return starlark.String(relative), nil
}

func (r *run) builtinGetenv(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key stringable
	var fallback starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "default?", &fallback); err != nil {
		return nil, err
	}
	if value, ok := r.env[key.text]; ok {
		return starlark.String(value), nil
	}
	return fallback, nil
}

func (r *run) builtinPutenv(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key, value stringable
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	r.env[key.text] = value.text
	return starlark.None, nil
}

func (r *run) builtinUnsetenv(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key stringable
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key); err != nil {
		return nil, err
	}
	delete(r.env, key.text)
	return starlark.None, nil
}
