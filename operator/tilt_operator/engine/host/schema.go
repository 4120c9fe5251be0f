package main

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// A call is checked against its kind's OpenAPI schema here, inside the run, because only here
// can an error still name the Tiltfile line; the API server checks again when the objects are
// applied (CEL rules and formats are left to it).

// schema is one OpenAPI v3 schema node as the CRD has it.
type schema map[string]any

func (s schema) properties() map[string]schema {
	raw, _ := s["properties"].(map[string]any)
	props := make(map[string]schema, len(raw))
	for key, value := range raw {
		if node, ok := value.(map[string]any); ok {
			props[key] = node
		}
	}
	return props
}

func (s schema) child(key string) schema {
	node, _ := s[key].(map[string]any)
	return node
}

func (s schema) str(key string) string {
	text, _ := s[key].(string)
	return text
}

var stringMap = schema{"type": "object", "additionalProperties": map[string]any{"type": "string"}}

type keyValue struct {
	key   string
	value starlark.Value
}

var typeNouns = map[string][2]string{
	"string":  {"a string", "strings"},
	"integer": {"an integer", "integers"},
	"number":  {"a number", "numbers"},
	"boolean": {"a bool", "bools"},
	"object":  {"a dict", "dicts"},
	"array":   {"a list", "lists"},
}

// check is value in the schema's canonical form (camelCase keys, lists for tuples), as plain Go
// values for JSON, or an error saying what to fix.
func check(value starlark.Value, s schema, where string) (any, error) {
	if intOrString, _ := s["x-kubernetes-int-or-string"].(bool); intOrString {
		if text, ok := value.(starlark.String); ok {
			return string(text), nil
		}
		if number, ok := value.(starlark.Int); ok {
			return intValue(number), nil
		}
		return nil, typeError(where, "a string or an integer", value)
	}
	var result any
	var err error
	switch s.str("type") {
	case "string":
		result, err = checkString(value, s, where)
	case "integer":
		result, err = checkInteger(value, s, where)
	case "number":
		result, err = checkNumber(value, s, where)
	case "boolean":
		b, ok := value.(starlark.Bool)
		if !ok {
			return nil, typeError(where, describe(s), value)
		}
		result = bool(b)
	case "array":
		result, err = checkArray(value, s, where)
	case "object":
		result, err = checkObject(value, s, where)
	default:
		result, err = toGo(value, where)
	}
	if err != nil {
		return nil, err
	}
	if choices, ok := s["enum"].([]any); ok {
		for _, choice := range choices {
			if fmt.Sprint(choice) == fmt.Sprint(result) {
				return result, nil
			}
		}
		quotedChoices := make([]string, len(choices))
		for i, choice := range choices {
			quotedChoices[i] = quoted(choice)
		}
		return nil, fmt.Errorf("argument %s must be one of %s, got %s", quoted(where), strings.Join(quotedChoices, ", "), quoted(result))
	}
	return result, nil
}

func checkString(value starlark.Value, s schema, where string) (any, error) {
	text, ok := value.(starlark.String)
	if !ok {
		return nil, typeError(where, describe(s), value)
	}
	if pattern := s.str("pattern"); pattern != "" {
		// OpenAPI patterns are unanchored; one RE2 cannot compile is left to the API server.
		if re, err := regexp.Compile(pattern); err == nil && !re.MatchString(string(text)) {
			return nil, fmt.Errorf("argument %s must match the pattern %s, got %s", quoted(where), quoted(pattern), quoted(string(text)))
		}
	}
	if err := checkBounds(float64(len([]rune(string(text)))), s, where, "minLength", "maxLength", "character(s)"); err != nil {
		return nil, err
	}
	return string(text), nil
}

func checkInteger(value starlark.Value, s schema, where string) (any, error) {
	number, ok := value.(starlark.Int)
	if !ok {
		return nil, typeError(where, describe(s), value)
	}
	n := intValue(number)
	if err := checkBounds(toFloat(n), s, where, "minimum", "maximum", ""); err != nil {
		return nil, err
	}
	return n, nil
}

func checkNumber(value starlark.Value, s schema, where string) (any, error) {
	var n any
	switch v := value.(type) {
	case starlark.Int:
		n = intValue(v)
	case starlark.Float:
		n = float64(v)
	default:
		return nil, typeError(where, describe(s), value)
	}
	if err := checkBounds(toFloat(n), s, where, "minimum", "maximum", ""); err != nil {
		return nil, err
	}
	return n, nil
}

func checkArray(value starlark.Value, s schema, where string) (any, error) {
	var items []starlark.Value
	switch v := value.(type) {
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			items = append(items, v.Index(i))
		}
	case starlark.Tuple:
		items = v
	default:
		return nil, typeError(where, describe(s), value)
	}
	if err := checkBounds(float64(len(items)), s, where, "minItems", "maxItems", "item(s)"); err != nil {
		return nil, err
	}
	itemSchema := s.child("items")
	result := make([]any, len(items))
	for i, item := range items {
		checked, err := check(item, itemSchema, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return nil, err
		}
		result[i] = checked
	}
	return result, nil
}

// entries are a dict's or a struct's fields, in order; structs are accepted wherever dicts are,
// as Tilt accepts the *_spec helpers' structs.
func entries(value starlark.Value) ([]keyValue, bool) {
	switch v := value.(type) {
	case *starlark.Dict:
		var result []keyValue
		for _, item := range v.Items() {
			key, ok := item[0].(starlark.String)
			if !ok {
				return nil, false
			}
			result = append(result, keyValue{string(key), item[1]})
		}
		return result, true
	case *starlarkstruct.Struct:
		var result []keyValue
		for _, name := range v.AttrNames() {
			field, _ := v.Attr(name)
			result = append(result, keyValue{name, field})
		}
		return result, true
	}
	return nil, false
}

