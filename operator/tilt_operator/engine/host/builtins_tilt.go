package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The rest of Tilt's global builtins: local_resource's helpers (link, probe and its actions,
// trigger modes), the settings calls (checked with Tilt's signatures and recorded in the run's
// log), load_dynamic, exit, sys, and every builtin of Tilt's image-build and deploy engine but
// the deploy-manifest ones (k8s.go) and helm (helm.go), which exists so that no name Tilt defines
// is ever undefined, and fails with one clear line.

// triggerMode is Tilt's TriggerMode value: TRIGGER_MODE_AUTO and TRIGGER_MODE_MANUAL, as
// local_resource(trigger_mode=...) and trigger_mode() take them; unset means the run's default.
type triggerMode int

const (
	triggerModeUnset triggerMode = iota
	triggerModeAuto
	triggerModeManual
)

var _ starlark.Value = triggerModeAuto

func (m triggerMode) String() string {
	switch m {
	case triggerModeAuto:
		return "TRIGGER_MODE_AUTO"
	case triggerModeManual:
		return "TRIGGER_MODE_MANUAL"
	}
	return fmt.Sprintf("unknown trigger mode with value %d", int(m))
}
func (m triggerMode) Type() string          { return "TriggerMode" }
func (m triggerMode) Freeze()               {}
func (m triggerMode) Truth() starlark.Bool  { return m != 0 }
func (m triggerMode) Hash() (uint32, error) { return starlark.MakeInt(int(m)).Hash() }

// engineBuiltins belong to Tilt's image-build and deploy engine.
var engineBuiltins = []string{
	"allow_k8s_contexts", "custom_build", "dc_resource", "default_registry", "disable_feature",
	"disable_snapshots", "docker_build", "docker_compose", "docker_prune_settings", "enable_feature",
	"experimental_analytics_report", "experimental_metrics_settings", "experimental_telemetry_cmd",
	"fall_back_on", "filter_yaml", "initial_sync",
	"kustomize",
	"local_git_repo", "restart_container", "run", "set_team", "sync",
	"workload_to_resource_function",
}

// settingsBuiltins and their parameters, as Tilt declares them.
var settingsBuiltins = map[string][]string{
	"version_settings": {"check_updates?", "constraint?"},
	"update_settings": {
		"max_parallel_updates?", "k8s_upsert_timeout_secs?", "suppress_unused_image_warnings?", "k8s_server_side_apply?",
	},
	"ci_settings":        {"k8s_grace_period?", "timeout?", "readiness_timeout?"},
	"analytics_settings": {"enable"},
	"secret_settings":    {"disable_scrub"},
	"watch_settings":     {"ignore?"},
}

// settingRule is how Tilt takes one settings parameter: unpack checks the value's type as Tilt's
// UnpackArgs does (its errors name the parameter), check what Tilt checks of it after that.
type settingRule struct {
	unpack func(starlark.Value) error
	check  func(fn string, value starlark.Value) error
}

var settingsRules = map[string]settingRule{
	"check_updates":                  {unpack: want[starlark.Bool]("bool")},
	"enable":                         {unpack: want[starlark.Bool]("bool")},
	"disable_scrub":                  {unpack: want[starlark.Bool]("bool")},
	"constraint":                     {unpack: want[starlark.String]("string"), check: checkConstraintSetting},
	"max_parallel_updates":           {check: atLeastOne("max_parallel_updates", "max number of parallel updates must be >= 1(got: %d)")},
	"k8s_upsert_timeout_secs":        {check: atLeastOne("k8s_upsert_timeout_secs", "minimum k8s upsert timeout is 1s; got %ds")},
	"suppress_unused_image_warnings": {unpack: stringOrStrings},
	"k8s_server_side_apply":          {unpack: want[starlark.String]("string"), check: checkServerSideApply},
	"k8s_grace_period":               {unpack: duration},
	"timeout":                        {unpack: duration},
	"readiness_timeout":              {unpack: duration},
	"ignore":                         {unpack: stringOrStrings},
}

// settingArgument is one parameter's value, unpacked by its rule.
type settingArgument struct {
	rule  settingRule
	value starlark.Value
}

func (a *settingArgument) Unpack(value starlark.Value) error {
	if a.rule.unpack != nil {
		if err := a.rule.unpack(value); err != nil {
			return err
		}
	}
	a.value = value
	return nil
}

func want[T starlark.Value](name string) func(starlark.Value) error {
	return func(value starlark.Value) error {
		if _, ok := value.(T); !ok {
			return fmt.Errorf("got %s, want %s", value.Type(), name)
		}
		return nil
	}
}

func checkConstraintSetting(_ string, value starlark.Value) error {
	return checkVersionConstraint(tiltVersion, string(value.(starlark.String)))
}

// atLeastOne is an int of at least 1, or None.
func atLeastOne(parameter, tooSmall string) func(string, starlark.Value) error {
	return func(fn string, value starlark.Value) error {
		if value == starlark.None {
			return nil
		}
		number, ok := value.(starlark.Int)
		if !ok {
			return fmt.Errorf("%s: for parameter %q: got %s, want int", fn, parameter, tiltTypeName(value))
		}
		n, err := starlark.AsInt32(number)
		if err != nil {
			return fmt.Errorf("%s: for parameter %q: %w", fn, parameter, err)
		}
		if n < 1 {
			return fmt.Errorf(tooSmall, n)
		}
		return nil
	}
}

func checkServerSideApply(fn string, value starlark.Value) error {
	switch mode := value.(starlark.String); mode {
	case "", "true", "false", "auto":
		return nil
	default:
		return fmt.Errorf("%s: k8s_server_side_apply must be \"true\", \"false\", or \"auto\"; got %q", fn, string(mode))
	}
}

// duration is a duration as Go writes one ("30s", "1m30s").
func duration(value starlark.Value) error {
	text, ok := starlark.AsString(value)
	if !ok {
		return fmt.Errorf("Expected string. Got: %s", value.Type())
	}
	_, err := time.ParseDuration(text)
	return err
}

// stringOrStrings is a string, a list or tuple of strings, or None.
func stringOrStrings(value starlark.Value) error {
	if _, ok := textOf(value); ok || value == starlark.None {
		return nil
	}
	var items starlark.Indexable
	switch v := value.(type) {
	case *starlark.List:
		items = v
	case starlark.Tuple:
		items = v
	default:
		return fmt.Errorf("value should be a string or List or Tuple of strings, but is of type %s", value.Type())
	}
	for i := 0; i < items.Len(); i++ {
		if _, ok := textOf(items.Index(i)); !ok {
			return fmt.Errorf("list should contain only strings, but element %q was of type %s", items.Index(i).String(), items.Index(i).Type())
		}
	}
	return nil
}

// errStop is exit(): the run ends there, and successfully.
var errStop = errors.New("exit")

func (r *run) addTilt(add func(string, builtinFunc), names namespace) {
	add("local", r.builtinLocal)
	add("local_resource", r.builtinLocalResource)
	add("test", r.builtinLocalResource) // Tilt's deprecated fork of local_resource
	add("link", builtinLink)
	add("probe", builtinProbe)
	add("exec_action", builtinExecAction)
	add("http_get_action", builtinHTTPGetAction)
	add("tcp_socket_action", builtinTCPSocketAction)
	add("trigger_mode", r.builtinTriggerMode)
	names.add("TRIGGER_MODE_AUTO", triggerModeAuto)
	names.add("TRIGGER_MODE_MANUAL", triggerModeManual)
	for name, parameters := range settingsBuiltins {
		add(name, r.settingsBuiltin(parameters))
	}
	for _, name := range engineBuiltins {
		add(name, engineOnly)
	}
	add("load_dynamic", r.builtinLoadDynamic)
	add("exit", builtinExit)
	names.add("sys.argv", starlark.NewList([]starlark.Value{starlark.String("tilt"), starlark.String(tiltSubcommand)}))
	names.add("sys.executable", starlark.String("tilt"))
}

func engineOnly(_ *starlark.Thread, fn *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	return nil, fmt.Errorf("%s belongs to Tilt's image-build and deploy engine, which this operator does not run", fn.Name())
}

// settingsBuiltin checks a settings call as Tilt does and says it in the run's log.
func (r *run) settingsBuiltin(parameters []string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		arguments := make([]*settingArgument, len(parameters))
		pairs := make([]any, 0, 2*len(parameters))
		for i, parameter := range parameters {
			arguments[i] = &settingArgument{rule: settingsRules[strings.TrimSuffix(parameter, "?")]}
			pairs = append(pairs, parameter, arguments[i])
		}
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, pairs...); err != nil {
			return nil, err
		}
		var given []string
		effect := "Tilt's settings have no effect here"
		for i, parameter := range parameters {
			argument := arguments[i]
			if argument.value == nil {
				continue
			}
			if argument.rule.check != nil {
				if err := argument.rule.check(fn.Name(), argument.value); err != nil {
					return nil, err
				}
			}
			given = append(given, strings.TrimSuffix(parameter, "?")+"="+argument.value.String())
			if parameter == "k8s_upsert_timeout_secs?" {
				seconds, _ := starlark.AsInt32(argument.value)
				r.k8s.upsertTimeout = time.Duration(seconds) * time.Second
				effect = "k8s_upsert_timeout_secs is each KubernetesApply's spec.timeout, Tilt's other settings have no effect here"
			}
		}
		r.print(thread, fmt.Sprintf("%s(%s): recorded; %s", fn.Name(), strings.Join(given, ", "), effect))
		return starlark.None, nil
	}
}

