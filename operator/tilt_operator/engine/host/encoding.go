package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"go.starlark.net/starlark"
	"sigs.k8s.io/yaml"
)

// Tilt's JSON and YAML builtins. YAML is read as Tilt reads it: a stream is cut into documents
// the way Kubernetes' YAML reader cuts it, and each document goes through sigs.k8s.io/yaml
// (YAML 1.1, so `yes` is true, then JSON), numbers staying integers where they are whole. JSON
// numbers are integers unless written with a dot. encode_json returns a string, encode_yaml and
// encode_yaml_stream a blob, as in Tilt.

func (r *run) addEncoding(add func(string, builtinFunc)) {
	add("read_json", r.builtinReadJSON)
	add("read_yaml", r.builtinReadYAML)
	add("read_yaml_stream", r.builtinReadYAMLStream)
	add("decode_json", textDecoder("json", func(text string) (starlark.Value, error) { return decodeJSON(text, "") }))
	add("decode_yaml", textDecoder("yaml", func(text string) (starlark.Value, error) { return decodeYAML(text, "") }))
	add("decode_yaml_stream", textDecoder("yaml", func(text string) (starlark.Value, error) { return decodeYAMLStream(text, "") }))
	add("encode_json", builtinEncodeJSON)
	add("encode_yaml", builtinEncodeYAML)
	add("encode_yaml_stream", builtinEncodeYAMLStream)
}

// builtinReadJSON is Tilt's read_json(paths, default=None): the default, None included, when
// given and the file does not exist.
func (r *run) builtinReadJSON(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path pathArgument
	var fallback starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
		return nil, err
	}
	data, target, err := r.readFile(thread, fn.Name(), path.path)
	if errors.Is(err, fs.ErrNotExist) && fallback != nil {
		return fallback, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeJSON(string(data), target)
}

// builtinReadYAML is Tilt's read_yaml(paths, default=None): one document (a stream is an error).
func (r *run) builtinReadYAML(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var fallback starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
		return nil, err
	}
	data, _, err := r.readFile(thread, fn.Name(), path)
	if errors.Is(err, fs.ErrNotExist) && fallback != nil {
		return fallback, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeYAML(string(data), path)
}

// builtinReadYAMLStream is Tilt's read_yaml_stream(paths, default=None): a list of documents; the
// default must be a list.
func (r *run) builtinReadYAMLStream(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var fallback *starlark.List
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
		return nil, err
	}
	data, _, err := r.readFile(thread, fn.Name(), path)
	if errors.Is(err, fs.ErrNotExist) && fallback != nil {
		return fallback, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeYAMLStream(string(data), path)
}

// textDecoder is decode_json(json) / decode_yaml(yaml) / decode_yaml_stream(yaml): text, or a blob.
func textDecoder(parameter string, decode func(string) (starlark.Value, error)) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var input stringable
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, parameter, &input); err != nil {
			return nil, err
		}
		return decode(input.text)
	}
}

// decodeJSON is one JSON value; source names where it came from in errors ("" for a string).
func decodeJSON(text, source string) (starlark.Value, error) {
	decoder := json.NewDecoder(strings.NewReader(text))
	decoder.UseNumber()
	var decoded any
	if err := decoder.Decode(&decoded); err != nil {
		return nil, sourced(err, "error parsing JSON", source)
	}
	if decoder.More() {
		return nil, sourced(errors.New("found multiple JSON values"), "error parsing JSON", source)
	}
	value, err := dataToStarlark(decoded)
	if err != nil {
		return nil, sourced(err, "error converting JSON to Starlark", source)
	}
	return value, nil
}

// decodeYAML is a stream that must hold one document at most: none is None.
func decodeYAML(text, source string) (starlark.Value, error) {
	documents, err := decodeYAMLStream(text, source)
	if err != nil {
		return nil, err
	}
	switch documents.Len() {
	case 0:
		return starlark.None, nil
	case 1:
		return documents.Index(0), nil
	}
	return nil, errors.New("expected a yaml document but found a yaml stream (documents separated by `---`). " +
		"use decode_yaml_stream instead to decode a yaml stream")
}

// decodeYAMLStream is every document of a stream that is not empty.
func decodeYAMLStream(text, source string) (*starlark.List, error) {
	documents, err := yamlDocuments(text)
	if err != nil {
		return nil, sourced(err, "error reading YAML stream", source)
	}
	values := []starlark.Value{}
	for _, document := range documents {
		decoded, err := decodeYAMLDocument(document)
		if err != nil {
			return nil, sourced(err, "error parsing YAML", source)
		}
		value, err := dataToStarlark(decoded)
		if err != nil {
			return nil, sourced(err, "error converting YAML to Starlark", source)
		}
		if value != starlark.None {
			values = append(values, value)
		}
	}
	return starlark.NewList(values), nil
}

// yamlDocuments cuts a stream as Kubernetes' YAML reader does: line by line (a CRLF ends a line as
// LF does), at each line that starts with "---" and has at most a comment after it. A separator
// met before any line of a document stays in it.
func yamlDocuments(text string) ([]string, error) {
	var documents []string
	var current strings.Builder
	lines := bufio.NewReader(strings.NewReader(text))
	for {
		line, err := lines.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			break
		}
		if complete := strings.HasSuffix(line, "\n"); complete {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		}
		if rest, found := strings.CutPrefix(line, "---"); found {
			if after := strings.TrimSpace(rest); after != "" && after[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", after)
			}
			if current.Len() > 0 {
				documents = append(documents, current.String())
				current.Reset()
				continue
			}
		}
		current.WriteString(line + "\n")
	}
	if current.Len() > 0 {
		documents = append(documents, current.String())
	}
	return documents, nil
}

