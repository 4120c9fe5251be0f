package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// toGo is a Starlark value as plain Go values for JSON, for schema nodes that say no type.
func toGo(value starlark.Value, where string) (any, error) {
	switch v := value.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		return intValue(v), nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case *starlark.List, starlark.Tuple:
		iterable := v.(starlark.Indexable)
		result := make([]any, iterable.Len())
		for i := range result {
			item, err := toGo(iterable.Index(i), fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			result[i] = item
		}
		return result, nil
	case *starlark.Dict, *starlarkstruct.Struct:
		items, ok := entries(v)
		if !ok {
			return nil, typeError(where, "a dict with string keys", value)
		}
		result := map[string]any{}
		for _, item := range items {
			converted, err := toGo(item.value, where+"."+item.key)
			if err != nil {
				return nil, err
			}
			result[item.key] = converted
		}
		return result, nil
	}
	return nil, fmt.Errorf("argument %s cannot hold a %s", quoted(where), value.Type())
}

// toStarlark is a JSON value (as encoding/json or toGo makes it) as a Starlark value.
func toStarlark(value any) starlark.Value {
	switch v := value.(type) {
	case nil:
		return starlark.None
	case bool:
		return starlark.Bool(v)
	case int64:
		return starlark.MakeInt64(v)
	case *big.Int:
		return starlark.MakeBigInt(v)
	case float64:
		return starlark.Float(v)
	case string:
		return starlark.String(v)
	case []any:
		items := make([]starlark.Value, len(v))
		for i, item := range v {
			items[i] = toStarlark(item)
		}
		return starlark.NewList(items)
	case map[string]any:
		dict := starlark.NewDict(len(v))
		for _, key := range sortedKeys(v) {
			_ = dict.SetKey(starlark.String(key), toStarlark(v[key]))
		}
		return dict
	}
	return starlark.String(fmt.Sprint(value))
}

// normalizeNumbers turns the numbers of decoded JSON into int64 or float64, the values toStarlark
// takes.
func normalizeNumbers(value any) any {
	switch v := value.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for key, item := range v {
			v[key] = normalizeNumbers(item)
		}
	case []any:
		for i, item := range v {
			v[i] = normalizeNumbers(item)
		}
	}
	return value
}

// sortedKeys is a map's keys in order, for output that does not change from run to run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}
