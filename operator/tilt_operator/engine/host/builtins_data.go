package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/alessio/shellescape"
	"github.com/google/shlex"
	"go.starlark.net/starlark"
	"gopkg.in/yaml.v3"
)

// Tilt's file and data builtins: read_file (a blob), watch_file, listdir, blob, the JSON and YAML
// readers, decoders and encoders, shlex. Every path is relative to the file executing now and
// confined to the run's root; every file read (or listed recursively) is one the run depends
// on, so changing it runs the Tiltfile again.

func (r *run) addData(add func(string, builtinFunc)) {
	add("blob", builtinBlob)
	add("read_file", r.builtinReadFile)
	add("watch_file", r.builtinWatchFile)
	add("listdir", r.builtinListdir)
	add("read_json", r.reader("read_json", decodeJSON))
	add("read_yaml", r.reader("read_yaml", decodeYAML))
	add("read_yaml_stream", r.reader("read_yaml_stream", decodeYAMLStream))
	add("decode_json", decoder(decodeJSON))
	add("decode_yaml", decoder(decodeYAML))
	add("decode_yaml_stream", decoder(decodeYAMLStream))
	add("encode_json", encoder(encodeJSON))
	add("encode_yaml", encoder(encodeYAML))
	add("encode_yaml_stream", builtinEncodeYAMLStream)
	add("shlex.quote", builtinShlexQuote)
	add("shlex.split", builtinShlexSplit)
}

// blob is Tilt's blob: text that prints as itself but is not a string (str() makes it one).
type blob string

var _ starlark.Value = blob("")

func (b blob) String() string        { return string(b) }
func (b blob) Type() string          { return "blob" }
func (b blob) Freeze()               {}
func (b blob) Truth() starlark.Bool  { return len(b) > 0 }
func (b blob) Hash() (uint32, error) { return starlark.String(b).Hash() }

// textOf is a string or a blob's text, as Tilt's builtins accept either.
func textOf(value starlark.Value) (string, bool) {
	switch v := value.(type) {
	case starlark.String:
		return string(v), true
	case blob:
		return string(v), true
	}
	return "", false
}

func builtinBlob(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var input string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "input", &input); err != nil {
		return nil, err
	}
	return blob(input), nil
}

// localPath is a path argument resolved as Tilt resolves it and confined to the run's root;
// a refusal shows the path as written, joined to the directory it is relative to.
func (r *run) localPath(thread *starlark.Thread, what, path string) (string, error) {
	if !filepath.IsAbs(path) {
		path = currentDir(thread) + "/" + path
	}
	return confine(path, thread.Local(localRoot).(string), what)
}

// readConfined reads a confined file and records it as read (also when it does not exist:
// creating it changes the run). A missing file is (nil, nil).
func (r *run) readConfined(thread *starlark.Thread, what, path string) ([]byte, string, error) {
	target, err := r.localPath(thread, what, path)
	if err != nil {
		return nil, "", err
	}
	r.recordFile(target)
	data, err := os.ReadFile(target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, target, nil
	case err != nil:
		return nil, target, fmt.Errorf("%s: cannot read %s: %s", what, target, reason(err))
	}
	return data, target, nil
}

// builtinReadFile is Tilt's read_file(path, default=None) -> blob.
func (r *run) builtinReadFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var fallback starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
		return nil, err
	}
	data, target, err := r.readConfined(thread, "read_file", path)
	if err != nil {
		return nil, err
	}
	if data == nil {
		if fallback == starlark.None {
			return nil, fmt.Errorf("read_file: %s does not exist", target)
		}
		text, ok := textOf(fallback)
		if !ok {
			return nil, fmt.Errorf("read_file: default must be a string, got %s", fallback.Type())
		}
		return blob(text), nil
	}
	return blob(data), nil
}

// builtinWatchFile is Tilt's watch_file(path): the run depends on it without reading it.
func (r *run) builtinWatchFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path); err != nil {
		return nil, err
	}
	target, err := r.localPath(thread, "watch_file", path)
	if err != nil {
		return nil, err
	}
	r.recordFile(target)
	return starlark.None, nil
}

