package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Tilt's local_resource() with Tilt's signature, registered as API objects an extension watching
// the API can read (docs/design.md, "local_resource"):
//
//   - the UIButton "<name>:trigger", Tilt's trigger: `kubectl tilt trigger NAME` and the dashboard
//     click it;
//   - cmd as the Cmd "<name>:update": it starts on creation, or (auto_init=False) on the trigger
//     (startOn); the trigger runs it again, and so does a change in deps when the trigger mode is
//     auto (restartOn);
//   - deps as the FileWatch "local:<name>", with ignore as its ignores, as Tilt names it;
//   - serve_cmd as the Cmd "<name>:serve": after "<name>:update" succeeds, again each time it
//     succeeds again (the tilt.dev/start-after annotation), with readiness_probe as its
//     readinessProbe;
//   - resource_deps as the tilt.dev/resource-deps annotation: the Cmds wait until each of those
//     resources is ready; links and labels as annotations the dashboard shows.
//
// As in Tilt, the objects are made when the Tiltfile has run, so trigger_mode() applies to every
// resource wherever it is called.

const (
	annotationResource     = "tilt.dev/resource"
	annotationResourceDeps = "tilt.dev/resource-deps"
	annotationStartAfter   = "tilt.dev/start-after"
	annotationLinks        = "tilt.dev/links"
	annotationLabels       = "tilt.dev/labels"
)

// localResourceParameters is Tilt's signature, in Tilt's order.
var localResourceParameters = []string{
	"name", "cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?", "serve_cmd?",
	"cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "labels?", "env?", "serve_env?",
	"readiness_probe?", "dir?", "serve_dir?",
}

// localResource is one local_resource call, made into objects when the run ends.
type localResource struct {
	name         string
	update       *command
	serve        *command
	deps         []string
	ignores      []string
	threadDir    string
	triggerMode  triggerMode
	autoInit     bool
	resourceDeps []string
	links        []map[string]string
	labels       []string
	probe        starlark.Value
}

// command is cmd or serve_cmd with its dir and env.
type command struct {
	args *starlark.List
	dir  string
	env  *starlark.List
}

func (r *run) builtinLocalResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	options, err := unpackNamed(fn, args, kwargs, localResourceParameters)
	if err != nil {
		return nil, err
	}
	name, ok := starlark.AsString(options["name"])
	if !ok {
		return nil, fmt.Errorf("%s: name: value should be convertible to string, but is type %s", fn.Name(), options["name"].Type())
	}
	if _, err := objectName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	base := currentDir(thread)
	res := &localResource{name: name, threadDir: base, autoInit: true, triggerMode: triggerModeUnset}
	if res.update, err = localCommand(options, "cmd", "dir", "env", base); err != nil {
		return nil, err
	}
	if res.serve, err = localCommand(options, "serve_cmd", "serve_dir", "serve_env", base); err != nil {
		return nil, err
	}
	if _, given := options["dir"]; given && res.update == nil {
		if res.serve != nil {
			return nil, fmt.Errorf("local_resource: 'dir' only affects 'cmd', not 'serve_cmd'. Did you mean to use 'serve_dir' instead?")
		}
		return nil, fmt.Errorf("local_resource: 'dir' specified but 'cmd' is empty")
	}
	if _, given := options["serve_dir"]; given && res.serve == nil {
		return nil, fmt.Errorf("local_resource: 'serve_dir' specified but 'serve_cmd' is empty")
	}
	if res.update == nil && res.serve == nil {
		return nil, fmt.Errorf("local_resource must have a cmd and/or a serve_cmd, but both were empty")
	}
	if res.deps, err = pathList(options["deps"], base, "deps"); err != nil {
		return nil, err
	}
	if res.ignores, err = stringList(options["ignore"], "ignore"); err != nil {
		return nil, err
	}
	if res.resourceDeps, err = stringList(options["resource_deps"], "resource_deps"); err != nil {
		return nil, fmt.Errorf("%s: resource_deps: %w", fn.Name(), err)
	}
	if mode, given := options["trigger_mode"]; given && mode != starlark.None {
		if res.triggerMode, ok = mode.(triggerMode); !ok {
			return nil, fmt.Errorf("%s: for parameter trigger_mode: got %s, want TriggerMode", fn.Name(), mode.Type())
		}
	}
	if autoInit, given := options["auto_init"]; given {
		res.autoInit = bool(autoInit.Truth())
	}
	if res.links, err = linkList(options["links"]); err != nil {
		return nil, err
	}
	if res.labels, err = labelList(options["labels"]); err != nil {
		return nil, err
	}
	if probe, given := options["readiness_probe"]; given && probe != starlark.None {
		if res.serve == nil {
			r.warn(fmt.Sprintf("Ignoring readiness probe for local resource %q (no serve_cmd was defined)", name))
		} else if res.probe, err = probeSpec(probe); err != nil {
			return nil, err
		}
	}
	if _, given := options["allow_parallel"]; given {
		r.warn(fmt.Sprintf("local_resource %s: allow_parallel has no effect here: every Cmd runs in parallel", name))
	}
	for _, resource := range r.localResources {
		if resource.name == name {
			return nil, fmt.Errorf("local_resource named %q already exists", name)
		}
	}
	r.localResources = append(r.localResources, res)
	return starlark.None, nil
}

