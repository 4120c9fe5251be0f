package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// Builtins generated from the tilt.dev CRDs: one function per kind, named after the kind in
// snake_case (ExtensionRepo -> extension_repo, UIButton -> ui_button), taking name, labels,
// annotations and the spec fields in snake_case. This is the one place the CRD schemas become
// Tiltfile arguments: `kubectl tilt create` calls the same builtins through the host.

const apiGroup = "tilt.dev"

// specPrefix reaches a spec field whose snake_case name is taken by a metadata argument
// (Tiltfile's spec.labels): tiltfile(name=..., labels=..., spec_labels=...).
const specPrefix = "spec_"

var metadataArguments = []string{"name", "labels", "annotations"}

var wordBoundary = regexp.MustCompile(`([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])`)

// snakeCase: ExtensionRepo -> extension_repo, UIButton -> ui_button, componentID -> component_id.
func snakeCase(name string) string {
	// Two passes, since a boundary's letters may start the next match.
	for range 2 {
		name = wordBoundary.ReplaceAllString(name, "${1}${3}_${2}${4}")
	}
	return strings.ToLower(name)
}

// kind is one generated builtin: its name, what it builds, and its snake_case arguments.
type kind struct {
	builtin    string
	kind       string
	apiVersion string
	spec       schema
	arguments  map[string]string // snake_case argument -> camelCase spec field
}

// kindSet is the builtins of one set of CRDs, named by the operator's digest of them.
type kindSet struct {
	digest  string
	byName  map[string]*kind
	ordered []*kind
}

type crd struct {
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name    string `json:"name"`
			Storage bool   `json:"storage"`
			Schema  struct {
				OpenAPIV3Schema schema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// newKindSet makes one builtin per tilt.dev CRD; CRDs of other groups are ignored. Two kinds or
// fields with the same snake_case name are a bug in the CRDs and an error here.
func newKindSet(digest string, documents []json.RawMessage) (*kindSet, error) {
	set := &kindSet{digest: digest, byName: map[string]*kind{}}
	for _, document := range documents {
		var c crd
		if err := json.Unmarshal(document, &c); err != nil {
			return nil, fmt.Errorf("internal error: a CRD the host cannot read: %v", err)
		}
		if c.Spec.Group != apiGroup || len(c.Spec.Versions) == 0 {
			continue
		}
		k, err := newKind(&c)
		if err != nil {
			return nil, err
		}
		if other, ok := set.byName[k.builtin]; ok {
			return nil, fmt.Errorf("kinds %s and %s both map to builtin %s", other.kind, k.kind, k.builtin)
		}
		set.byName[k.builtin] = k
		set.ordered = append(set.ordered, k)
	}
	sort.Slice(set.ordered, func(i, j int) bool { return set.ordered[i].builtin < set.ordered[j].builtin })
	return set, nil
}

func newKind(c *crd) (*kind, error) {
	// The storage version: the one the API server keeps, so the one objects are written in.
	version := c.Spec.Versions[0]
	for _, v := range c.Spec.Versions {
		if v.Storage {
			version = v
		}
	}
	spec := version.Schema.OpenAPIV3Schema.properties()["spec"]
	if spec == nil {
		spec = schema{"type": "object"}
	}
	k := &kind{
		builtin:    snakeCase(c.Spec.Names.Kind),
		kind:       c.Spec.Names.Kind,
		apiVersion: c.Spec.Group + "/" + version.Name,
		spec:       spec,
		arguments:  map[string]string{},
	}
	for field := range spec.properties() {
		argument := snakeCase(field)
		if isMetadataArgument(argument) {
			argument = specPrefix + argument
		}
		if other, ok := k.arguments[argument]; ok {
			return nil, fmt.Errorf("%s: spec fields %s and %s both map to %s", k.kind, other, field, argument)
		}
		k.arguments[argument] = field
	}
	return k, nil
}

func isMetadataArgument(name string) bool {
	for _, argument := range metadataArguments {
		if name == argument {
			return true
		}
	}
	return false
}

// build is the Kubernetes object a call describes, or an error that starts with the builtin and
// says what to fix. Only name may be positional; an argument set to None counts as not given.
func (k *kind) build(args starlark.Tuple, kwargs []starlark.Tuple) (map[string]any, error) {
	if len(args) > 1 {
		return nil, fmt.Errorf("%s: only 'name' may be positional, got %d positional arguments", k.builtin, len(args))
	}
	given := map[string]starlark.Value{}
	var order []string
	for _, pair := range kwargs {
		key := string(pair[0].(starlark.String))
		if pair[1] != starlark.None {
			given[key] = pair[1]
			order = append(order, key)
		}
	}
	if len(args) == 1 {
		for _, pair := range kwargs {
			if string(pair[0].(starlark.String)) == "name" {
				return nil, fmt.Errorf("%s: got multiple values for argument 'name'", k.builtin)
			}
		}
		if args[0] != starlark.None {
			given["name"] = args[0]
		}
	}
	obj, err := k.object(given, order)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.builtin, err)
	}
	return obj, nil
}

