package main

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// module is a namespace of builtins (os, os.path, v1alpha1), frozen, as Tilt's modules are.
type module struct {
	name  string
	attrs starlark.StringDict
}

var _ starlark.HasAttrs = (*module)(nil)

func (m *module) String() string        { return fmt.Sprintf("[module: %s]", m.name) }
func (m *module) Type() string          { return "module" }
func (m *module) Freeze()               { m.attrs.Freeze() }
func (m *module) Truth() starlark.Bool  { return true }
func (m *module) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: module") }
func (m *module) Attr(name string) (starlark.Value, error) {
	return m.attrs[name], nil // nil: Starlark reports "module has no .name field or method"
}
func (m *module) AttrNames() []string {
	return m.attrs.Keys() // sorted
}

// namespace builds nested modules from dotted names ("os.path.join"), as Tilt adds builtins.
type namespace starlark.StringDict

func (n namespace) add(name string, value starlark.Value) {
	parts := strings.Split(name, ".")
	attrs := starlark.StringDict(n)
	for i, part := range parts[:len(parts)-1] {
		existing, ok := attrs[part].(*module)
		if !ok {
			existing = &module{name: strings.Join(parts[:i+1], "."), attrs: starlark.StringDict{}}
			attrs[part] = existing
		}
		attrs = existing.attrs
	}
	attrs[parts[len(parts)-1]] = value
}

type builtinFunc func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// builtins is everything a Tiltfile starts with, new for every run: Tilt's builtins by family
// (this file, builtins_*.go, localresource.go, k8s.go, specs.go) and one builtin per kind of the CRDs.
func (r *run) builtins() starlark.StringDict {
	names := namespace{}
	add := func(name string, fn builtinFunc) {
		names.add(name, starlark.NewBuiltin(name, fn))
	}
	names.add("struct", starlark.NewBuiltin("struct", starlarkstruct.Make))
	names.add("module", starlark.NewBuiltin("module", starlarkstruct.MakeModule))
	add("warn", r.builtinWarn)
	add("fail", builtinFail)
	add("include", r.builtinInclude)
	r.addOS(add, names)
	r.addData(add)
	r.addConfig(add, names)
	r.addTilt(add, names)
	r.addK8s(add)
	r.addSpecs(add)
	// One builtin per kind, under its own name and in Tilt's v1alpha1 namespace: the same value.
	for _, kind := range r.kinds.ordered {
		fn := starlark.NewBuiltin(kind.builtin, r.kindBuiltin(kind))
		names.add(kind.builtin, fn)
		names.add("v1alpha1."+kind.builtin, fn)
	}
	args := make([]starlark.Value, len(r.req.Args))
	for i, arg := range r.req.Args {
		args[i] = starlark.String(arg)
	}
	names.add("args", starlark.NewList(args))
	globals := starlark.StringDict(names)
	globals.Freeze()
	return globals
}

func (r *run) kindBuiltin(kind *kind) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		obj, err := kind.build(args, kwargs)
		if err != nil {
			return nil, err
		}
		localPaths(kind, obj, currentDir(thread))
		if err := r.registry.add(kind, obj); err != nil {
			return nil, err
		}
		return toStarlark(obj), nil
	}
}

// builtinWarn is Tilt's warn(msg): a warning in the run's log, counted in warningCount.
func (r *run) builtinWarn(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	r.warn(msg)
	return starlark.None, nil
}

// builtinFail is Tilt's fail(msg), which replaces Starlark's: the run fails with msg as it is.
func builtinFail(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	return nil, errors.New(msg)
}

// builtinInclude is Tilt's include(path): a load that binds nothing.
func (r *run) builtinInclude(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	if _, err := thread.Load(thread, path); err != nil {
		return nil, fmt.Errorf("include: cannot load %s: %w", path, err)
	}
	return starlark.None, nil
}
