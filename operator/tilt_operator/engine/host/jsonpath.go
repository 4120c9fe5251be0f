package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kubernetes' JSONPath templates, as Tilt's k8s_kind(image_json_path=...) and
// k8s_image_json_path read them to find images in objects (docs/design.md, "The Tiltfile
// language"), over the data k8s_yaml reads (maps, lists, strings, int64s, float64s, bools, nil).
// The grammar, results and errors are those of the JSONPath Tilt uses (kubectl's): text, and
// actions in braces; in an action, $ and @ (the value at hand), .field and ['key'], .* and [*],
// [n] and [start:end:step], [a,b] (a union), .. (every value below), [?(left op right)] (a filter:
// ==, !=, <, >, <=, >=, or left alone: it exists), and quoted strings, numbers, true and false.
// range and end, which loop inside one template, are refused when the path is read; nothing
// here needs them. A map's keys are visited in sorted order (Kubernetes' order is Go's map order).

// jsonPath is one parsed template: literal text and the actions between braces, in order.
type jsonPath struct {
	source string
	parts  []jsonPathPart
}

// jsonPathPart is literal text, or (when action) steps that turn the object into its results.
type jsonPathPart struct {
	text   string
	action bool
	steps  []jsonStep
}

// jsonStep is one step of an action: from the values at hand, the next values.
type jsonStep interface {
	apply(values []any) ([]any, error)
}

// parseJSONPath reads a template; its errors are Kubernetes' parser's.
func parseJSONPath(source string) (*jsonPath, error) {
	path := &jsonPath{source: source}
	rest := source
	for rest != "" {
		open := strings.Index(rest, "{")
		if open < 0 {
			path.parts = append(path.parts, jsonPathPart{text: rest})
			break
		}
		if open > 0 {
			path.parts = append(path.parts, jsonPathPart{text: rest[:open]})
		}
		p := &jsonPathParser{input: rest[open+1:]}
		steps, err := p.action()
		if err != nil {
			return nil, err
		}
		path.parts = append(path.parts, jsonPathPart{action: true, steps: steps})
		rest = p.input[p.pos:]
	}
	return path, nil
}

// results is every value the template finds in data: each text, and each action's values.
func (path *jsonPath) results(data any) ([]any, error) {
	var found []any
	for _, part := range path.parts {
		if !part.action {
			found = append(found, part.text)
			continue
		}
		values, err := applySteps(part.steps, []any{data})
		if err != nil {
			return nil, err
		}
		found = append(found, values...)
	}
	return found, nil
}

func applySteps(steps []jsonStep, values []any) ([]any, error) {
	var err error
	for _, step := range steps {
		if values, err = step.apply(values); err != nil {
			return nil, err
		}
	}
	return values, nil
}

// jsonPathParser reads one action, up to and past its closing brace.
type jsonPathParser struct {
	input string
	pos   int
}

// Characters that end a field or an identifier.
func isJSONPathTerminator(r rune) bool {
	return strings.ContainsRune(" \t\r\n.,[]$@{}", r)
}

func isJSONPathWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// runeAt is the rune at the parser's position and its width; width 0 at the end.
func (p *jsonPathParser) runeAt() (rune, int) {
	if p.pos >= len(p.input) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(p.input[p.pos:])
}

// word is the text from the position up to a terminator; with escapes, '\' keeps the next
// character from ending it.
func (p *jsonPathParser) word(escapes bool) string {
	start := p.pos
	for {
		r, width := p.runeAt()
		if width == 0 || isJSONPathTerminator(r) {
			break
		}
		p.pos += width
		if r == '\\' && escapes {
			_, next := p.runeAt()
			p.pos += next
		}
	}
	return p.input[start:p.pos]
}

func (p *jsonPathParser) action() ([]jsonStep, error) {
	var steps []jsonStep
	for {
		rest := p.input[p.pos:]
		switch {
		case strings.HasPrefix(rest, "}"):
			p.pos++
			return steps, nil
		case strings.HasPrefix(rest, "[?("):
			step, err := p.filter()
			if err != nil {
				return nil, err
			}
			steps = append(steps, step)
			continue
		case strings.HasPrefix(rest, ".."):
			p.pos += 2
			steps = append(steps, recursiveStep{})
			if r, _ := p.runeAt(); isJSONPathWord(r) {
				steps = append(steps, p.field())
			}
			continue
		}
		r, width := p.runeAt()
		switch {
		case width == 0 || r == '\r' || r == '\n':
			return nil, errors.New("unclosed action")
		case r == ' ' || r == '@' || r == '$':
			p.pos += width
		case r == '[':
			more, err := p.array()
			if err != nil {
				return nil, err
			}
			steps = append(steps, more...)
		case r == '"' || r == '\'':
			step, err := p.quoted(r)
			if err != nil {
				return nil, err
			}
			steps = append(steps, step)
		case r == '.':
			p.pos++
			steps = append(steps, p.field())
		case r == '+' || r == '-' || unicode.IsDigit(r):
			step, err := p.number()
			if err != nil {
				return nil, err
			}
			steps = append(steps, step)
		case isJSONPathWord(r):
			switch name := p.word(false); name {
			case "true", "false":
				steps = append(steps, literalStep{name == "true"})
			case "range", "end":
				return nil, fmt.Errorf("%s is not supported here: an image's JSONPath has no loops", name)
			default:
				steps = append(steps, identifierStep(name))
			}
		default:
			return nil, fmt.Errorf("unrecognized character in action: %#U", r)
		}
	}
}

