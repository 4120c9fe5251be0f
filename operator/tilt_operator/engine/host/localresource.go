package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
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
	// Each parameter is checked as Tilt's type for it checks it, in Tilt's order and with its errors.
	refused := parameterRefusal(fn, kwargs)
	name, ok := starlark.AsString(options["name"])
	if !ok {
		return nil, refused("name", fmt.Errorf("Value should be convertible to string, but is type %s", options["name"].Type()))
	}
	if _, err := objectName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	base := currentDir(thread)
	res := &localResource{name: name, threadDir: base, autoInit: true, triggerMode: triggerModeUnset}
	if res.deps, err = pathList(options["deps"], base); err != nil {
		return nil, refused("deps", err)
	}
	if mode, given := options["trigger_mode"]; given {
		if res.triggerMode, ok = mode.(triggerMode); !ok {
			return nil, refused("trigger_mode", fmt.Errorf("got %s, want TriggerMode", mode.Type()))
		}
	}
	resourceDeps, given := options["resource_deps"]
	if _, ok := resourceDeps.(starlark.Sequence); given && !ok {
		return nil, refused("resource_deps", fmt.Errorf("got %s, want starlark.Sequence", resourceDeps.Type()))
	}
	for _, parameter := range []string{"auto_init", "allow_parallel"} {
		if value, given := options[parameter]; given {
			if _, ok := value.(starlark.Bool); !ok {
				return nil, refused(parameter, fmt.Errorf("got %s, want bool", value.Type()))
			}
		}
	}
	if autoInit, given := options["auto_init"]; given {
		res.autoInit = bool(autoInit.(starlark.Bool))
	}
	if res.links, err = linkList(options["links"]); err != nil {
		return nil, refused("links", err)
	}
	if res.labels, err = labelList(options["labels"]); err != nil {
		return nil, refused("labels", err)
	}
	env, serveEnv := map[string]string{}, map[string]string{}
	for parameter, into := range map[string]map[string]string{"env": env, "serve_env": serveEnv} {
		if err := envMap(options[parameter], into); err != nil {
			return nil, refused(parameter, err)
		}
	}
	probe, hasProbe := options["readiness_probe"]
	if probe == starlark.None {
		hasProbe = false
	} else if hasProbe && !isProbe(probe) {
		return nil, refused("readiness_probe", fmt.Errorf("got %T, want Probe", probe))
	}
	if res.resourceDeps, err = stringSequence(resourceDeps); err != nil {
		return nil, fmt.Errorf("%s: resource_deps: %w", fn.Name(), err)
	}
	if res.ignores, err = ignoreList(options["ignore"]); err != nil {
		return nil, err
	}
	if res.update, err = localCommand(options["cmd"], options["dir"], env, base); err != nil {
		return nil, err
	}
	if res.serve, err = localCommand(options["serve_cmd"], options["serve_dir"], serveEnv, base); err != nil {
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
	if hasProbe {
		if res.serve == nil {
			r.warn(fmt.Sprintf("Ignoring readiness probe for local resource %q (no serve_cmd was defined)", name))
		} else if res.probe, err = probeSpec(probe); err != nil {
			return nil, err
		}
	}
	if _, given := options["allow_parallel"]; given {
		r.warn(fmt.Sprintf("local_resource %s: allow_parallel has no effect here: every Cmd runs in parallel", name))
	}
	if err := r.resourceConflict(name); err != nil {
		return nil, err
	}
	r.localResources = append(r.localResources, res)
	return starlark.None, nil
}

// parameterError is go.starlark.net's wording of a parameter's refused value, which Tilt's
// arguments get: the parameter's name is quoted when it was given by keyword.
func parameterError(fn, parameter string, byKeyword bool, err error) error {
	if byKeyword {
		parameter = starlark.String(parameter).String()
	}
	return fmt.Errorf("%s: for parameter %s: %w", fn, parameter, err)
}

// parameterRefusal is parameterError for one call of fn: it knows which parameters came by keyword.
func parameterRefusal(fn *starlark.Builtin, kwargs []starlark.Tuple) func(parameter string, err error) error {
	byKeyword := map[string]bool{}
	for _, pair := range kwargs {
		byKeyword[string(pair[0].(starlark.String))] = true
	}
	return func(parameter string, err error) error {
		return parameterError(fn.Name(), parameter, byKeyword[parameter], err)
	}
}

