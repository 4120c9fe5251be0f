package main

import (
	"errors"
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// environ is Tilt's os.environ over the run's environment: a mapping (`[]`, `in`, assignment,
// iteration over its keys, comparison with another environ) with a dict's methods. Changes last
// for the run and reach its local() calls, as putenv's do. Keys come in sorted order.
type environ struct{ run *run }

var (
	_ starlark.HasSetKey       = (*environ)(nil)
	_ starlark.HasAttrs        = (*environ)(nil)
	_ starlark.IterableMapping = (*environ)(nil)
	_ starlark.Sequence        = (*environ)(nil)
	_ starlark.Comparable      = (*environ)(nil)
)

func (e *environ) String() string        { return e.dict().String() }
func (e *environ) Type() string          { return "environ" }
func (e *environ) Freeze()               {}
func (e *environ) Truth() starlark.Bool  { return len(e.run.env) > 0 }
func (e *environ) Hash() (uint32, error) { return 0, errors.New("unhashable type: environ") }
func (e *environ) Len() int              { return len(e.run.env) }
func (e *environ) Iterate() starlark.Iterator {
	return e.dict().Iterate()
}
func (e *environ) Items() []starlark.Tuple { return e.dict().Items() }
func (e *environ) Keys() []starlark.Value  { return e.dict().Keys() }

func (e *environ) CompareSameType(op syntax.Token, other starlark.Value, depth int) (bool, error) {
	return e.dict().CompareSameType(op, other.(*environ).dict(), depth)
}

// dict is a copy of the environment as a dict, in sorted order.
func (e *environ) dict() *starlark.Dict {
	dict := starlark.NewDict(len(e.run.env))
	for _, key := range sortedKeys(e.run.env) {
		_ = dict.SetKey(starlark.String(key), starlark.String(e.run.env[key]))
	}
	return dict
}

// Get finds a key; anything but text is a key that is not there.
func (e *environ) Get(key starlark.Value) (starlark.Value, bool, error) {
	text, ok := textOf(key)
	if !ok {
		return starlark.None, false, nil
	}
	value, found := e.run.env[text]
	return starlark.String(value), found, nil
}

func (e *environ) SetKey(key, value starlark.Value) error {
	k, ok := textOf(key)
	if !ok {
		return fmt.Errorf("putenv() key must be a string, not %s", key.Type())
	}
	v, ok := textOf(value)
	if !ok {
		return fmt.Errorf("putenv() value must be a string, not %s", value.Type())
	}
	e.run.env[k] = v
	return nil
}

// delete removes a key and says what it held.
func (e *environ) delete(key starlark.Value) (starlark.Value, bool) {
	value, found, _ := e.Get(key)
	if found {
		text, _ := textOf(key)
		delete(e.run.env, text)
	}
	return value, found
}

type environMethod func(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// environMethods are a dict's methods, as Tilt's environ has them.
var environMethods = map[string]environMethod{
	"clear":      environClear,
	"get":        environGet,
	"items":      environItems,
	"keys":       environKeys,
	"pop":        environPop,
	"popitem":    environPopitem,
	"setdefault": environSetdefault,
	"update":     environUpdate,
	"values":     environValues,
}

func (e *environ) Attr(name string) (starlark.Value, error) {
	method, ok := environMethods[name]
	if !ok {
		return nil, nil // Starlark reports "environ has no .name field or method"
	}
	return starlark.NewBuiltin(name, func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return method(e, fn.Name(), args, kwargs)
	}).BindReceiver(e), nil
}

func (e *environ) AttrNames() []string { return sortedKeys(environMethods) }

func environClear(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	clear(e.run.env)
	return starlark.None, nil
}

func environGet(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key starlark.Value
	var fallback starlark.Value = starlark.None
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &key, &fallback); err != nil {
		return nil, err
	}
	if value, found, _ := e.Get(key); found {
		return value, nil
	}
	return fallback, nil
}

func environItems(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	items := e.Items()
	values := make([]starlark.Value, len(items))
	for i, item := range items {
		values[i] = item
	}
	return starlark.NewList(values), nil
}

func environKeys(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	return starlark.NewList(e.Keys()), nil
}

func environValues(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	items := e.Items()
	values := make([]starlark.Value, len(items))
	for i, item := range items {
		values[i] = item[1]
	}
	return starlark.NewList(values), nil
}

func environPop(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key, fallback starlark.Value
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &key, &fallback); err != nil {
		return nil, err
	}
	if value, found := e.delete(key); found {
		return value, nil
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, fmt.Errorf("%s: missing key", name)
}

func environPopitem(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	keys := e.Keys()
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: empty environ", name)
	}
	value, _ := e.delete(keys[0])
	return starlark.Tuple{keys[0], value}, nil
}

func environSetdefault(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key starlark.Value
	var fallback starlark.Value = starlark.None
	if err := starlark.UnpackPositionalArgs(name, args, kwargs, 1, &key, &fallback); err != nil {
		return nil, err
	}
	if value, found, _ := e.Get(key); found {
		return value, nil
	}
	if err := e.SetKey(key, fallback); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return fallback, nil
}

// environUpdate is dict.update: from a mapping, or pairs, then keyword arguments.
func environUpdate(e *environ, name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 1 {
		return nil, fmt.Errorf("%s: got %d arguments, want at most 1", name, len(args))
	}
	if err := e.update(args, kwargs); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return starlark.None, nil
}

func (e *environ) update(args starlark.Tuple, kwargs []starlark.Tuple) error {
	if len(args) == 1 {
		if mapping, ok := args[0].(starlark.IterableMapping); ok {
			for _, item := range mapping.Items() {
				if err := e.SetKey(item[0], item[1]); err != nil {
					return err
				}
			}
		} else if err := e.updateFromPairs(args[0]); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, pair := range kwargs {
		key := string(pair[0].(starlark.String))
		if seen[key] {
			return fmt.Errorf("duplicate keyword arg: %s", pair[0])
		}
		seen[key] = true
		if err := e.SetKey(pair[0], pair[1]); err != nil {
			return err
		}
	}
	return nil
}

func (e *environ) updateFromPairs(pairs starlark.Value) error {
	iter := starlark.Iterate(pairs)
	if iter == nil {
		return fmt.Errorf("got %s, want iterable", pairs.Type())
	}
	defer iter.Done()
	var pair starlark.Value
	for i := 0; iter.Next(&pair); i++ {
		items := starlark.Iterate(pair)
		if items == nil {
			return fmt.Errorf("dictionary update sequence element #%d is not iterable (%s)", i, pair.Type())
		}
		items.Done()
		switch n := starlark.Len(pair); {
		case n < 0:
			return fmt.Errorf("dictionary update sequence element #%d has unknown length (%s)", i, pair.Type())
		case n != 2:
			return fmt.Errorf("dictionary update sequence element #%d has length %d, want 2", i, n)
		}
		key, value := starlark.Value(nil), starlark.Value(nil)
		items = starlark.Iterate(pair)
		items.Next(&key)
		items.Next(&value)
		items.Done()
		if err := e.SetKey(key, value); err != nil {
			return err
		}
	}
	return nil
}
