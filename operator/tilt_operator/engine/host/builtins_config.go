package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.starlark.net/starlark"
)

// Tilt's config module: settings defined by the Tiltfile, then parsed from the run's args (the
// Extension's spec.args) exactly as Tilt parses `tilt up -- ARGS` (pflag: --name value,
// --name=value, --bool; positional args go to the setting defined with args=True) and from
// tilt_config.json beside the Tiltfile, args winning. parse() returns only the settings given.

// tiltSubcommand is what config.tilt_subcommand says: the operator runs Tiltfiles as `tilt up` does.
const tiltSubcommand = "up"

// configFileName is Tilt's settings file, read from the directory of the file calling parse().
const configFileName = "tilt_config.json"

type configValue interface {
	pflag.Value
	starlark() starlark.Value
	setFromJSON(any) error
	isSet() bool
}

type configDefinition struct {
	make  func() configValue
	usage string
}

// configState is one run's definitions, in the order they were made.
type configState struct {
	definitions map[string]configDefinition
	order       []string
	positional  string
	parsed      bool
	parsedFrom  string
}

func (r *run) addConfig(add func(string, builtinFunc), names namespace) {
	names.add("config.main_path", starlark.String(r.req.Path))
	names.add("config.main_dir", starlark.String(filepath.Dir(r.req.Path)))
	names.add("config.tilt_subcommand", starlark.String(tiltSubcommand))
	add("config.define_string", r.defineSetting(func() configValue { return &stringSetting{} }))
	add("config.define_bool", r.defineSetting(func() configValue { return &boolSetting{} }))
	add("config.define_string_list", r.defineSetting(func() configValue { return &stringListSetting{} }))
	add("config.define_object", r.defineSetting(func() configValue { return &objectSetting{} }))
	add("config.parse", r.builtinConfigParse)
	add("config.set_enabled_resources", r.builtinSetEnabledResources)
	add("config.clear_enabled_resources", r.builtinClearEnabledResources)
}

func (r *run) defineSetting(make func() configValue) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, usage string
		var positional bool
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "args?", &positional, "usage?", &usage); err != nil {
			return nil, err
		}
		state := &r.config
		switch {
		case name == "":
			return nil, errors.New("'name' is required")
		case state.parsed:
			return nil, fmt.Errorf("%s cannot be called after config.parse is called", fn.Name())
		case state.definitions[name].make != nil:
			return nil, fmt.Errorf("%s defined multiple times", name)
		case positional && state.positional != "":
			return nil, fmt.Errorf("both %s and %s are defined as positional args", name, state.positional)
		}
		if positional {
			state.positional = name
		}
		if state.definitions == nil {
			state.definitions = map[string]configDefinition{}
		}
		state.definitions[name] = configDefinition{make: make, usage: usage}
		state.order = append(state.order, name)
		return starlark.None, nil
	}
}

// builtinConfigParse is Tilt's config.parse(): the settings given, from tilt_config.json beside the
// file calling it and from the run's args, args winning. What pflag prints (the usage, for --help)
// goes to the run's log, as in Tilt.
func (r *run) builtinConfigParse(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	dir := currentDir(thread)
	state := &r.config
	if state.parsed && state.parsedFrom != dir {
		return nil, fmt.Errorf("%s can only be called from one Tiltfile working directory per run. It was called from %s and %s",
			fn.Name(), state.parsedFrom, dir)
	}
	state.parsed, state.parsedFrom = true, dir
	settings, err := r.configFromFile(thread, filepath.Join(dir, configFileName))
	if err != nil {
		return nil, err
	}
	fromArgs, printed, err := state.parseArgs(r.req.Args)
	if printed != "" {
		r.print(thread, printed)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid Tiltfile config args: %v", err)
	}
	for name, value := range fromArgs {
		if value.isSet() {
			settings[name] = value
		}
	}
	result := starlark.NewDict(len(settings))
	for _, name := range state.order {
		if value, ok := settings[name]; ok {
			_ = result.SetKey(starlark.String(name), value.starlark())
		}
	}
	return result, nil
}

// parseArgs reads args as Tilt does, with pflag, and returns what pflag printed.
func (c *configState) parseArgs(args []string) (map[string]configValue, string, error) {
	flags := pflag.NewFlagSet("", pflag.ContinueOnError)
	var printed bytes.Buffer
	flags.SetOutput(&printed)
	values := map[string]configValue{}
	for _, name := range c.order {
		values[name] = c.definitions[name].make()
		if name == c.positional {
			continue
		}
		flags.Var(values[name], name, c.definitions[name].usage)
		if _, ok := values[name].(*boolSetting); ok {
			flags.Lookup(name).NoOptDefVal = "true" // --foo is --foo=true
		}
	}
	if err := flags.Parse(args); err != nil {
		if usage := flags.FlagUsagesWrapped(80); strings.TrimSpace(usage) != "" {
			return nil, printed.String(), fmt.Errorf("%v\nUsage:\n%s", err, usage)
		}
		return nil, printed.String(), err
	}
	if rest := flags.Args(); len(rest) > 0 {
		if c.positional == "" {
			return nil, printed.String(), fmt.Errorf("positional CLI args (%q) were specified, but none were expected.\n"+
				"See https://docs.tilt.dev/tiltfile_config.html#positional-arguments for examples.", strings.Join(rest, " "))
		}
		for _, arg := range rest {
			if err := values[c.positional].Set(arg); err != nil {
				return nil, printed.String(), fmt.Errorf("invalid positional args (%s): %v", c.positional, err)
			}
		}
	}
	return values, printed.String(), nil
}

