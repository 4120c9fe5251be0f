package main

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// Tilt's local_resource() as the Cmd objects Tilt itself registers: cmd becomes the Cmd
// "<name>:update" and serve_cmd the Cmd "<name>:serve". A string runs through `sh -c`, a list as
// it is, in the declaring file's directory (or dir / serve_dir relative to it); both carry the
// tilt.dev/resource annotation. What Tilt does beyond registering objects (waiting for
// resource_deps, re-running on deps, probes, trigger modes) has no counterpart here: those
// arguments are accepted and each one in use is a warning, so an upstream Tiltfile runs.

const annotationResource = "tilt.dev/resource"

// localResourceParameters is Tilt's signature; the ones after the first three are options.
var localResourceParameters = []string{
	"name", "cmd?", "serve_cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?",
	"cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "tags?", "env?", "serve_env?",
	"readiness_probe?", "dir?", "serve_dir?", "labels?",
}

// localResourceIgnored are accepted, and a warning when given a value other than Tilt's
// default, since the operator cannot honour them yet.
var localResourceIgnored = map[string]bool{
	"deps": true, "trigger_mode": true, "resource_deps": true, "ignore": true, "auto_init": true,
	"cmd_bat": true, "serve_cmd_bat": true, "allow_parallel": true, "links": true, "tags": true,
	"readiness_probe": true,
}

func (r *run) builtinLocalResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	cmdKind, ok := r.kinds.byName["cmd"]
	if !ok {
		return nil, fmt.Errorf("local_resource: no Cmd CRD is installed")
	}
	options, err := unpackNamed(fn, args, kwargs, localResourceParameters)
	if err != nil {
		return nil, err
	}
	name, ok := starlark.AsString(options["name"])
	if !ok {
		return nil, fmt.Errorf("local_resource: name must be a string, got %s", options["name"].Type())
	}
	cmd, serveCmd := options["cmd"], options["serve_cmd"]
	if name == "" {
		return nil, fmt.Errorf("local_resource: name must be a non-empty string")
	}
	var used []string
	for option, value := range options {
		if localResourceIgnored[option] && !isTiltDefault(option, value) {
			used = append(used, option)
		}
	}
	sort.Strings(used)
	for _, option := range used {
		r.warn(fmt.Sprintf("local_resource %s: %s has no effect here", name, option))
	}
	annotations := starlark.NewDict(2)
	_ = annotations.SetKey(starlark.String(annotationResource), starlark.String(name))
	if labels, ok := options["labels"]; ok && !emptyValue(labels) {
		_ = annotations.SetKey(starlark.String("tilt.dev/labels"), starlark.String(joinLabels(labels)))
	}
	registered := 0
	for _, part := range []struct {
		suffix, what, envKey, dirKey string
		command                      starlark.Value
	}{{"update", "cmd", "env", "dir", cmd}, {"serve", "serve_cmd", "serve_env", "serve_dir", serveCmd}} {
		if emptyValue(part.command) {
			continue
		}
		argv, err := commandArgs(part.command, part.what)
		if err != nil {
			return nil, err
		}
		dir, err := resourceDir(options[part.dirKey], currentDir(thread), part.dirKey)
		if err != nil {
			return nil, err
		}
		cmdArgs := []starlark.Tuple{
			{starlark.String("name"), starlark.String(name + ":" + part.suffix)},
			{starlark.String("annotations"), annotations},
			{starlark.String("args"), argv},
			{starlark.String("dir"), starlark.String(dir)},
		}
		if env, ok := options[part.envKey]; ok && !emptyValue(env) {
			pairs, err := envList(env, part.envKey)
			if err != nil {
				return nil, err
			}
			cmdArgs = append(cmdArgs, starlark.Tuple{starlark.String("env"), pairs})
		}
		obj, err := cmdKind.build(nil, cmdArgs)
		if err == nil {
			err = r.registry.add(cmdKind, obj)
		}
		if err != nil {
			return nil, err
		}
		registered++
	}
	if registered == 0 {
		return nil, fmt.Errorf("local_resource %s: give cmd or serve_cmd", name)
	}
	return starlark.None, nil
}

// isTiltDefault: the value Tilt would use anyway, so the option asks nothing of the operator.
func isTiltDefault(option string, value starlark.Value) bool {
	switch option {
	case "auto_init":
		return value == starlark.True || value == starlark.None
	case "trigger_mode":
		return value == starlark.None || value.String() == fmt.Sprint(triggerModeAuto)
	}
	return emptyValue(value)
}

func emptyValue(value starlark.Value) bool {
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return true
	case starlark.Bool:
		return !bool(v)
	case starlark.String:
		return v == ""
	case starlark.Indexable:
		return v.Len() == 0
	}
	return false
}

func commandArgs(command starlark.Value, what string) (*starlark.List, error) {
	if text, ok := command.(starlark.String); ok {
		return starlark.NewList([]starlark.Value{starlark.String("sh"), starlark.String("-c"), text}), nil
	}
	if list, ok := command.(*starlark.List); ok && list.Len() > 0 {
		items := make([]starlark.Value, list.Len())
		for i := range items {
			if _, ok := list.Index(i).(starlark.String); !ok {
				break
			}
			items[i] = list.Index(i)
		}
		if items[len(items)-1] != nil {
			return starlark.NewList(items), nil
		}
	}
	return nil, fmt.Errorf("local_resource: %s must be a string or a non-empty list of strings", what)
}

func resourceDir(value starlark.Value, base, what string) (string, error) {
	if value == nil || value == starlark.None {
		return base, nil
	}
	text, ok := value.(starlark.String)
	if !ok {
		return "", fmt.Errorf("local_resource: %s must be a string", what)
	}
	if path.IsAbs(string(text)) {
		return path.Clean(string(text)), nil
	}
	return path.Join(base, string(text)), nil
}

func envList(value starlark.Value, what string) (*starlark.List, error) {
	dict, ok := value.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("local_resource: %s must be a dict of strings", what)
	}
	var pairs []starlark.Value
	for _, item := range dict.Items() {
		key, keyOK := item[0].(starlark.String)
		val, valOK := item[1].(starlark.String)
		if !keyOK || !valOK {
			return nil, fmt.Errorf("local_resource: %s must be a dict of strings", what)
		}
		pairs = append(pairs, starlark.String(string(key)+"="+string(val)))
	}
	return starlark.NewList(pairs), nil
}

func joinLabels(labels starlark.Value) string {
	if text, ok := labels.(starlark.String); ok {
		return string(text)
	}
	var parts []string
	if iterable, ok := labels.(starlark.Indexable); ok {
		for i := 0; i < iterable.Len(); i++ {
			if text, ok := starlark.AsString(iterable.Index(i)); ok {
				parts = append(parts, text)
			} else {
				parts = append(parts, iterable.Index(i).String())
			}
		}
	}
	return strings.Join(parts, ",")
}
