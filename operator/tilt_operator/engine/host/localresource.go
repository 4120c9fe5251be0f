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

// localResourceIgnored are accepted for compatibility, without an effect here.
var localResourceIgnored = map[string]bool{
	"deps": true, "resource_deps": true, "trigger_mode": true, "auto_init": true, "allow_parallel": true,
	"links": true, "readiness_probe": true, "ignore": true, "tags": true, "serve_cmd_bat": true,
	"cmd_bat": true, "dir_bat": true, "infra": true, "serve_env_bat": true, "env_bat": true,
}

var localResourceSupported = map[string]bool{"labels": true, "env": true, "serve_env": true, "dir": true, "serve_dir": true}

func (r *run) builtinLocalResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	cmdKind, ok := r.kinds.byName["cmd"]
	if !ok {
		return nil, fmt.Errorf("local_resource: no Cmd CRD is installed")
	}
	var name string
	var cmd, serveCmd starlark.Value = starlark.None, starlark.None
	options := map[string]starlark.Value{}
	var rest []starlark.Tuple
	for _, pair := range kwargs {
		key := string(pair[0].(starlark.String))
		if localResourceIgnored[key] || localResourceSupported[key] {
			options[key] = pair[1]
		} else {
			rest = append(rest, pair)
		}
	}
	if err := starlark.UnpackArgs(fn.Name(), args, rest, "name", &name, "cmd?", &cmd, "serve_cmd?", &serveCmd); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("local_resource: name must be a non-empty string")
	}
	var used []string
	for option, value := range options {
		if localResourceIgnored[option] && !emptyValue(value) {
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