// builtinListdir is Tilt's listdir(dir, recursive=False): the files (not directories) in dir,
// absolute, sorted; recursive also lists the files of every subdirectory.
func (r *run) builtinListdir(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var dir string
	var recursive bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "dir", &dir, "recursive?", &recursive); err != nil {
		return nil, err
	}
	root, err := r.localPath(thread, "listdir", dir)
	if err != nil {
		return nil, err
	}
	var files []starlark.Value
	err = filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		if entry.IsDir() {
			if !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		files = append(files, starlark.String(path))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listdir: %s: %s", root, reason(err))
	}
	return starlark.NewList(files), nil
}

type decodeFunc func(text string) (starlark.Value, error)

// reader is read_json / read_yaml / read_yaml_stream(path, default=None).
func (r *run) reader(name string, decode decodeFunc) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var path string
		var fallback starlark.Value = starlark.None
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &path, "default?", &fallback); err != nil {
			return nil, err
		}
		data, target, err := r.readConfined(thread, name, path)
		if err != nil {
			return nil, err
		}
		if data == nil {
			if fallback != starlark.None {
				return fallback, nil
			}
			return nil, fmt.Errorf("%s: %s does not exist", name, target)
		}
		value, err := decode(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", name, target, err)
		}
		return value, nil
	}
}

func decoder(decode decodeFunc) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var input starlark.Value
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "input", &input); err != nil {
			return nil, err
		}
		text, ok := textOf(input)
		if !ok {
			return nil, fmt.Errorf("%s: input must be a string or a blob, got %s", fn.Name(), input.Type())
		}
		value, err := decode(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", fn.Name(), err)
		}
		return value, nil
	}
}

func encoder(encode func(any) (string, error)) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var obj starlark.Value
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "obj", &obj); err != nil {
			return nil, err
		}
		value, err := toGo(obj, "obj")
		if err != nil {
			return nil, fmt.Errorf("%s: %v", fn.Name(), err)
		}
		text, err := encode(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", fn.Name(), err)
		}
		return blob(text), nil
	}
}

func builtinEncodeYAMLStream(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var objs *starlark.List
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "objs", &objs); err != nil {
		return nil, err
	}
	documents := make([]string, objs.Len())
	for i := range documents {
		value, err := toGo(objs.Index(i), fmt.Sprintf("objs[%d]", i))
		if err == nil {
			documents[i], err = encodeYAML(value)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", fn.Name(), err)
		}
	}
	return blob(strings.Join(documents, "---\n")), nil
}

func decodeJSON(text string) (starlark.Value, error) {
	decoder := json.NewDecoder(strings.NewReader(text))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	return toStarlark(normalizeNumbers(value)), nil
}

func encodeJSON(value any) (string, error) {
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	encoder.SetIndent("", "  ")
	err := encoder.Encode(value)
	return out.String(), err
}

func decodeYAML(text string) (starlark.Value, error) {
	var value any
	if err := yaml.Unmarshal([]byte(text), &value); err != nil {
		return nil, err
	}
	return toStarlark(normalizeNumbers(value)), nil
}

func decodeYAMLStream(text string) (starlark.Value, error) {
	decoder := yaml.NewDecoder(strings.NewReader(text))
	var documents []starlark.Value
	for {
		var value any
		err := decoder.Decode(&value)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if value != nil { // empty documents between separators are skipped, as Tilt does
			documents = append(documents, toStarlark(normalizeNumbers(value)))
		}
	}
	return starlark.NewList(documents), nil
}

func encodeYAML(value any) (string, error) {
	var out bytes.Buffer
	encoder := yaml.NewEncoder(&out)
	encoder.SetIndent(2)
	if err := encoder.Encode(value); err != nil {
		return "", err
	}
	return out.String(), encoder.Close()
}

// normalizeNumbers turns decoded numbers into int64 or float64 and YAML's map[any]any keys into
// strings, the values toStarlark takes.
func normalizeNumbers(value any) any {
	switch v := value.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case int:
		return int64(v)
	case uint64:
		return float64(v)
	case map[string]any:
		for key, item := range v {
			v[key] = normalizeNumbers(item)
		}
	case map[any]any:
		converted := make(map[string]any, len(v))
		for key, item := range v {
			converted[fmt.Sprint(key)] = normalizeNumbers(item)
		}
		return converted
	case []any:
		for i, item := range v {
			v[i] = normalizeNumbers(item)
		}
	}
	return value
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