func checkObject(value starlark.Value, s schema, where string) (any, error) {
	items, ok := entries(value)
	if !ok {
		return nil, typeError(where, "a dict with string keys", value)
	}
	if props := s.properties(); len(props) > 0 {
		// Nested keys may be written either way; snake_case first so errors name that spelling.
		spellings := map[string]string{}
		for field := range props {
			spellings[snakeCase(field)] = field
		}
		for field := range props {
			spellings[field] = field
		}
		return checkFields(items, s, spellings, where)
	}
	extra := s.child("additionalProperties")
	result := map[string]any{}
	for _, item := range items {
		if item.value == starlark.None {
			continue
		}
		var checked any
		var err error
		if extra != nil {
			checked, err = check(item.value, extra, where+"."+item.key)
		} else {
			checked, err = toGo(item.value, where+"."+item.key)
		}
		if err != nil {
			return nil, err
		}
		result[item.key] = checked
	}
	return result, nil
}

// checkFields renames keys to fields through spellings and checks each value; where "" is the
// call itself (its arguments), anything else a nested dict.
func checkFields(items []keyValue, s schema, spellings map[string]string, where string) (map[string]any, error) {
	props := s.properties()
	result := map[string]any{}
	for _, item := range items {
		field, ok := spellings[item.key]
		if !ok {
			return nil, unknown(item.key, spellings, where)
		}
		if _, twice := result[field]; twice {
			return nil, fmt.Errorf("argument %s sets %s twice", quoted(where), quoted(field))
		}
		if item.value == starlark.None {
			continue
		}
		at := item.key
		if where != "" {
			at = where + "." + item.key
		}
		checked, err := check(item.value, props[field], at)
		if err != nil {
			return nil, err
		}
		result[field] = checked
	}
	required, _ := s["required"].([]any)
	for _, r := range required {
		field, _ := r.(string)
		if _, ok := result[field]; ok {
			continue
		}
		spelling := snakeCase(field)
		if where == "" {
			for argument, known := range spellings {
				if known == field {
					spelling = argument
				}
			}
			return nil, fmt.Errorf("missing required argument %s", quoted(spelling))
		}
		return nil, fmt.Errorf("argument %s is missing required key %s", quoted(where), quoted(spelling))
	}
	return result, nil
}

func unknown(key string, spellings map[string]string, where string) error {
	known := make([]string, 0, len(spellings)+len(metadataArguments))
	for spelling := range spellings {
		known = append(known, spelling)
	}
	if where == "" {
		known = append(known, metadataArguments...)
		return fmt.Errorf("unknown argument %s%s", quoted(key), didYouMean(key, known))
	}
	return fmt.Errorf("argument %s has unknown key %s%s", quoted(where), quoted(key), didYouMean(key, known))
}

// didYouMean names the closest known word, as Python's difflib.get_close_matches(n=1) would.
func didYouMean(word string, known []string) string {
	sort.Strings(known)
	best, bestScore := "", 0.6
	for _, candidate := range known {
		if score := similarity(word, candidate); score >= bestScore && (best == "" || score > bestScore) {
			best, bestScore = candidate, score
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", quoted(best))
}

// similarity is difflib's ratio: twice the matched characters over the total length, where
// matches are found as the longest common block, then recursively left and right of it.
func similarity(a, b string) float64 {
	if len(a)+len(b) == 0 {
		return 1
	}
	return 2 * float64(matched(a, b)) / float64(len(a)+len(b))
}

func matched(a, b string) int {
	bestI, bestJ, bestSize := 0, 0, 0
	for i := range a {
		for j := range b {
			size := 0
			for i+size < len(a) && j+size < len(b) && a[i+size] == b[j+size] {
				size++
			}
			if size > bestSize {
				bestI, bestJ, bestSize = i, j, size
			}
		}
	}
	if bestSize == 0 {
		return 0
	}
	return bestSize + matched(a[:bestI], b[:bestJ]) + matched(a[bestI+bestSize:], b[bestJ+bestSize:])
}

// checkBounds is minLength/maxLength, minItems/maxItems and minimum/maximum: one rule, three spellings.
func checkBounds(size float64, s schema, where, low, high, unit string) error {
	verb, suffix := "be", ""
	if unit != "" {
		verb, suffix = "have", " "+unit
	}
	if bound, ok := s[low].(float64); ok && size < bound {
		return fmt.Errorf("argument %s must %s at least %s%s, got %s", quoted(where), verb, number(bound), suffix, number(size))
	}
	if bound, ok := s[high].(float64); ok && size > bound {
		return fmt.Errorf("argument %s must %s at most %s%s, got %s", quoted(where), verb, number(bound), suffix, number(size))
	}
	return nil
}

func number(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprint(f)
}

// describe is how an error names the expected type: "a string", "a list of strings".
func describe(s schema) string {
	if s.str("type") == "array" {
		if nouns, ok := typeNouns[s.child("items").str("type")]; ok {
			return "a list of " + nouns[1]
		}
		return "a list of values"
	}
	if nouns, ok := typeNouns[s.str("type")]; ok {
		return nouns[0]
	}
	return "a value"
}

func typeError(where, expected string, value starlark.Value) error {
	return fmt.Errorf("argument %s must be %s, got %s", quoted(where), expected, value.Type())
}

// intValue is a Starlark int as JSON carries it: int64 when it fits, else a big.Int.
func intValue(n starlark.Int) any {
	if small, ok := n.Int64(); ok {
		return small
	}
	return n.BigInt()
}

func toFloat(n any) float64 {
	switch v := n.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f
	}
	return 0
}