// registerLocalResources makes each local_resource into its objects, at the end of the run.
func (r *run) registerLocalResources() error {
	for _, res := range r.localResources {
		for _, dep := range res.resourceDeps {
			if !r.hasResource(dep) {
				return fmt.Errorf("resource %s: resource_deps: no resource named %q", res.name, dep)
			}
		}
		objects, err := res.objects(r.defaultTriggerMode)
		if err != nil {
			return err
		}
		for _, object := range objects {
			k, ok := r.kinds.byName[object.kind]
			if !ok {
				return fmt.Errorf("local_resource %s: no %s CRD is installed", res.name, object.kind)
			}
			obj, err := k.build(nil, object.kwargs)
			if err == nil {
				err = r.registry.add(k, obj)
			}
			if err != nil {
				return fmt.Errorf("local_resource %s: %w", res.name, err)
			}
		}
	}
	return nil
}

func (r *run) hasResource(name string) bool {
	for _, res := range r.localResources {
		if res.name == name {
			return true
		}
	}
	return false
}

// pendingObject is a kind's builtin (by its snake-case name) and its keyword arguments.
type pendingObject struct {
	kind   string
	kwargs []starlark.Tuple
}

func (res *localResource) objects(defaultMode triggerMode) ([]pendingObject, error) {
	mode := res.triggerMode
	if mode == triggerModeUnset {
		mode = defaultMode
	}
	trigger := res.name + ":trigger"
	fileWatch := "local:" + res.name
	annotations := map[string]string{annotationResource: res.name}
	if len(res.resourceDeps) > 0 {
		annotations[annotationResourceDeps] = strings.Join(res.resourceDeps, ",")
	}
	if len(res.links) > 0 {
		encoded, _ := json.Marshal(res.links)
		annotations[annotationLinks] = string(encoded)
	}
	if len(res.labels) > 0 {
		annotations[annotationLabels] = strings.Join(res.labels, ",")
	}
	objects := []pendingObject{{"ui_button", kw(
		"name", trigger,
		"annotations", stringDict(annotations, nil),
		"text", "Trigger",
		"icon_name", "refresh",
		"location", stringDict(map[string]string{"component_type": "Resource", "component_id": res.name}, nil),
	)}}
	watched := len(res.deps) > 0
	if watched {
		ignores := starlark.NewList(nil)
		if len(res.ignores) > 0 {
			ignores = starlark.NewList([]starlark.Value{stringDict(map[string]string{"base_path": res.threadDir}, map[string]starlark.Value{"patterns": textList(res.ignores)})})
		}
		objects = append(objects, pendingObject{"file_watch", kw(
			"name", fileWatch,
			"annotations", stringDict(annotations, nil),
			"watched_paths", textList(res.deps),
			"ignores", ignores,
		)})
	}
	// The first Cmd of the resource is what the trigger, the file changes and auto_init act on.
	first := res.update
	if first == nil {
		first = res.serve
	}
	restartOn := map[string]starlark.Value{"ui_buttons": textList([]string{trigger})}
	if watched && mode == triggerModeAuto {
		restartOn["file_watches"] = textList([]string{fileWatch})
	}
	for _, part := range []struct {
		suffix string
		cmd    *command
	}{{"update", res.update}, {"serve", res.serve}} {
		if part.cmd == nil {
			continue
		}
		cmdAnnotations := map[string]string{}
		for key, value := range annotations {
			cmdAnnotations[key] = value
		}
		kwargs := kw("name", res.name+":"+part.suffix, "args", part.cmd.args, "dir", part.cmd.dir)
		if part.cmd.env != nil {
			kwargs = append(kwargs, kw("env", part.cmd.env)...)
		}
		if part.cmd == first {
			kwargs = append(kwargs, kw("restart_on", stringDict(nil, restartOn))...)
			if !res.autoInit {
				kwargs = append(kwargs, kw("start_on", stringDict(nil, map[string]starlark.Value{"ui_buttons": textList([]string{trigger})}))...)
			}
		} else {
			// serve_cmd after cmd: it starts once the update succeeded, and again after each success.
			cmdAnnotations[annotationStartAfter] = res.name + ":update"
		}
		if part.suffix == "serve" && res.probe != nil {
			kwargs = append(kwargs, kw("readiness_probe", res.probe)...)
		}
		kwargs = append(kwargs, kw("annotations", stringDict(cmdAnnotations, nil))...)
		objects = append(objects, pendingObject{"cmd", kwargs})
	}
	return objects, nil
}