// resourceAnnotations are what a resource's objects say of it, the dashboard and other resources
// read: its Tilt name, the resources it waits for, its links and its labels (sorted).
func resourceAnnotations(name string, deps []string, links []map[string]string, labels []string) map[string]string {
	annotations := map[string]string{annotationResource: name}
	if len(deps) > 0 {
		annotations[annotationResourceDeps] = strings.Join(deps, ",")
	}
	if len(links) > 0 {
		encoded, _ := json.Marshal(links)
		annotations[annotationLinks] = string(encoded)
	}
	if len(labels) > 0 {
		annotations[annotationLabels] = strings.Join(labels, ",")
	}
	return annotations
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
	annotations := resourceAnnotations(res.name, res.resourceDeps, res.links, res.labels)
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

// localCommand is cmd (or serve_cmd) as Tilt reads it (readCommand, as local() reads its command),
// its dir clean. Nil when not given or empty ("" or an empty sequence).
func localCommand(value, dirValue starlark.Value, env map[string]string, base string) (*command, error) {
	if value == nil {
		value = starlark.String("") // not given: no command, but dir and env are still checked
	}
	read, err := readCommand(value, dirValue, env, base)
	if err != nil || len(read.argv) == 0 {
		return nil, err
	}
	cmd := &command{args: textList(read.argv), dir: path.Clean(read.dir)}
	if len(read.env) > 0 {
		cmd.env = textList(read.env)
	}
	return cmd, nil
}

// envMap is env (or serve_env): None, or a dict of strings.
func envMap(value starlark.Value, into map[string]string) error {
	if value == nil || value == starlark.None {
		return nil
	}
	dict, ok := value.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("expected dict, got %T", value)
	}
	for _, item := range dict.Items() {
		key, ok := starlark.AsString(item[0])
		if !ok {
			return fmt.Errorf("key is not a string: %T (%v)", item[0], item[0])
		}
		val, ok := starlark.AsString(item[1])
		if !ok {
			return fmt.Errorf("value is not a string: %T (%v)", item[1], item[1])
		}
		into[key] = val
	}
	return nil
}

// stringSequence is a sequence of strings (resource_deps); nil or None is none.
func stringSequence(value starlark.Value) ([]string, error) {
	sequence, ok := value.(starlark.Sequence)
	if !ok || sequence.Len() == 0 {
		return nil, nil
	}
	items := make([]string, 0, sequence.Len())
	iter := sequence.Iterate()
	defer iter.Done()
	var item starlark.Value
	for iter.Next(&item) {
		text, ok := item.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("'%v' is a %T, not a string", item, item)
		}
		items = append(items, string(text))
	}
	return items, nil
}

// valueOrSequence is a sequence's items, or the value alone; None is nothing.
func valueOrSequence(value starlark.Value) []starlark.Value {
	if sequence, ok := value.(starlark.Sequence); ok {
		var items []starlark.Value
		iter := sequence.Iterate()
		defer iter.Done()
		var item starlark.Value
		for iter.Next(&item) {
			items = append(items, item)
		}
		return items
	}
	if value == nil || value == starlark.None {
		return nil
	}
	return []starlark.Value{value}
}

// ignoreList is ignore: a string or a sequence of strings, none with a newline.
func ignoreList(value starlark.Value) ([]string, error) {
	var ignores []string
	for _, item := range valueOrSequence(value) {
		text, ok := item.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("ignore must be a string or a sequence of strings; found a %T", item)
		}
		if strings.Contains(string(text), "\n") {
			return nil, fmt.Errorf("ignore cannot contain newlines; found ignore: %q", string(text))
		}
		ignores = append(ignores, string(text))
	}
	return ignores, nil
}

// pathList is deps: a path or a list or tuple of them, relative to the declaring file's directory,
// made absolute.
func pathList(value starlark.Value, base string) ([]string, error) {
	if text, ok := starlark.AsString(value); ok {
		return []string{against(base, text)}, nil
	}
	var items []starlark.Value
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case *starlark.List, starlark.Tuple:
		items = valueOrSequence(v)
	default:
		return nil, fmt.Errorf("value should be a string or List or Tuple of strings, but is of type %s", value.Type())
	}
	paths := []string{}
	for i, item := range items {
		text, ok := starlark.AsString(item)
		if !ok {
			return nil, fmt.Errorf("unpacking list item at index %d: expected path | string. Actual type: %T", i, item)
		}
		paths = append(paths, against(base, text))
	}
	return paths, nil
}

// linkList is links: a URL, a link(), or a sequence of them. A URL without a scheme gets http, as
// Tilt adds it (a scheme being what Go's URL parser finds: "localhost:8000" has one).
func linkList(value starlark.Value) ([]map[string]string, error) {
	links := []map[string]string{}
	for _, item := range valueOrSequence(value) {
		var text, name string
		if url, ok := item.(starlark.String); ok {
			text = string(url)
		} else if link, ok := item.(*starlarkstruct.Struct); ok && link.Constructor() == starlark.String("link") {
			url, _ := link.Attr("url")
			label, _ := link.Attr("name")
			text, _ = starlark.AsString(url)
			name, _ = starlark.AsString(label)
		} else {
			return nil, fmt.Errorf("`Want a string, a link, or a sequence of these; found %v (type: %T)", item, item)
		}
		withScheme, err := linkURL(text)
		if err != nil {
			return nil, fmt.Errorf("validating URL %q: %w", text, err)
		}
		entry := map[string]string{"url": withScheme}
		if name != "" {
			entry["name"] = name
		}
		links = append(links, entry)
	}
	return links, nil
}