// decodeYAMLDocument is one YAML document as JSON-shaped data, as sigs.k8s.io/yaml reads it for
// Tilt: numbers kept exact (yamlNumbers), null for an empty document.
func decodeYAMLDocument(document string) (any, error) {
	var decoded any
	err := yaml.Unmarshal([]byte(document), &decoded, func(d *json.Decoder) *json.Decoder {
		d.UseNumber()
		return d
	})
	if err != nil {
		return nil, err
	}
	return yamlNumbers(decoded)
}

// yamlNumbers makes each number of a decoded YAML document an int64 when it is whole and fits,
// else a float64, as Kubernetes' YAML decoding does.
func yamlNumbers(value any) (any, error) {
	var err error
	switch v := value.(type) {
	case json.Number:
		if n, intErr := v.Int64(); intErr == nil {
			return n, nil
		}
		return v.Float64()
	case map[string]any:
		for key, item := range v {
			if v[key], err = yamlNumbers(item); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, item := range v {
			if v[i], err = yamlNumbers(item); err != nil {
				return nil, err
			}
		}
	}
	return value, nil
}

// sourced says what failed, and where the text came from when it came from a file.
func sourced(err error, what, source string) error {
	if source != "" {
		what += " from " + source
	}
	return fmt.Errorf("%s: %w", what, err)
}

func builtinEncodeJSON(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var obj starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "obj", &obj); err != nil {
		return nil, err
	}
	data, err := starlarkToData(obj)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(data); err != nil {
		return nil, fmt.Errorf("error serializing object to json: %w", err)
	}
	return starlark.String(out.String()), nil
}

func builtinEncodeYAML(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var obj starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "obj", &obj); err != nil {
		return nil, err
	}
	text, err := encodeYAML(obj)
	if err != nil {
		return nil, err
	}
	return blob{text, sourceEncodeYAML}, nil
}

func builtinEncodeYAMLStream(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var objs *starlark.List
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "objs", &objs); err != nil {
		return nil, err
	}
	documents := make([]string, objs.Len())
	for i := range documents {
		text, err := encodeYAML(objs.Index(i))
		if err != nil {
			return nil, err
		}
		documents[i] = text
	}
	return blob{strings.Join(documents, "---\n"), sourceEncodeYAMLStream}, nil
}

func encodeYAML(obj starlark.Value) (string, error) {
	data, err := starlarkToData(obj)
	if err != nil {
		return "", err
	}
	text, err := yaml.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("error serializing object to yaml: %w", err)
	}
	return string(text), nil
}

// starlarkToData is a value as the encoders take it: what JSON can say (a list, not a tuple; a
// dict with string keys, not a struct). An int beyond 64 bits keeps its low 64, as in Tilt.
func starlarkToData(value starlark.Value) (any, error) {
	data, err := toData(value)
	if err != nil {
		return nil, fmt.Errorf("error converting object from starlark: %w", err)
	}
	return data, nil
}

func toData(value starlark.Value) (any, error) {
	switch v := value.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.String:
		return string(v), nil
	case starlark.Int:
		return v.BigInt().Int64(), nil
	case starlark.Float:
		return float64(v), nil
	case *starlark.List:
		items := make([]any, v.Len())
		for i := range items {
			item, err := toData(v.Index(i))
			if err != nil {
				return nil, err
			}
			items[i] = item
		}
		return items, nil
	case *starlark.Dict:
		entries := make(map[string]any, v.Len())
		for _, item := range v.Items() {
			key, err := toData(item[0])
			if err != nil {
				return nil, err
			}
			text, ok := key.(string)
			if !ok {
				return nil, fmt.Errorf("only string keys are supported in maps. found key '%s' of type %T", item[0], key)
			}
			if entries[text], err = toData(item[1]); err != nil {
				return nil, err
			}
		}
		return entries, nil
	}
	return nil, fmt.Errorf("unable to convert from starlark value, unsupported type %s", tiltTypeName(value))
}

// dataToStarlark is decoded JSON or YAML as Starlark values; a JSON number is a float when it is
// written with a dot, else an int (an error when it is not one, as in Tilt).
func dataToStarlark(data any) (starlark.Value, error) {
	switch v := data.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(v), nil
	case string:
		return starlark.String(v), nil
	case int64:
		return starlark.MakeInt64(v), nil
	case float64:
		return starlark.Float(v), nil
	case json.Number:
		if strings.Contains(v.String(), ".") {
			f, err := v.Float64()
			return starlark.Float(f), err
		}
		n, err := v.Int64()
		return starlark.MakeInt64(n), err
	case []any:
		items := make([]starlark.Value, len(v))
		for i, item := range v {
			value, err := dataToStarlark(item)
			if err != nil {
				return nil, err
			}
			items[i] = value
		}
		return starlark.NewList(items), nil
	case map[string]any:
		dict := starlark.NewDict(len(v))
		for _, key := range sortedKeys(v) {
			value, err := dataToStarlark(v[key])
			if err != nil {
				return nil, err
			}
			_ = dict.SetKey(starlark.String(key), value)
		}
		return dict, nil
	}
	return nil, fmt.Errorf("Unable to convert to starlark value, unexpected type %T", data)
}