// configFromFile reads tilt_config.json (a run depends on it, present or not), confined to the
// run's root like every other read: a symlink there that leads out of the repo is refused.
func (r *run) configFromFile(thread *starlark.Thread, path string) (map[string]configValue, error) {
	settings := map[string]configValue{}
	data, target, err := r.readFile(thread, "config.parse", path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return settings, nil
	case err != nil && target != "":
		return nil, fmt.Errorf("error opening %s: %w", target, err)
	case err != nil:
		return nil, err
	}
	path = target
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("error parsing json from %s: %v", path, err)
	}
	for _, name := range sortedKeys(raw) {
		definition, ok := r.config.definitions[name]
		if !ok {
			return nil, fmt.Errorf("%s specified unknown setting name '%s'", path, name)
		}
		value := definition.make()
		if err := value.setFromJSON(raw[name]); err != nil {
			return nil, fmt.Errorf("%s specified invalid value for setting %s: %v", path, name, err)
		}
		settings[name] = value
	}
	return settings, nil
}

// Tilt's resource selection has no counterpart here (every Cmd of a Tiltfile runs), so
// set_enabled_resources(resources) and clear_enabled_resources() are checked as Tilt checks them
// and said in the run's log.
func (r *run) builtinSetEnabledResources(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var resources starlark.Sequence
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "resources", &resources); err != nil {
		return nil, err
	}
	iter := resources.Iterate()
	defer iter.Done()
	var item starlark.Value
	for iter.Next(&item) {
		if _, ok := item.(starlark.String); !ok {
			return nil, fmt.Errorf("resources must be a list of string: '%v' is a %T, not a string", item, item)
		}
	}
	r.warn(fmt.Sprintf("%s has no effect here: every resource of a Tiltfile runs", fn.Name()))
	return starlark.None, nil
}

func (r *run) builtinClearEnabledResources(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	r.warn(fmt.Sprintf("%s has no effect here: every resource of a Tiltfile runs", fn.Name()))
	return starlark.None, nil
}

type stringSetting struct {
	value string
	set   bool
}

func (s *stringSetting) String() string           { return s.value }
func (s *stringSetting) Type() string             { return "string" }
func (s *stringSetting) isSet() bool              { return s.set }
func (s *stringSetting) starlark() starlark.Value { return starlark.String(s.value) }
func (s *stringSetting) Set(value string) error {
	if s.set {
		return fmt.Errorf("string settings can only be specified once. multiple values found (last value: %s)", value)
	}
	s.value, s.set = value, true
	return nil
}
func (s *stringSetting) setFromJSON(value any) error {
	if value == nil {
		return nil
	}
	text, ok := value.(string)
	if !ok {
		return fmt.Errorf("expected string, found %T", value)
	}
	s.value, s.set = text, true
	return nil
}

type boolSetting struct {
	value bool
	set   bool
}

func (s *boolSetting) String() string           { return strconv.FormatBool(s.value) }
func (s *boolSetting) Type() string             { return "bool" }
func (s *boolSetting) isSet() bool              { return s.set }
func (s *boolSetting) starlark() starlark.Value { return starlark.Bool(s.value) }
func (s *boolSetting) Set(value string) error {
	if s.set {
		return fmt.Errorf("bool settings can only be specified once. multiple values found (last value: %s)", value)
	}
	parsed, err := strconv.ParseBool(value)
	if err != nil {
		return err
	}
	s.value, s.set = parsed, true
	return nil
}
func (s *boolSetting) setFromJSON(value any) error {
	if value == nil {
		return nil
	}
	b, ok := value.(bool)
	if !ok {
		return fmt.Errorf("expected bool, found %T", value)
	}
	s.value, s.set = b, true
	return nil
}

type stringListSetting struct {
	values []string
	set    bool
}

func (s *stringListSetting) String() string { return strings.Join(s.values, ",") }
func (s *stringListSetting) Type() string   { return "list[string]" }
func (s *stringListSetting) isSet() bool    { return s.set }
func (s *stringListSetting) starlark() starlark.Value {
	items := make([]starlark.Value, len(s.values))
	for i, value := range s.values {
		items[i] = starlark.String(value)
	}
	return starlark.NewList(items)
}
func (s *stringListSetting) Set(value string) error {
	s.values, s.set = append(s.values, value), true
	return nil
}
func (s *stringListSetting) setFromJSON(value any) error {
	if value == nil {
		s.values = nil
		return nil
	}
	items, ok := value.([]any)
	if !ok {
		return fmt.Errorf("expected array")
	}
	s.values = nil
	for _, item := range items {
		text, ok := item.(string)
		if !ok {
			return fmt.Errorf("expected string, got %T", item)
		}
		s.values = append(s.values, text)
	}
	s.set = true
	return nil
}

// objectSetting is a JSON value; its numbers are floats, as Tilt decodes them.
type objectSetting struct {
	value starlark.Value
	set   bool
}

func (s *objectSetting) Type() string { return "object" }
func (s *objectSetting) isSet() bool  { return s.set }
func (s *objectSetting) String() string {
	if !s.set {
		return "None"
	}
	return s.value.String()
}
func (s *objectSetting) starlark() starlark.Value { return s.value }
func (s *objectSetting) Set(text string) error {
	if s.set {
		return fmt.Errorf("object settings can only be specified once. multiple values found (last value: %s)", s.value)
	}
	var decoded any
	if err := json.Unmarshal([]byte(text), &decoded); err != nil {
		return fmt.Errorf("decoding JSON, got %q: %v", text, err)
	}
	return s.setFromJSON(decoded)
}
func (s *objectSetting) setFromJSON(decoded any) error {
	if decoded == nil {
		return nil
	}
	value, err := dataToStarlark(decoded)
	if err != nil {
		return err
	}
	s.value, s.set = value, true
	return nil
}