// localCommand is cmd (or serve_cmd) as Tilt reads it: a string runs through `sh -c`, a list or
// tuple as it is, in the declaring file's directory or dir relative to it. Nil when empty.
func localCommand(options map[string]starlark.Value, what, dirKey, envKey, base string) (*command, error) {
	value := options[what]
	if emptyValue(value) {
		return nil, nil
	}
	argv, err := commandArgs(value, what)
	if err != nil {
		return nil, err
	}
	dir, err := resourceDir(options[dirKey], base, dirKey)
	if err != nil {
		return nil, err
	}
	cmd := &command{args: argv, dir: dir}
	if env, ok := options[envKey]; ok && !emptyValue(env) {
		if cmd.env, err = envList(env, envKey); err != nil {
			return nil, err
		}
	}
	return cmd, nil
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
	if sequence, ok := command.(starlark.Indexable); ok && sequence.Len() > 0 {
		items := make([]starlark.Value, sequence.Len())
		for i := range items {
			if _, ok := sequence.Index(i).(starlark.String); !ok {
				return nil, fmt.Errorf("local_resource: %s must be a string or a non-empty list of strings", what)
			}
			items[i] = sequence.Index(i)
		}
		return starlark.NewList(items), nil
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
	return against(base, string(text)), nil
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

// stringList is a string or a sequence of strings, as Tilt's value helpers read ignore,
// resource_deps and labels.
func stringList(value starlark.Value, what string) ([]string, error) {
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case starlark.String:
		return []string{string(v)}, nil
	case starlark.Iterable:
		var items []string
		iter := v.Iterate()
		defer iter.Done()
		var item starlark.Value
		for iter.Next(&item) {
			text, ok := starlark.AsString(item)
			if !ok {
				return nil, fmt.Errorf("%s: for parameter %s: value should be a string or a list of strings, got a list with %s", "local_resource", what, item.Type())
			}
			items = append(items, text)
		}
		return items, nil
	}
	return nil, fmt.Errorf("local_resource: for parameter %s: value should be a string or a list of strings, got %s", what, value.Type())
}

// pathList is deps: paths relative to the declaring file's directory, made absolute.
func pathList(value starlark.Value, base, what string) ([]string, error) {
	items, err := stringList(value, what)
	for i, item := range items {
		items[i] = against(base, item)
	}
	return items, err
}

// linkList is links: a URL, a link(), or a list of them.
func linkList(value starlark.Value) ([]map[string]string, error) {
	var items []starlark.Value
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			items = append(items, v.Index(i))
		}
	default:
		items = []starlark.Value{v}
	}
	links := []map[string]string{}
	for _, item := range items {
		if text, ok := item.(starlark.String); ok {
			if text == "" {
				return nil, fmt.Errorf("local_resource: links: url must not be empty")
			}
			links = append(links, map[string]string{"url": withScheme(string(text))})
			continue
		}
		link, ok := item.(interface {
			Attr(string) (starlark.Value, error)
			Type() string
		})
		if !ok || item.Type() != "struct" || !strings.HasPrefix(item.String(), "link(") {
			return nil, fmt.Errorf("local_resource: links: want a string or a link, got %s", item.Type())
		}
		url, _ := link.Attr("url")
		name, _ := link.Attr("name")
		entry := map[string]string{"url": withScheme(string(url.(starlark.String)))}
		if text, _ := name.(starlark.String); text != "" {
			entry["name"] = string(text)
		}
		links = append(links, entry)
	}
	return links, nil
}