// builtinTriggerMode is Tilt's trigger_mode(): the trigger mode of every resource that sets none.
func (r *run) builtinTriggerMode(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var mode starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "trigger_mode", &mode); err != nil {
		return nil, err
	}
	given, ok := mode.(triggerMode)
	if !ok || given == triggerModeUnset {
		return nil, fmt.Errorf("%s: for parameter trigger_mode: got %s, want TriggerMode", fn.Name(), mode.Type())
	}
	if r.triggerModeSet {
		return nil, fmt.Errorf("%s can only be called once", fn.Name())
	}
	r.defaultTriggerMode, r.triggerModeSet = given, true
	return starlark.None, nil
}

// builtinLoadDynamic is Tilt's load_dynamic(path): a load whose names come back as a dict.
func (r *run) builtinLoadDynamic(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	globals, err := thread.Load(thread, path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot load %s: %w", fn.Name(), path, err)
	}
	dict := starlark.NewDict(len(globals))
	for _, name := range globals.Keys() {
		_ = dict.SetKey(starlark.String(name), globals[name])
	}
	dict.Freeze()
	return dict, nil
}

// builtinExit is Tilt's exit(code=None): the run ends there and succeeds, whatever the code (Tilt
// has no failing exit: fail() is for that); a code other than None is said in the run's log.
func builtinExit(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var code starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "code?", &code); err != nil {
		return nil, err
	}
	if text := code.String(); code != starlark.None && text != "" {
		thread.Print(thread, text)
	}
	return nil, errStop
}

