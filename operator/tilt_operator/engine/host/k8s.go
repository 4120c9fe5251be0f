package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// Tilt's deploy-manifest builtins, with Tilt's signatures and errors (docs/design.md, "The
// Tiltfile language"): k8s_yaml(yaml, allow_duplicates=False) reads Kubernetes objects,
// k8s_resource(...) says how to group them and what to record with them, port_forward() is one of
// its port forwards, k8s_kind() and k8s_image_json_path() say which objects are workloads and
// where their images are (k8skinds.go), k8s_context() and k8s_namespace() name the operator's
// own cluster as Tilt names it, and helm() renders a chart into YAML for k8s_yaml (helm.go). As
// in Tilt, the objects become resources when the Tiltfile has run (k8sassembly.go): one
// KubernetesApply per resource (kubernetesapply.go).

// kubernetesApplyBuiltin is the KubernetesApply CRD's builtin: what a k8s resource is registered as.
const kubernetesApplyBuiltin = "kubernetes_apply"

// defaultCluster is Tilt's name for the cluster a Tiltfile deploys to, here the operator's own;
// Tilt's k8s_context() and k8s_namespace() for it.
const defaultCluster = "default"

var errEmptyYAML = errors.New("Empty YAML passed to k8s_yaml")

// k8sState is what the k8s builtins recorded during the run: k8s_yaml's objects in the order they
// were given, where each was first registered (to refuse a duplicate), the k8s_resource calls,
// the k8s_custom_deploy calls (k8scustomdeploy.go), and the kinds k8s_kind and
// k8s_image_json_path told of (k8skinds.go).
type k8sState struct {
	objects       []*k8sObject
	registeredAt  map[[4]string]string
	options       []*k8sResourceOptions
	customDeploys []*k8sCustomDeploy
	kinds         []*k8sKind
	// update_settings(k8s_upsert_timeout_secs=...): each KubernetesApply's spec.timeout, as Tilt's.
	upsertTimeout time.Duration
}

// defaultUpsertTimeout is Tilt's k8s_upsert_timeout_secs when no update_settings call sets it.
const defaultUpsertTimeout = 30 * time.Second

// applyTimeout is the run's spec.timeout for its KubernetesApplys, as Tilt writes a duration.
func (s *k8sState) applyTimeout() string {
	if s.upsertTimeout == 0 {
		return defaultUpsertTimeout.String()
	}
	return s.upsertTimeout.String()
}

// k8sResourceOptions is one k8s_resource call, applied to the resources when the run ends.
type k8sResourceOptions struct {
	// The resource it names: the workload's, or new_name's when it names no workload.
	workload          string
	newName           string
	manuallyGrouped   bool
	portForwards      []portForward
	extraPodSelectors []map[string]string
	resourceDeps      []string
	objects           []string
	discoveryStrategy string
	links             []map[string]string
	labels            []string
	// Where the call is, for the errors assembly finds.
	position string
}

// k8sResourceParameters is Tilt's signature, in Tilt's order.
var k8sResourceParameters = []string{
	"workload?", "new_name?", "port_forwards?", "extra_pod_selectors?", "trigger_mode?", "resource_deps?",
	"objects?", "auto_init?", "pod_readiness?", "links?", "labels?", "discovery_strategy?",
}

func (r *run) addK8s(add func(string, builtinFunc)) {
	add("k8s_yaml", r.builtinK8sYAML)
	add("k8s_resource", r.builtinK8sResource)
	add("k8s_custom_deploy", r.builtinK8sCustomDeploy)
	add("k8s_kind", r.builtinK8sKind)
	add("k8s_image_json_path", r.builtinK8sImageJSONPath)
	add("helm", r.builtinHelm)
	add("port_forward", builtinPortForward)
	add("k8s_context", builtinDefaultCluster)
	add("k8s_namespace", builtinDefaultCluster)
}

// builtinDefaultCluster is k8s_context() and k8s_namespace(): "default", as Tilt names the
// cluster it deploys to and its namespace. Like Tilt's, they take no arguments and ignore any.
func builtinDefaultCluster(_ *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	return starlark.String(defaultCluster), nil
}

// needsKubernetesApply is nil when the KubernetesApply CRD is installed, else the one line that
// says the builtin cannot work.
func (r *run) needsKubernetesApply(fn *starlark.Builtin) error {
	if _, ok := r.kinds.byName[kubernetesApplyBuiltin]; !ok {
		return fmt.Errorf("%s registers KubernetesApply objects, and no KubernetesApply CRD is installed", fn.Name())
	}
	return nil
}