// field is .name (the '.' read): a key, with its escapes removed, or * for every value.
func (p *jsonPathParser) field() jsonStep {
	name := p.word(true)
	if name == "*" {
		return wildcardStep{}
	}
	return fieldStep(strings.ReplaceAll(name, `\`, ""))
}

func (p *jsonPathParser) number() (jsonStep, error) {
	start := p.pos
	if r, _ := p.runeAt(); r == '+' || r == '-' {
		p.pos++
	}
	for {
		r, width := p.runeAt()
		if width == 0 || (r != '.' && !unicode.IsDigit(r)) {
			break
		}
		p.pos += width
	}
	text := p.input[start:p.pos]
	if n, err := strconv.Atoi(text); err == nil {
		return literalStep{int64(n)}, nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return literalStep{f}, nil
	}
	return nil, fmt.Errorf("cannot parse number %s", text)
}

// quoted is a string in single or double quotes, with Go's escapes.
func (p *jsonPathParser) quoted(quote rune) (jsonStep, error) {
	start := p.pos
	p.pos++
	for {
		r, width := p.runeAt()
		if width == 0 || r == '\n' {
			return nil, errors.New("unterminated quoted string")
		}
		p.pos += width
		if r == quote && p.input[p.pos-width-1] != '\\' {
			break
		}
	}
	text := p.input[start:p.pos]
	unquoted, err := unquoteJSONPath(text, byte(quote))
	if err != nil {
		return nil, fmt.Errorf("unquote string %s error %v", text, err)
	}
	return literalStep{unquoted}, nil
}

func unquoteJSONPath(text string, quote byte) (string, error) {
	inner := text[1 : len(text)-1]
	var out strings.Builder
	for inner != "" {
		r, multibyte, tail, err := strconv.UnquoteChar(inner, quote)
		if err != nil {
			return "", err
		}
		if r < utf8.RuneSelf || !multibyte {
			out.WriteByte(byte(r))
		} else {
			out.WriteRune(r)
		}
		inner = tail
	}
	return out.String(), nil
}

var (
	jsonPathKey   = regexp.MustCompile(`^'([^']*)'$`)
	jsonPathSlice = regexp.MustCompile(`^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$`)
)

// array is what is between [ and ]: a union of several, a quoted key, or an index or slice.
func (p *jsonPathParser) array() ([]jsonStep, error) {
	end := strings.IndexAny(p.input[p.pos:], "]\n")
	if end < 0 || p.input[p.pos+end] == '\n' {
		return nil, errors.New("unterminated array")
	}
	inner := p.input[p.pos+1 : p.pos+end]
	p.pos += end + 1
	if inner == "*" {
		inner = ":"
	}
	if members := strings.Split(inner, ","); len(members) > 1 {
		var union unionStep
		for _, member := range members {
			steps, err := parseJSONPathAction("[" + strings.Trim(member, " ") + "]")
			if err != nil {
				return nil, err
			}
			union = append(union, steps)
		}
		return []jsonStep{union}, nil
	}
	if key := jsonPathKey.FindStringSubmatch(inner); key != nil {
		return parseJSONPathAction("." + key[1])
	}
	bounds := jsonPathSlice.FindStringSubmatch(inner)
	if bounds == nil {
		return nil, fmt.Errorf("invalid array index %s", inner)
	}
	var slice sliceStep
	for i, bound := range bounds[1:] {
		if i > 0 {
			bound = strings.TrimPrefix(bound, ":")
		}
		switch {
		case bound != "":
			n, err := strconv.Atoi(bound)
			if err != nil {
				return nil, fmt.Errorf("array index %s is not a number", bound)
			}
			slice[i] = sliceBound{known: true, value: n}
		case i == 1 && bounds[2] == "":
			// [n] alone is the slice [n:n+1].
			slice[i] = sliceBound{known: true, value: slice[0].value + 1, derived: true}
		}
	}
	return []jsonStep{slice}, nil
}

// parseJSONPathAction is the steps of text read as the inside of one action.
func parseJSONPathAction(text string) ([]jsonStep, error) {
	p := &jsonPathParser{input: text + "}"}
	return p.action()
}