func (k *kind) object(given map[string]starlark.Value, order []string) (map[string]any, error) {
	nameValue, ok := given["name"]
	if !ok {
		return nil, fmt.Errorf("missing required argument 'name'")
	}
	tiltName, err := check(nameValue, schema{"type": "string", "minLength": 1.0}, "name")
	if err != nil {
		return nil, err
	}
	metadata := map[string]any{}
	for _, key := range []string{"labels", "annotations"} {
		if value, ok := given[key]; ok {
			checked, err := check(value, stringMap, key)
			if err != nil {
				return nil, err
			}
			metadata[key] = checked
		}
	}
	if err := named(metadata, tiltName.(string)); err != nil {
		return nil, err
	}
	arguments := []keyValue{}
	for _, key := range order {
		if !isMetadataArgument(key) {
			arguments = append(arguments, keyValue{key, given[key]})
		}
	}
	body, err := checkFields(arguments, k.spec, k.arguments, "")
	if err != nil {
		return nil, err
	}
	mapped, err := mapReferences(body, "")
	if err != nil {
		return nil, err
	}
	return map[string]any{"apiVersion": k.apiVersion, "kind": k.kind, "metadata": metadata, "spec": mapped}, nil
}

// callBuiltin is one builtin call with JSON arguments: how `kubectl tilt create` builds objects.
func callBuiltin(kinds *kindSet, call *builtinCall) (map[string]any, error) {
	k, ok := kinds.byName[snakeCase(call.Kind)]
	if !ok || k.kind != call.Kind {
		return nil, fmt.Errorf("no CRD for %s", call.Kind)
	}
	keys := sortedKeys(call.Kwargs)
	kwargs := make([]starlark.Tuple, len(keys))
	for i, key := range keys {
		kwargs[i] = starlark.Tuple{starlark.String(key), toStarlark(call.Kwargs[key])}
	}
	return k.build(nil, kwargs)
}

// registry is a run's registered objects in registration order: registering the same object
// twice is one object; the same name with other arguments is an error.
type registry struct {
	order []map[string]any
	index map[string]int
}

func (r *registry) add(k *kind, obj map[string]any) error {
	name := obj["metadata"].(map[string]any)["name"].(string)
	key := k.kind + "/" + name
	if r.index == nil {
		r.index = map[string]int{}
	}
	if i, ok := r.index[key]; ok {
		before, _ := json.Marshal(r.order[i])
		after, _ := json.Marshal(obj)
		if string(before) != string(after) {
			return fmt.Errorf("%s: %s %s is already registered with different arguments", k.builtin, k.kind, quoted(name))
		}
		return nil
	}
	r.index[key] = len(r.order)
	r.order = append(r.order, obj)
	return nil
}

func (r *registry) objects() []map[string]any {
	if r.order == nil {
		return []map[string]any{}
	}
	return r.order
}