// builtinK8sYAML is Tilt's k8s_yaml(yaml, allow_duplicates=False): yaml is a path, a blob, or a
// list of them. The same object twice (kind, namespace and name) is an error unless
// allow_duplicates, and YAML with no object at all is one.
func (r *run) builtinK8sYAML(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var yamlValue starlark.Value
	var allowDuplicates bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "yaml", &yamlValue, "allow_duplicates?", &allowDuplicates); err != nil {
		return nil, err
	}
	if err := r.needsKubernetesApply(fn); err != nil {
		return nil, err
	}
	values := valueOrSequence(yamlValue)
	if len(values) == 0 {
		return nil, errEmptyYAML
	}
	var objects []*k8sObject
	for _, value := range values {
		found, err := r.k8sObjectsFrom(thread, fn, value)
		if err != nil {
			return nil, err
		}
		objects = append(objects, found...)
	}
	// As in Tilt: no object is an error when the first item is no path (blob(''), for one).
	if first, _ := starlark.AsString(values[0]); len(objects) == 0 && first == "" {
		return nil, errEmptyYAML
	}
	if r.k8s.registeredAt == nil {
		r.k8s.registeredAt = map[[4]string]string{}
	}
	stack := thread.CallStack().String()
	for _, object := range objects {
		address := object.address()
		if earlier, exists := r.k8s.registeredAt[address]; exists && !allowDuplicates {
			return nil, fmt.Errorf("Duplicate YAML: %s\nIgnore this error with k8s_yaml(..., allow_duplicates=True)\n"+
				"YAML originally registered at: %s", object.described(), strings.ReplaceAll(earlier, "\n", "\n  "))
		}
		r.k8s.registeredAt[address] = stack
	}
	r.k8s.objects = append(r.k8s.objects, objects...)
	return starlark.None, nil
}

// k8sObjectsFrom is the objects of one of k8s_yaml's items: a blob's, or the file's at a path
// (relative to the file executing now, and a file the run depends on, as read_file's).
func (r *run) k8sObjectsFrom(thread *starlark.Thread, fn *starlark.Builtin, value starlark.Value) ([]*k8sObject, error) {
	if b, ok := value.(blob); ok {
		objects, err := parseK8sYAML(b.text)
		if err != nil {
			return nil, fmt.Errorf("Error reading yaml from %s: %w", b.source, err)
		}
		return objects, nil
	}
	path, ok := starlark.AsString(value)
	if !ok {
		return nil, fmt.Errorf("expected path | string. Actual type: %s", tiltTypeName(value))
	}
	data, target, err := r.readFile(thread, fn.Name(), path)
	if err != nil {
		return nil, fmt.Errorf("error reading yaml file: %w", err)
	}
	objects, err := parseK8sYAML(string(data))
	if err != nil && strings.Contains(err.Error(), "json parse error: ") {
		return nil, fmt.Errorf("%s is not a valid YAML file: %w", target, err)
	}
	return objects, err
}

// builtinK8sResource is Tilt's k8s_resource(workload="", new_name="", port_forwards=[], ...):
// options for the resource of a workload, or (with new_name and objects) for a new resource of
// objects no workload took. Calls add up, in the order they were made, when the run ends.
func (r *run) builtinK8sResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	options, err := unpackNamed(fn, args, kwargs, k8sResourceParameters)
	if err != nil {
		return nil, err
	}
	refused := parameterRefusal(fn, kwargs)
	opts := &k8sResourceOptions{position: thread.CallFrame(1).Pos.String()}
	for _, name := range []struct {
		parameter string
		into      *string
	}{{"workload", &opts.workload}, {"new_name", &opts.newName}} {
		if value, given := options[name.parameter]; given {
			if *name.into, err = resourceName(value); err != nil {
				return nil, refused(name.parameter, err)
			}
		}
	}
	mode, given := options["trigger_mode"]
	if _, ok := mode.(triggerMode); given && !ok {
		return nil, refused("trigger_mode", fmt.Errorf("got %s, want TriggerMode", mode.Type()))
	}
	for _, parameter := range []string{"resource_deps", "objects"} {
		if value, given := options[parameter]; given {
			if _, ok := value.(starlark.Sequence); !ok {
				return nil, refused(parameter, fmt.Errorf("got %s, want starlark.Sequence", value.Type()))
			}
		}
	}
	autoInit, given := options["auto_init"]
	if _, ok := autoInit.(starlark.Bool); given && !ok && autoInit != starlark.None {
		return nil, refused("auto_init", fmt.Errorf("expected starlark.Bool or None, got %s", tiltTypeName(autoInit)))
	}
	if value, given := options["pod_readiness"]; given {
		if err := checkPodReadiness(value); err != nil {
			return nil, refused("pod_readiness", err)
		}
	}
	if opts.links, err = linkList(options["links"]); err != nil {
		return nil, refused("links", err)
	}
	if opts.labels, err = labelList(options["labels"]); err != nil {
		return nil, refused("labels", err)
	}
	if value, given := options["discovery_strategy"]; given {
		if opts.discoveryStrategy, err = discoveryStrategy(value); err != nil {
			return nil, refused("discovery_strategy", err)
		}
	}

	resource := opts.workload
	if opts.workload == "" {
		// No workload: a new resource of objects, named new_name.
		resource, opts.workload, opts.manuallyGrouped = opts.newName, opts.newName, true
	}
	if resource == "" {
		return nil, errors.New("Resource name missing. Must give a name for an existing resource or a new_name to create a new resource.")
	}
	if opts.portForwards, err = portForwards(options["port_forwards"]); err != nil {
		return nil, fmt.Errorf("%s %q: %w", fn.Name(), resource, err)
	}
	if opts.extraPodSelectors, err = podSelectors(options["extra_pod_selectors"]); err != nil {
		return nil, err
	}
	if opts.resourceDeps, err = stringSequence(options["resource_deps"]); err != nil {
		return nil, fmt.Errorf("%s: resource_deps: %w", fn.Name(), err)
	}
	if opts.objects, err = stringSequence(options["objects"]); err != nil {
		return nil, fmt.Errorf("%s: objects: %w", fn.Name(), err)
	}
	if opts.manuallyGrouped && len(opts.objects) == 0 {
		return nil, errors.New("k8s_resource doesn't specify a workload or any objects. All non-workload resources must specify 1 or more objects")
	}
	if err := r.needsKubernetesApply(fn); err != nil {
		return nil, err
	}
	// A KubernetesApply is applied when it is registered: nothing waits for a trigger.
	if mode == triggerModeManual {
		r.warn(fmt.Sprintf("k8s_resource %s: trigger_mode has no effect here: a KubernetesApply is applied when the Tiltfile has run", resource))
	}
	if autoInit == starlark.False {
		r.warn(fmt.Sprintf("k8s_resource %s: auto_init has no effect here: a KubernetesApply is applied when the Tiltfile has run", resource))
	}
	r.k8s.options = append(r.k8s.options, opts)
	return starlark.None, nil
}

