package main

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// Tilt's v1alpha1.*_spec helpers: one per nested type, named as Tilt names it (after its Go
// type: StartOnSpec -> start_on_spec), taking that type's fields in snake_case and returning a
// struct that any kind's builtin accepts where that type goes. The CRD schemas carry no Go type
// names, so this table names the schema node each of Tilt's types is; the fields, their checks
// and their spellings all come from the CRDs, as the kinds' builtins do.
var specTypes = []struct{ helper, kind, path string }{
	{"start_on_spec", "Cmd", "startOn"},
	{"restart_on_spec", "Cmd", "restartOn"},
	{"ui_component_location", "UIButton", "location"},
	{"ui_input_spec", "UIButton", "inputs[]"},
	{"ui_text_input_spec", "UIButton", "inputs[].text"},
	{"ui_bool_input_spec", "UIButton", "inputs[].bool"},
	{"ui_hidden_input_spec", "UIButton", "inputs[].hidden"},
	{"ui_choice_input_spec", "UIButton", "inputs[].choice"},
	{"ignore_def", "FileWatch", "ignores[]"},
}

// tiltOnlyV1alpha1 are Tilt's other v1alpha1 builtins: kinds and types of Tilt's own API server
// that no CRD of this operator defines.
var tiltOnlyV1alpha1 = []string{
	"config_map", "config_map_disable_source", "disable_source", "exec_action", "forward",
	"handler", "http_get_action", "http_header", "kubernetes_apply", "kubernetes_apply_cmd",
	"kubernetes_discovery", "kubernetes_discovery_template_spec", "kubernetes_image_locator",
	"kubernetes_image_object_descriptor", "kubernetes_watch_ref", "label_selector",
	"label_selector_requirement", "object_selector", "pod_log_stream_template_spec",
	"port_forward_template_spec", "probe", "tcp_socket_action",
}

func (r *run) addSpecs(add func(string, builtinFunc)) {
	for _, spec := range specTypes {
		k, ok := r.kinds.byName[snakeCase(spec.kind)]
		var node schema
		if ok {
			node = k.spec.at(spec.path)
		}
		if node == nil {
			add("v1alpha1."+spec.helper, missingCRD(spec.kind))
			continue
		}
		add("v1alpha1."+spec.helper, specHelper(node))
	}
	for _, name := range tiltOnlyV1alpha1 {
		add("v1alpha1."+name, tiltOnly)
	}
}

// at is the schema node at a path of field names; "[]" steps into a list's items.
func (s schema) at(path string) schema {
	node := s
	for _, step := range strings.Split(path, ".") {
		field, items := strings.CutSuffix(step, "[]")
		node = node.properties()[field]
		if items && node != nil {
			node = node.child("items")
		}
		if node == nil {
			return nil
		}
	}
	return node
}

// specHelper checks its arguments against the node's schema and returns them as a struct.
func specHelper(node schema) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("%s: takes keyword arguments only", fn.Name())
		}
		spellings := map[string]string{}
		for field := range node.properties() {
			spellings[snakeCase(field)] = field
		}
		items := make([]keyValue, len(kwargs))
		for i, pair := range kwargs {
			items[i] = keyValue{string(pair[0].(starlark.String)), pair[1]}
		}
		checked, err := checkFields(items, node, spellings, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		fields := make([]any, 0, 2*len(checked))
		for _, field := range sortedKeys(checked) {
			fields = append(fields, field, toStarlark(checked[field]))
		}
		return typedStruct(strings.TrimPrefix(fn.Name(), "v1alpha1."), fields...), nil
	}
}

func missingCRD(kind string) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return nil, fmt.Errorf("%s: no %s CRD with that field is installed", fn.Name(), kind)
	}
}

func tiltOnly(_ *starlark.Thread, fn *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	return nil, fmt.Errorf("%s: this kind belongs to Tilt's own API server, and no CRD of this operator defines it", fn.Name())
}