// withScheme: Tilt adds http:// to a link that has no scheme.
func withScheme(url string) string {
	if strings.Contains(url, "://") {
		return url
	}
	return "http://" + url
}

// labelList is labels: a string or a list of strings, each a Kubernetes label name as Tilt checks.
func labelList(value starlark.Value) ([]string, error) {
	labels, err := stringList(value, "labels")
	for _, label := range labels {
		if label == "" || len(label) > 63 || !labelName.MatchString(label) {
			return nil, fmt.Errorf("local_resource: labels: invalid label %q: a label must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", label)
		}
	}
	return labels, err
}

// labelName is a Kubernetes label name without its prefix, as Tilt checks labels.
var labelName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// probeSpec is a probe() as the Cmd's readinessProbe: Tilt's Probe, with its one handler.
func probeSpec(value starlark.Value) (starlark.Value, error) {
	probe, ok := value.(*starlarkstruct.Struct)
	if !ok || probe.Constructor() != starlark.String("probe") {
		return nil, fmt.Errorf("local_resource: readiness_probe: want a probe(), got %s", value.Type())
	}
	fields := map[string]starlark.Value{}
	for attr, field := range map[string]string{
		"initial_delay_secs": "initial_delay_seconds", "timeout_secs": "timeout_seconds",
		"period_secs": "period_seconds", "success_threshold": "success_threshold",
		"failure_threshold": "failure_threshold",
	} {
		if v, err := probe.Attr(attr); err == nil && v != starlark.None {
			fields[field] = v
		}
	}
	handler := map[string]starlark.Value{}
	for attr, field := range map[string]string{"exec": "exec", "http_get": "http_get", "tcp_socket": "tcp_socket"} {
		action, err := probe.Attr(attr)
		if err != nil || action == starlark.None {
			continue
		}
		actionStruct, ok := action.(*starlarkstruct.Struct)
		if !ok {
			return nil, fmt.Errorf("local_resource: readiness_probe: %s must be an action", attr)
		}
		spec := map[string]starlark.Value{}
		for _, name := range actionStruct.AttrNames() {
			if v, _ := actionStruct.Attr(name); v != starlark.None && v != starlark.String("") {
				spec[name] = v
			}
		}
		handler[field] = stringDict(nil, spec)
	}
	fields["handler"] = stringDict(nil, handler)
	return stringDict(nil, fields), nil
}

// kw is keyword arguments from name, value pairs (strings become Starlark strings).
func kw(pairs ...any) []starlark.Tuple {
	kwargs := make([]starlark.Tuple, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		value, ok := pairs[i+1].(starlark.Value)
		if !ok {
			value = starlark.String(pairs[i+1].(string))
		}
		kwargs = append(kwargs, starlark.Tuple{starlark.String(pairs[i].(string)), value})
	}
	return kwargs
}

func textList(items []string) *starlark.List {
	values := make([]starlark.Value, len(items))
	for i, item := range items {
		values[i] = starlark.String(item)
	}
	return starlark.NewList(values)
}

// stringDict is a dict of the strings, then of the other values.
func stringDict(texts map[string]string, values map[string]starlark.Value) *starlark.Dict {
	dict := starlark.NewDict(len(texts) + len(values))
	for key, value := range texts {
		_ = dict.SetKey(starlark.String(key), starlark.String(value))
	}
	for key, value := range values {
		_ = dict.SetKey(starlark.String(key), value)
	}
	return dict
}