// resourceName is a workload or new_name as Tilt takes it: text that is a path segment.
func resourceName(value starlark.Value) (string, error) {
	name, ok := textOf(value)
	if !ok {
		return "", fmt.Errorf("Value should be convertible to string, but is type %s", value.Type())
	}
	var problem string
	switch {
	case name == "." || name == "..":
		problem = fmt.Sprintf("may not be '%s'", name)
	case strings.Contains(name, "/"):
		problem = "may not contain '/'"
	case strings.Contains(name, "%"):
		problem = "may not contain '%'"
	default:
		return name, nil
	}
	return "", fmt.Errorf("invalid value %q: %s", name, problem)
}

// checkPodReadiness is pod_readiness as Tilt checks it. Nothing here waits on a resource's pods,
// so the mode itself is not recorded.
func checkPodReadiness(value starlark.Value) error {
	mode, ok := textOf(value)
	if !ok {
		return fmt.Errorf("Must be a string. Got: %s", value.Type())
	}
	switch mode {
	case "ignore", "wait", "succeeded", "":
		return nil
	}
	return fmt.Errorf("Invalid value. Allowed: {ignore, wait}. Got: %s", mode)
}

// discoveryStrategy is discovery_strategy as Tilt checks it: "", "default" or "selectors-only".
func discoveryStrategy(value starlark.Value) (string, error) {
	strategy, ok := textOf(value)
	if !ok {
		return "", fmt.Errorf("Must be a string. Got: %s", value.Type())
	}
	switch strategy {
	case "", "default", "selectors-only":
		return strategy, nil
	}
	return "", errors.New(`Invalid. Must be one of: "default", "selectors-only"`)
}

// podSelectors is extra_pod_selectors: a dict of label strings, or a list of them (empty ones dropped).
func podSelectors(value starlark.Value) ([]map[string]string, error) {
	var dicts []*starlark.Dict
	switch v := value.(type) {
	case nil:
		return nil, nil
	case *starlark.Dict:
		dicts = []*starlark.Dict{v}
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			dict, ok := v.Index(i).(*starlark.Dict)
			if !ok {
				return nil, fmt.Errorf("pod labels elements must be dicts; got %s", tiltTypeName(v.Index(i)))
			}
			dicts = append(dicts, dict)
		}
	default:
		return nil, fmt.Errorf("pod labels must be a dict or a list; got %s", tiltTypeName(value))
	}
	var selectors []map[string]string
	for _, dict := range dicts {
		selector := map[string]string{}
		for _, item := range dict.Items() {
			key, ok := item[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("pod label keys must be strings; got '%s' of type %s", item[0], tiltTypeName(item[0]))
			}
			label, ok := item[1].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("pod label values must be strings; got '%s' of type %s", item[1], tiltTypeName(item[1]))
			}
			selector[string(key)] = string(label)
		}
		if len(selector) > 0 {
			selectors = append(selectors, selector)
		}
	}
	return selectors, nil
}

