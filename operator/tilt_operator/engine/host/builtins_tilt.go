package main

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The rest of Tilt's global builtins: local_resource's helpers (link, probe and its actions,
// trigger modes), the settings calls (checked with Tilt's signatures and recorded in the run's
// log), load_dynamic, exit, sys, and every builtin of Tilt's image-build and deploy engine,
// which exists so that no name Tilt defines is ever undefined, and fails with one clear line.

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
	"fall_back_on", "filter_yaml", "helm", "initial_sync", "k8s_context", "k8s_custom_deploy",
	"k8s_image_json_path", "k8s_kind", "k8s_namespace", "k8s_resource", "k8s_yaml", "kustomize",
	"local_git_repo", "port_forward", "restart_container", "run", "set_team", "sync",
	"workload_to_resource_function",
}

// settingsBuiltins and their parameters, as Tilt declares them.
var settingsBuiltins = map[string][]string{
	"version_settings":   {"check_updates?", "constraint?"},
	"update_settings":    {"max_parallel_updates?", "k8s_upsert_timeout_secs?", "suppress_unused_image_warnings?"},
	"ci_settings":        {"k8s_grace_period?", "timeout?", "readiness_timeout?"},
	"analytics_settings": {"enable?"},
	"secret_settings":    {"disable_scrub?"},
	"watch_settings":     {"ignore?"},
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

// settingsBuiltin checks a settings call against Tilt's parameters and says it in the run's log.
func (r *run) settingsBuiltin(parameters []string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		values, err := unpackNamed(fn, args, kwargs, parameters)
		if err != nil {
			return nil, err
		}
		var given []string
		for _, parameter := range parameters {
			if value, ok := values[strings.TrimSuffix(parameter, "?")]; ok {
				given = append(given, strings.TrimSuffix(parameter, "?")+"="+value.String())
			}
		}
		r.print(thread, fmt.Sprintf("%s(%s): recorded; Tilt's settings have no effect here", fn.Name(), strings.Join(given, ", ")))
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

func builtinExit(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var code starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "code?", &code); err != nil {
		return nil, err
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

func builtinLink(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var url, name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "url", &url, "name?", &name); err != nil {
		return nil, err
	}
	if url == "" {
		return nil, fmt.Errorf("%s: url must not be empty", fn.Name())
	}
	return typedStruct("link", "url", starlark.String(url), "name", starlark.String(name)), nil
}

func builtinProbe(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	initialDelay, timeout, period, success, failure := 0, 1, 10, 1, 3
	var execAction, httpGet, tcpSocket starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"initial_delay_secs?", &initialDelay, "timeout_secs?", &timeout, "period_secs?", &period,
		"success_threshold?", &success, "failure_threshold?", &failure,
		"exec?", &execAction, "http_get?", &httpGet, "tcp_socket?", &tcpSocket); err != nil {
		return nil, err
	}
	handlers := 0
	for _, handler := range []starlark.Value{execAction, httpGet, tcpSocket} {
		if handler != starlark.None {
			handlers++
		}
	}
	if handlers != 1 {
		return nil, fmt.Errorf("%s: exactly one of exec, http_get, or tcp_socket must be specified", fn.Name())
	}
	return typedStruct("probe",
		"initial_delay_secs", starlark.MakeInt(initialDelay), "timeout_secs", starlark.MakeInt(timeout),
		"period_secs", starlark.MakeInt(period), "success_threshold", starlark.MakeInt(success),
		"failure_threshold", starlark.MakeInt(failure),
		"exec", execAction, "http_get", httpGet, "tcp_socket", tcpSocket), nil
}

func builtinExecAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var command *starlark.List
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "command", &command); err != nil {
		return nil, err
	}
	return typedStruct("exec_action", "command", command), nil
}

func builtinHTTPGetAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	host, scheme, path := "", "http", ""
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &port, "host?", &host, "scheme?", &scheme, "path?", &path); err != nil {
		return nil, err
	}
	return typedStruct("http_get_action", "host", starlark.String(host), "port", starlark.MakeInt(port),
		"scheme", starlark.String(scheme), "path", starlark.String(path)), nil
}

func builtinTCPSocketAction(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	host := ""
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &port, "host?", &host); err != nil {
		return nil, err
	}
	return typedStruct("tcp_socket_action", "host", starlark.String(host), "port", starlark.MakeInt(port)), nil
}