var jsonPathComparison = regexp.MustCompile(`^([^!<>=]+)([!<>=]+)(.+?)$`)

// filter is [?(...)]: the ')' that ends it is the first outside a quoted string.
func (p *jsonPathParser) filter() (jsonStep, error) {
	p.pos += len("[?(")
	start := p.pos
	var quote rune
	opened, closed := false, false
	for {
		r, width := p.runeAt()
		if width == 0 || r == '\n' {
			return nil, errors.New("unterminated filter")
		}
		p.pos += width
		if r == '"' || r == '\'' {
			if !opened {
				opened, quote = true, r
			} else if r == quote && p.input[p.pos-width-1] != '\\' {
				closed = true
			}
		} else if r == ')' && opened == closed {
			break
		}
	}
	if r, _ := p.runeAt(); r != ']' {
		return nil, errors.New("unclosed array expect ]")
	}
	inner := p.input[start : p.pos-1]
	p.pos++
	comparison := jsonPathComparison.FindStringSubmatch(inner)
	if comparison == nil {
		left, err := parseJSONPathAction(inner)
		if err != nil {
			return nil, err
		}
		return filterStep{left: left, operator: "exists"}, nil
	}
	left, err := parseJSONPathAction(comparison[1])
	if err != nil {
		return nil, err
	}
	right, err := parseJSONPathAction(comparison[3])
	if err != nil {
		return nil, err
	}
	return filterStep{left: left, right: right, operator: comparison[2]}, nil
}

// The steps.

// fieldStep is a map's value at a key. A value that is no map has none; when no value has
// one, the key is not found.
type fieldStep string