// unpackNamed is starlark.UnpackArgs for a list of parameters ("name", "optional?"): the values
// given, by name without the "?".
func unpackNamed(fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, parameters []string) (map[string]starlark.Value, error) {
	values := make([]starlark.Value, len(parameters))
	pairs := make([]any, 0, 2*len(parameters))
	for i, parameter := range parameters {
		pairs = append(pairs, parameter, &values[i])
	}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, pairs...); err != nil {
		return nil, err
	}
	given := map[string]starlark.Value{}
	for i, parameter := range parameters {
		if values[i] != nil {
			given[strings.TrimSuffix(parameter, "?")] = values[i]
		}
	}
	return given, nil
}

// typedStruct is a value as Tilt's typed helpers return it: a struct named by its constructor.
func typedStruct(constructor string, fields ...any) *starlarkstruct.Struct {
	kwargs := make([]starlark.Tuple, 0, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		kwargs = append(kwargs, starlark.Tuple{starlark.String(fields[i].(string)), fields[i+1].(starlark.Value)})
	}
	return starlarkstruct.FromKeywords(starlark.String(constructor), kwargs)
}

// builtinLink is Tilt's link(url, name=""): the URL gets http when it has no scheme.
func builtinLink(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var url, name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "url", &url, "name?", &name); err != nil {
		return nil, err
	}
	withScheme, err := linkURL(url)
	if err != nil {
		return nil, fmt.Errorf("validating URL %q: %w", url, err)
	}
	return typedStruct("link", "url", starlark.String(withScheme), "name", starlark.String(name)), nil
}

// int32Argument is an int that fits in 32 bits, as Tilt's probe() takes its numbers; 0 when not
// given, which the probe reads as the default (docs/design.md, "local_resource").
type int32Argument struct{ value starlark.Int }