// linkURL is a link's URL with http as its scheme when it has none.
func linkURL(text string) (string, error) {
	if text == "" {
		return "", errors.New("url empty")
	}
	parsed, err := url.Parse(text)
	if err != nil {
		return "", err
	}
	if parsed.Scheme == "" {
		parsed.Scheme = "http"
	}
	return parsed.String(), nil
}

// labelList is labels: a label or a list or tuple of them, each checked as Tilt checks them (a
// Kubernetes label key and value, without a prefix). Duplicates count once, sorted.
func labelList(value starlark.Value) ([]string, error) {
	var items []starlark.Value
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case starlark.String:
		items = []starlark.Value{v}
	case *starlark.List, starlark.Tuple:
		items = valueOrSequence(v)
	default:
		return nil, fmt.Errorf("value should be a label or List or Tuple of labels, but is of type %s", value.Type())
	}
	set := map[string]bool{}
	for _, item := range items {
		label, ok := starlark.AsString(item)
		if !ok {
			return nil, fmt.Errorf("Value should be convertible to string, but is type %s", item.Type())
		}
		problems := labelKeyProblems(label)
		if len(problems) == 0 {
			problems = labelValueProblems(label)
		}
		if len(problems) == 0 && strings.Contains(label, "/") {
			problems = []string{"cannot contain /"}
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("Invalid label %q: %s", label, strings.Join(problems, ", "))
		}
		set[label] = true
	}
	labels := make([]string, 0, len(set))
	for label := range set {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	return labels, nil
}

// Kubernetes' rules for label keys and values, with its messages, as Tilt checks labels.
const (
	labelFormat        = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	labelKeyMessage    = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" + labelFormat + "')"
	labelValueMessage  = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(" + labelFormat + ")?')"
	subdomainFormat    = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
	subdomainMessage   = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" + subdomainFormat + "')"
	labelMaxLength     = 63
	subdomainMaxLength = 253
)

var (
	labelPattern     = regexp.MustCompile("^" + labelFormat + "$")
	subdomainPattern = regexp.MustCompile("^" + subdomainFormat + "$")
)

func labelKeyProblems(key string) []string {
	var problems []string
	parts := strings.Split(key, "/")
	name := parts[0]
	switch len(parts) {
	case 1:
	case 2:
		prefix := parts[0]
		name = parts[1]
		if prefix == "" {
			problems = append(problems, "prefix part must be non-empty")
		} else {
			if len(prefix) > subdomainMaxLength {
				problems = append(problems, fmt.Sprintf("prefix part must be no more than %d bytes", subdomainMaxLength))
			}
			if !subdomainPattern.MatchString(prefix) {
				problems = append(problems, "prefix part "+subdomainMessage)
			}
		}
	default:
		return []string{"a valid label key " + labelKeyMessage + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"}
	}
	if name == "" {
		problems = append(problems, "name part must be non-empty")
	} else if len(name) > labelMaxLength {
		problems = append(problems, fmt.Sprintf("name part must be no more than %d bytes", labelMaxLength))
	}
	if !labelPattern.MatchString(name) {
		problems = append(problems, "name part "+labelKeyMessage)
	}
	return problems
}

func labelValueProblems(value string) []string {
	var problems []string
	if len(value) > labelMaxLength {
		problems = append(problems, fmt.Sprintf("must be no more than %d bytes", labelMaxLength))
	}
	if value != "" && !labelPattern.MatchString(value) {
		problems = append(problems, labelValueMessage)
	}
	return problems
}

func isProbe(value starlark.Value) bool {
	probe, ok := value.(*starlarkstruct.Struct)
	return ok && probe.Constructor() == starlark.String("probe")
}

// probeSpec is a probe() as the Cmd's readinessProbe: Tilt's Probe, with its one handler (an HTTP
// scheme upper-cased, as Tilt's probe spec has it).
func probeSpec(value starlark.Value) (starlark.Value, error) {
	probe := value.(*starlarkstruct.Struct)
	fields := map[string]starlark.Value{}
	for attr, field := range map[string]string{
		"initial_delay_secs": "initial_delay_seconds", "timeout_secs": "timeout_seconds",
		"period_secs": "period_seconds", "success_threshold": "success_threshold",
		"failure_threshold": "failure_threshold",
	} {
		// 0 is probe()'s default and means the kubelet's: left out, as Tilt's Probe leaves it.
		if v, err := probe.Attr(attr); err == nil && v != starlark.None && v != starlark.MakeInt(0) {
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
			v, _ := actionStruct.Attr(name)
			if v == starlark.None || v == starlark.String("") {
				continue
			}
			if text, ok := v.(starlark.String); ok && name == "scheme" {
				v = starlark.String(strings.ToUpper(string(text)))
			}
			spec[name] = v
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