func (s fieldStep) apply(values []any) ([]any, error) {
	if len(values) == 0 {
		return nil, nil
	}
	var found []any
	for _, value := range values {
		if object, ok := value.(map[string]any); ok {
			if item, present := object[string(s)]; present {
				found = append(found, item)
			}
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s is not found", string(s))
	}
	return found, nil
}

// children are a map's values (by key), a list's items, or a string's bytes.
func children(value any) []any {
	var items []any
	switch v := value.(type) {
	case map[string]any:
		for _, key := range sortedKeys(v) {
			items = append(items, v[key])
		}
	case []any:
		items = append(items, v...)
	case string:
		for i := 0; i < len(v); i++ {
			items = append(items, v[i])
		}
	}
	return items
}

// wildcardStep is every value below each value: * and [*] of a map.
type wildcardStep struct{}

func (wildcardStep) apply(values []any) ([]any, error) {
	var found []any
	for _, value := range values {
		found = append(found, children(value)...)
	}
	return found, nil
}

// recursiveStep is each value that holds others, and everything below it, depth first.
type recursiveStep struct{}

func (s recursiveStep) apply(values []any) ([]any, error) {
	var found []any
	for _, value := range values {
		below := children(value)
		if len(below) == 0 {
			continue
		}
		deeper, _ := s.apply(below)
		found = append(append(found, value), deeper...)
	}
	return found, nil
}

// sliceBound is one of [start:end:step]: given or not, and for end, whether [n] implied it.
type sliceBound struct {
	known, derived bool
	value          int
}

// sliceStep is [start:end:step] of each list, negative indexes counting from its end.
type sliceStep [3]sliceBound

func (s sliceStep) apply(values []any) ([]any, error) {
	var found []any
	for _, value := range values {
		if value == nil {
			continue
		}
		items, ok := value.([]any)
		if !ok {
			return nil, fmt.Errorf("%T is not array or slice", value)
		}
		length := len(items)
		start, end := 0, length
		if s[0].known {
			start = s[0].value
		}
		if start < 0 {
			start += length
		}
		if s[1].known {
			end = s[1].value
			if end < 0 || (end == 0 && s[1].derived) {
				end += length
			}
		}
		if start == end {
			// Nothing asked for: as Kubernetes does, the values left are not looked at either.
			return found, nil
		}
		switch {
		case start < 0 || start >= length:
			return nil, fmt.Errorf("array index out of bounds: index %d, length %d", start, length)
		case end < 0 || end > length:
			return nil, fmt.Errorf("array index out of bounds: index %d, length %d", end-1, length)
		case start > end:
			return nil, fmt.Errorf("starting index %d is greater than ending index %d", start, end)
		}
		step := 1
		if s[2].known {
			if s[2].value <= 0 {
				return nil, errors.New("step must be > 0")
			}
			step = s[2].value
		}
		for i := start; i < end; i += step {
			found = append(found, items[i])
		}
	}
	return found, nil
}

// unionStep is the values of each of its members, in turn.
type unionStep [][]jsonStep

func (s unionStep) apply(values []any) ([]any, error) {
	var found []any
	for _, member := range s {
		more, err := applySteps(member, values)
		if err != nil {
			return nil, err
		}
		found = append(found, more...)
	}
	return found, nil
}

// literalStep is a value written in the action: a string once, a number or a bool once for each
// value at hand.
type literalStep struct{ value any }

func (s literalStep) apply(values []any) ([]any, error) {
	if _, ok := s.value.(string); ok {
		return []any{s.value}, nil
	}
	found := make([]any, len(values))
	for i := range values {
		found[i] = s.value
	}
	return found, nil
}

// identifierStep is a word that is no keyword.
type identifierStep string

func (s identifierStep) apply([]any) ([]any, error) {
	return nil, fmt.Errorf("unrecognized identifier %s", string(s))
}

// filterStep keeps the items of each list (or the values of each map) for which the comparison
// holds, or, for "exists", whose left side finds anything.
type filterStep struct {
	left, right []jsonStep
	operator    string
}

func (s filterStep) apply(values []any) ([]any, error) {
	var found []any
	for _, value := range values {
		var items []any
		switch value.(type) {
		case []any, map[string]any:
			items = children(value)
		default:
			return nil, fmt.Errorf("%v is not array, slice or map and cannot be filtered", value)
		}
		for _, item := range items {
			lefts, err := applySteps(s.left, []any{item})
			if s.operator == "exists" {
				if len(lefts) > 0 {
					found = append(found, item)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			left, ok, err := oneValue(lefts)
			if !ok || err != nil {
				return nil, err
			}
			rights, err := applySteps(s.right, []any{item})
			if err != nil {
				return nil, err
			}
			right, ok, err := oneValue(rights)
			if !ok || err != nil {
				return nil, err
			}
			pass, err := compareJSON(s.operator, left, right)
			if err != nil {
				return nil, err
			}
			if pass {
				found = append(found, item)
			}
		}
	}
	return found, nil
}

// oneValue is the one value a side of a comparison found: none skips the item, more is an error.
func oneValue(values []any) (any, bool, error) {
	switch len(values) {
	case 0:
		return nil, false, nil
	case 1:
		return values[0], true, nil
	}
	return nil, false, errors.New("can only compare one element at a time")
}

// jsonScalar is a value as a filter compares it: of one class (bool, int, uint, float, string).
type jsonScalar struct {
	class string
	b     bool
	i     int64
	u     uint64
	f     float64
	s     string
}

var (
	errComparisonType = errors.New("invalid type for comparison")
	errComparison     = errors.New("incompatible types for comparison")
)

func scalarOf(value any) (jsonScalar, error) {
	switch v := value.(type) {
	case bool:
		return jsonScalar{class: "bool", b: v}, nil
	case int64:
		return jsonScalar{class: "int", i: v}, nil
	case uint8:
		return jsonScalar{class: "uint", u: uint64(v)}, nil
	case float64:
		return jsonScalar{class: "float", f: v}, nil
	case string:
		return jsonScalar{class: "string", s: v}, nil
	}
	return jsonScalar{}, errComparisonType
}

// compareJSON is Go templates' comparison, which Kubernetes' JSONPath uses: values of one class,
// or a signed and an unsigned integer; only == and != for bools.
func compareJSON(operator string, left, right any) (bool, error) {
	a, err := scalarOf(left)
	if err != nil {
		return false, err
	}
	b, err := scalarOf(right)
	if err != nil {
		return false, err
	}
	equal := func() (bool, error) {
		switch {
		case a.class == "int" && b.class == "uint":
			return a.i >= 0 && uint64(a.i) == b.u, nil
		case a.class == "uint" && b.class == "int":
			return b.i >= 0 && a.u == uint64(b.i), nil
		case a.class != b.class:
			return false, errComparison
		}
		return a == b, nil
	}
	less := func() (bool, error) {
		switch {
		case a.class == "int" && b.class == "uint":
			return a.i < 0 || uint64(a.i) < b.u, nil
		case a.class == "uint" && b.class == "int":
			return b.i >= 0 && a.u < uint64(b.i), nil
		case a.class != b.class:
			return false, errComparison
		}
		switch a.class {
		case "int":
			return a.i < b.i, nil
		case "uint":
			return a.u < b.u, nil
		case "float":
			return a.f < b.f, nil
		case "string":
			return a.s < b.s, nil
		}
		return false, errComparisonType
	}
	lessOrEqual := func() (bool, error) {
		if lt, err := less(); lt || err != nil {
			return lt, err
		}
		return equal()
	}
	switch operator {
	case "==":
		return equal()
	case "!=":
		eq, err := equal()
		return !eq, err
	case "<":
		return less()
	case "<=":
		return lessOrEqual()
	case ">":
		le, err := lessOrEqual()
		return !le && err == nil, err
	case ">=":
		lt, err := less()
		return !lt && err == nil, err
	}
	return false, fmt.Errorf("unrecognized filter operator %s", operator)
}