func (i *int32Argument) Unpack(value starlark.Value) error {
	number, ok := value.(starlark.Int)
	if !ok {
		return fmt.Errorf("got %s, want int", value.Type())
	}
	if _, err := starlark.AsInt32(number); err != nil {
		return fmt.Errorf("value out of range for int32: %s", number)
	}
	i.value = number
	return nil
}

func zeroInt32() int32Argument { return int32Argument{value: starlark.MakeInt(0)} }

// actionArgument is one of probe()'s actions: None, or what the action's builtin made.
type actionArgument struct {
	typeName string
	value    starlark.Value
}

func (a *actionArgument) Unpack(value starlark.Value) error {
	if value == starlark.None {
		return nil
	}
	if action, ok := value.(*starlarkstruct.Struct); !ok || action.Constructor() != starlark.String(a.typeName) {
		return fmt.Errorf("got %s, want %s", value.Type(), a.typeName)
	}
	a.value = value
	return nil
}

// Tilt's names for the probe actions' types, which their values print as.
const (
	typeExecAction      = "ExecAction"
	typeHTTPGetAction   = "HTTPGetAction"
	typeTCPSocketAction = "TCPSocketAction"
)

// builtinProbe is Tilt's probe(): every number defaults to 0 (the kubelet's default then
// applies), and exactly one action is given.
func builtinProbe(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	initialDelay, timeout, period, success, failure := zeroInt32(), zeroInt32(), zeroInt32(), zeroInt32(), zeroInt32()
	execAction := actionArgument{typeName: typeExecAction, value: starlark.None}
	httpGet := actionArgument{typeName: typeHTTPGetAction, value: starlark.None}
	tcpSocket := actionArgument{typeName: typeTCPSocketAction, value: starlark.None}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"initial_delay_secs?", &initialDelay, "timeout_secs?", &timeout, "period_secs?", &period,
		"success_threshold?", &success, "failure_threshold?", &failure,
		"exec?", &execAction, "http_get?", &httpGet, "tcp_socket?", &tcpSocket); err != nil {
		return nil, err
	}
	handlers := 0
	for _, handler := range []actionArgument{execAction, httpGet, tcpSocket} {
		if handler.value != starlark.None {
			handlers++
		}
	}
	if handlers != 1 {
		return nil, errors.New("exactly one of exec, http_get, or tcp_socket must be specified")
	}
	return typedStruct("probe",
		"initial_delay_secs", initialDelay.value, "timeout_secs", timeout.value,
		"period_secs", period.value, "success_threshold", success.value,
		"failure_threshold", failure.value,
		"exec", execAction.value, "http_get", httpGet.value, "tcp_socket", tcpSocket.value), nil
}

// stringsArgument is an argument that takes any sequence of strings, as Tilt's value.StringSequence.
type stringsArgument struct{ list *starlark.List }

func (s *stringsArgument) Unpack(value starlark.Value) error {
	sequence, ok := value.(starlark.Sequence)
	if !ok {
		return fmt.Errorf("'%v' is a %s, not a sequence", value, tiltTypeName(value))
	}
	words := []starlark.Value{}
	iter := sequence.Iterate()
	defer iter.Done()
	var word starlark.Value
	for iter.Next(&word) {
		if _, ok := word.(starlark.String); !ok {
			return fmt.Errorf("'%v' is a %s, not a string", word, tiltTypeName(word))
		}
		words = append(words, word)
	}
	s.list = starlark.NewList(words)
	return nil
}

// builtinExecAction is Tilt's exec_action(command).
func builtinExecAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var command stringsArgument
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "command", &command); err != nil {
		return nil, err
	}
	return typedStruct(typeExecAction, "command", command.list), nil
}

func builtinHTTPGetAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	var host, scheme, path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &port, "host?", &host, "scheme?", &scheme, "path?", &path); err != nil {
		return nil, err
	}
	return typedStruct(typeHTTPGetAction, "host", starlark.String(host), "port", starlark.MakeInt(port),
		"scheme", starlark.String(scheme), "path", starlark.String(path)), nil
}

func builtinTCPSocketAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	var host string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &port, "host?", &host); err != nil {
		return nil, err
	}
	return typedStruct(typeTCPSocketAction, "host", starlark.String(host), "port", starlark.MakeInt(port)), nil
}