// portForward is Tilt's port_forward value: one forward of a k8s resource, as a KubernetesApply's
// portForwardTemplateSpec records it.
type portForward struct {
	localPort, containerPort int
	host, name, path         string
}

var _ starlark.Value = portForward{}

func (f portForward) String() string {
	return fmt.Sprintf("port_forward(local_port=%d, container_port=%d, name=%q)", f.localPort, f.containerPort, f.name)
}
func (f portForward) Type() string          { return "port_forward" }
func (f portForward) Freeze()               {}
func (f portForward) Truth() starlark.Bool  { return f != portForward{} }
func (f portForward) Hash() (uint32, error) { return 0, errors.New("unhashable type: port_forward") }

// forward is the port forward in Tilt's Forward shape: containerPort and host always, the rest
// when set.
func (f portForward) forward() *starlark.Dict {
	values := map[string]starlark.Value{"containerPort": starlark.MakeInt(f.containerPort)}
	texts := map[string]string{"host": f.host}
	if f.localPort != 0 {
		values["localPort"] = starlark.MakeInt(f.localPort)
	}
	if f.name != "" {
		texts["name"] = f.name
	}
	if f.path != "" {
		texts["path"] = f.path
	}
	return stringDict(texts, values)
}

// builtinPortForward is Tilt's port_forward(local_port, container_port=0, name="", link_path="", host="").
func builtinPortForward(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var forward portForward
	var linkPath string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "local_port", &forward.localPort,
		"container_port?", &forward.containerPort, "name?", &forward.name, "link_path?", &linkPath,
		"host?", &forward.host); err != nil {
		return nil, err
	}
	if linkPath != "" {
		parsed, err := url.Parse(linkPath)
		if err != nil {
			return nil, fmt.Errorf("parsing `path` param: %w", err)
		}
		forward.path = strings.TrimPrefix(parsed.String(), "/")
	}
	return forward, nil
}

// portForwards is port_forwards: an int, a string ("[host:]local[:container]"), a port_forward,
// or a sequence of them.
func portForwards(value starlark.Value) ([]portForward, error) {
	switch v := value.(type) {
	case nil, starlark.NoneType:
		return nil, nil
	case starlark.Int, starlark.String, portForward:
		forward, err := onePortForward(v)
		if err != nil {
			return nil, err
		}
		return []portForward{forward}, nil
	case starlark.Sequence:
		var forwards []portForward
		for _, item := range valueOrSequence(v) {
			switch item.(type) {
			case starlark.Int, starlark.String, portForward:
			default:
				return nil, fmt.Errorf("port_forwards arg %v includes element %v which must be an int or a port_forward; is a %s",
					v, item, tiltTypeName(item))
			}
			forward, err := onePortForward(item)
			if err != nil {
				return nil, err
			}
			forwards = append(forwards, forward)
		}
		return forwards, nil
	}
	return nil, fmt.Errorf("port_forwards must be an int, a port_forward, or a sequence of those; is a %s", tiltTypeName(value))
}

const maxPort = 65535

// validPortHost is a host a port forward string may bind to: an IPv4 address or a host name.
var validPortHost = regexp.MustCompile(
	`^(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$` +
		`|^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$`)

func onePortForward(value starlark.Value) (portForward, error) {
	switch v := value.(type) {
	case portForward:
		return v, nil
	case starlark.Int:
		port, ok := v.Int64()
		if !ok {
			return portForward{}, fmt.Errorf("portForward port value %v is not representable as an int64", v)
		}
		if port < 0 || port > maxPort {
			return portForward{}, fmt.Errorf("portForward port value %v is not in the valid range [0-65535]", port)
		}
		return portForward{localPort: int(port)}, nil
	}
	parts := strings.SplitN(string(value.(starlark.String)), ":", 3)
	var forward portForward
	local := parts[0]
	if len(parts) == 3 {
		forward.host, local = parts[0], parts[1]
		if !validPortHost.MatchString(forward.host) {
			// Tilt's message names the local port here.
			return portForward{}, fmt.Errorf("portForward host value %q is not a valid hostname or IP address", local)
		}
	}
	var err error
	if forward.localPort, err = portNumber(local); err != nil {
		return portForward{}, err
	}
	if len(parts) > 1 {
		if forward.containerPort, err = portNumber(parts[len(parts)-1]); err != nil {
			return portForward{}, err
		}
	}
	return forward, nil
}

func portNumber(text string) (int, error) {
	port, err := strconv.Atoi(text)
	if err != nil || port < 0 || port > maxPort {
		return 0, fmt.Errorf("portForward port value %q is not in the valid range [0-65535]", text)
	}
	return port, nil
}
