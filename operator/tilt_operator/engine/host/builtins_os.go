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

// absPath is path relative to the directory of the file executing now, as Tilt resolves paths.
func absPath(thread *starlark.Thread, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
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

func builtinPathJoin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword arguments", fn.Name())
	}
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
	var key string
	var fallback starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "default?", &fallback); err != nil {
		return nil, err
	}
	if value, ok := r.env[key]; ok {
		return starlark.String(value), nil
	}
	return fallback, nil
}

func (r *run) builtinPutenv(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key, value string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	r.env[key] = value
	return starlark.None, nil
}

func (r *run) builtinUnsetenv(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &key); err != nil {
		return nil, err
	}
	delete(r.env, key)
	return starlark.None, nil
}

// environ is os.environ: the run's environment as a mapping (get, keys, values, items, [],
// `in`, assignment), like Tilt's.
type environ struct{ run *run }

var (
	_ starlark.HasSetKey = (*environ)(nil)
	_ starlark.HasAttrs  = (*environ)(nil)
	_ starlark.Iterable  = (*environ)(nil)
	_ starlark.Sequence  = (*environ)(nil)
)

func (e *environ) String() string        { return "environ(" + e.dict().String() + ")" }
func (e *environ) Type() string          { return "environ" }
func (e *environ) Freeze()               {}
func (e *environ) Truth() starlark.Bool  { return len(e.run.env) > 0 }
func (e *environ) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: environ") }
func (e *environ) Len() int              { return len(e.run.env) }
func (e *environ) Iterate() starlark.Iterator {
	return starlark.NewList(e.dict().Keys()).Iterate()
}

func (e *environ) dict() *starlark.Dict {
	dict := starlark.NewDict(len(e.run.env))
	for _, key := range sortedKeys(e.run.env) {
		_ = dict.SetKey(starlark.String(key), starlark.String(e.run.env[key]))
	}
	return dict
}

func (e *environ) Get(key starlark.Value) (starlark.Value, bool, error) {
	text, ok := starlark.AsString(key)
	if !ok {
		return nil, false, fmt.Errorf("os.environ: keys are strings, got %s", key.Type())
	}
	value, found := e.run.env[text]
	return starlark.String(value), found, nil
}

func (e *environ) SetKey(key, value starlark.Value) error {
	k, ok1 := starlark.AsString(key)
	v, ok2 := starlark.AsString(value)
	if !ok1 || !ok2 {
		return fmt.Errorf("os.environ: keys and values are strings")
	}
	e.run.env[k] = v
	return nil
}

func (e *environ) Attr(name string) (starlark.Value, error) {
	method, err := e.dict().Attr(name)
	if err != nil || method == nil {
		return method, err
	}
	switch name {
	case "get", "keys", "values", "items":
		return method, nil
	}
	return nil, nil
}

func (e *environ) AttrNames() []string { return []string{"get", "items", "keys", "values"} }
