package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// The Kubernetes objects k8s_yaml reads, and what Tilt's engine sees in them to group them into
// resources (docs/design.md, "The Tiltfile language"): their identity, the pod templates and
// container images of the built-in workload kinds, and the selector of a Service. Tilt decodes
// the kinds Kubernetes itself defines into Go types; only those have pod templates and container
// images for it, and a template is there even when the YAML leaves it out. Every other object is
// data, where only the image locators of k8s_kind and k8s_image_json_path find images.

// k8sObject is one object of a k8s_yaml call, as it was read.
type k8sObject struct {
	data map[string]any
}

// coreGroup is how Tilt's selectors spell the group of apiVersion "v1".
const coreGroup = "core"

// defaultNamespace is the namespace of an object that names none, as Tilt's engine counts it.
const defaultNamespace = "default"

func (o *k8sObject) field(path ...string) any {
	var value any = o.data
	for _, key := range path {
		node, _ := value.(map[string]any)
		value = node[key]
	}
	return value
}

func (o *k8sObject) text(path ...string) string {
	text, _ := o.field(path...).(string)
	return text
}

func (o *k8sObject) apiVersion() string   { return o.text("apiVersion") }
func (o *k8sObject) kind() string         { return o.text("kind") }
func (o *k8sObject) name() string         { return o.text("metadata", "name") }
func (o *k8sObject) rawNamespace() string { return o.text("metadata", "namespace") }

// namespace is the object's namespace, "default" when it names none (a cluster-scoped object too).
func (o *k8sObject) namespace() string {
	if namespace := o.rawNamespace(); namespace != "" {
		return namespace
	}
	return defaultNamespace
}

// group is the API group: apiVersion before its "/", "" for the core group.
func (o *k8sObject) group() string {
	group, _, found := strings.Cut(o.apiVersion(), "/")
	if !found {
		return ""
	}
	return group
}

// address is what makes two objects the same object: k8s_yaml refuses a second one.
func (o *k8sObject) address() [4]string {
	return [4]string{o.apiVersion(), o.kind(), o.rawNamespace(), o.name()}
}

// described is the object in a duplicate's error: "Service doggos", with its namespace when it has one.
func (o *k8sObject) described() string {
	if namespace := o.rawNamespace(); namespace != "" {
		return fmt.Sprintf("%s %s (Namespace: %s)", o.kind(), o.name(), namespace)
	}
	return fmt.Sprintf("%s %s", o.kind(), o.name())
}

// id is the object as Tilt names a workload in errors: name:kind:namespace:group, lower case.
func (o *k8sObject) id() string {
	return strings.ToLower(strings.Join([]string{o.name(), o.kind(), o.namespace(), o.group()}, ":"))
}

// fullName is the selector that names the object, name:kind:namespace, as Tilt lists them.
func (o *k8sObject) fullName() string {
	return joinSelector([]string{o.name(), o.kind(), o.namespace()})
}

// potentialNames are the object's names from the shortest to the longest (name, name:kind,
// name:kind:namespace, name:kind:namespace:group), lower case: a workload's resource is named by
// the shortest that no other workload wants, and k8s_resource(objects=...) finds an object by any.
func (o *k8sObject) potentialNames() []string {
	group := o.group()
	if group == "" {
		group = coreGroup
	}
	components := []string{o.name(), o.kind(), o.namespace(), group}
	names := make([]string, len(components))
	for i := range components {
		names[i] = strings.ToLower(joinSelector(components[:i+1]))
	}
	return names
}

// typedKind is a built-in kind with pods: where its pod template is (none for a Pod) and whether
// the template is there even when the YAML leaves it out (Tilt's Go type holds it by value).
type typedKind struct {
	template []string
	always   bool
}

var templateInSpec = typedKind{template: []string{"spec", "template"}, always: true}

// typedKinds are the built-in kinds Tilt decodes with a pod template or a pod spec, by
// apiVersion and kind.
var typedKinds = map[[2]string]typedKind{
	{"v1", "Pod"}:                        {},
	{"v1", "PodTemplate"}:                {template: []string{"template"}, always: true},
	{"v1", "ReplicationController"}:      {template: []string{"spec", "template"}},
	{"apps/v1", "Deployment"}:            templateInSpec,
	{"apps/v1", "ReplicaSet"}:            templateInSpec,
	{"apps/v1", "StatefulSet"}:           templateInSpec,
	{"apps/v1", "DaemonSet"}:             templateInSpec,
	{"apps/v1beta2", "Deployment"}:       templateInSpec,
	{"apps/v1beta2", "ReplicaSet"}:       templateInSpec,
	{"apps/v1beta2", "StatefulSet"}:      templateInSpec,
	{"apps/v1beta2", "DaemonSet"}:        templateInSpec,
	{"apps/v1beta1", "Deployment"}:       templateInSpec,
	{"apps/v1beta1", "StatefulSet"}:      templateInSpec,
	{"extensions/v1beta1", "Deployment"}: templateInSpec,
	{"extensions/v1beta1", "ReplicaSet"}: templateInSpec,
	{"extensions/v1beta1", "DaemonSet"}:  templateInSpec,
	{"batch/v1", "Job"}:                  templateInSpec,
	{"batch/v1", "CronJob"}:              {template: []string{"spec", "jobTemplate", "spec", "template"}, always: true},
	{"batch/v1beta1", "CronJob"}:         {template: []string{"spec", "jobTemplate", "spec", "template"}, always: true},
}

// podTemplate is the object's pod template (empty when the YAML leaves it out), and whether it
// has one.
func (o *k8sObject) podTemplate() (map[string]any, bool) {
	typed, ok := typedKinds[[2]string{o.apiVersion(), o.kind()}]
	if !ok || typed.template == nil {
		return nil, false
	}
	template, _ := o.field(typed.template...).(map[string]any)
	if template == nil && !typed.always {
		return nil, false
	}
	return template, true
}

// templateLabels are the labels of the pods the object's template makes.
func (o *k8sObject) templateLabels() map[string]any {
	template, _ := o.podTemplate()
	metadata, _ := template["metadata"].(map[string]any)
	labels, _ := metadata["labels"].(map[string]any)
	return labels
}

// images are the images of the object's containers and image volumes, and those the locators find
// in it (k8skinds.go): those Tilt's engine finds, so an object with any is a workload. An image
// that is no reference is an error naming it.
func (o *k8sObject) images(locators []*imageLocator) ([]string, error) {
	var podSpec map[string]any
	if template, ok := o.podTemplate(); ok {
		podSpec, _ = template["spec"].(map[string]any)
	} else if typed, ok := typedKinds[[2]string{o.apiVersion(), o.kind()}]; ok && typed.template == nil {
		podSpec, _ = o.field("spec").(map[string]any) // a Pod
	}
	var images []string
	for _, list := range []string{"containers", "initContainers"} {
		containers, _ := podSpec[list].([]any)
		for _, item := range containers {
			container, _ := item.(map[string]any)
			image, _ := container["image"].(string)
			if err := checkImageReference(image); err != nil {
				return nil, fmt.Errorf("parsing %s: %w", image, err)
			}
			images = append(images, image)
		}
	}
	volumes, _ := podSpec["volumes"].([]any)
	for _, item := range volumes {
		volume, _ := item.(map[string]any)
		source, _ := volume["image"].(map[string]any)
		image, _ := source["reference"].(string)
		if image == "" {
			continue
		}
		if err := checkImageReference(image); err != nil {
			return nil, fmt.Errorf("parsing image volume reference %s: %w", image, err)
		}
		images = append(images, image)
	}
	for _, locator := range locators {
		found, err := locator.images(o)
		if err != nil {
			return nil, err
		}
		images = append(images, found...)
	}
	return images, nil
}

// selects is whether the object is a Service whose selector picks pods with these labels, in the
// namespace of the workload that makes them (a Service that names no namespace is anywhere's).
func (o *k8sObject) selects(labels map[string]any, namespace string) bool {
	if o.apiVersion() != "v1" || o.kind() != "Service" {
		return false
	}
	selector, _ := o.field("spec", "selector").(map[string]any)
	if len(selector) == 0 {
		return false
	}
	for key, want := range selector {
		wanted, _ := want.(string)
		if have, ok := labels[key].(string); !ok || have != wanted {
			return false
		}
	}
	return o.namespace() == defaultNamespace || o.namespace() == namespace
}

// yamlText is the object as one YAML document, keys sorted.
func (o *k8sObject) yamlText() (string, error) {
	text, err := yaml.Marshal(o.data)
	if err != nil {
		return "", fmt.Errorf("serializing %s: %w", o.fullName(), err)
	}
	return string(text), nil
}

// parseK8sYAML is every object of a YAML (or JSON) stream, as Tilt's engine decodes it: an empty
// document is skipped, a List is its items, a document must be an object with a kind and an
// apiVersion, and a Secret's data must be base64.
func parseK8sYAML(text string) ([]*k8sObject, error) {
	documents, err := yamlDocuments(text)
	if err != nil {
		return nil, err
	}
	var objects []*k8sObject
	for _, document := range documents {
		decoded, err := decodeYAMLDocument(document)
		if err != nil {
			return nil, err
		}
		if decoded == nil {
			continue
		}
		found, err := k8sObjectsOf(decoded)
		if err != nil {
			return nil, err
		}
		objects = append(objects, found...)
	}
	return objects, nil
}

// k8sObjectsOf is one decoded document as objects: itself, or a List's items.
func k8sObjectsOf(decoded any) ([]*k8sObject, error) {
	raw, _ := json.Marshal(decoded)
	data, ok := decoded.(map[string]any)
	if !ok {
		// What Kubernetes' decoder says of a document that is no object.
		var typeMeta struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
		}
		err := json.Unmarshal(raw, &typeMeta)
		return nil, fmt.Errorf("couldn't get version/kind; json parse error: %v", err)
	}
	object := &k8sObject{data: data}
	if object.kind() == "" {
		return nil, fmt.Errorf("Object 'Kind' is missing in '%s'", raw)
	}
	if object.apiVersion() == "" {
		return nil, fmt.Errorf("decoding %s %q: Object 'apiVersion' is missing in '%s'", object.kind(), object.name(), raw)
	}
	if object.apiVersion() == "v1" && object.kind() == "List" {
		items, _ := data["items"].([]any)
		var objects []*k8sObject
		for _, item := range items {
			if item == nil {
				continue
			}
			found, err := k8sObjectsOf(item)
			if err != nil {
				return nil, err
			}
			objects = append(objects, found...)
		}
		return objects, nil
	}
	if object.apiVersion() == "v1" && object.kind() == "Secret" {
		secretData, _ := data["data"].(map[string]any)
		for _, key := range sortedKeys(secretData) {
			if encoded, ok := secretData[key].(string); ok {
				if _, err := base64.StdEncoding.DecodeString(encoded); err != nil {
					return nil, fmt.Errorf("decoding Secret %q: %w", object.name(), err)
				}
			}
		}
	}
	return []*k8sObject{object}, nil
}

// Tilt's selectors join their parts with ':', escaping ':' and '\' in a part with '\'.
const (
	selectorDelimiter = ':'
	selectorEscape    = '\\'
)

func joinSelector(parts []string) string {
	escaped := make([]string, len(parts))
	for i, part := range parts {
		part = strings.ReplaceAll(part, string(selectorEscape), string(selectorEscape)+string(selectorEscape))
		escaped[i] = strings.ReplaceAll(part, string(selectorDelimiter), string(selectorEscape)+string(selectorDelimiter))
	}
	return strings.Join(escaped, string(selectorDelimiter))
}

// splitSelector undoes joinSelector; any other escape is an error that shows where it is.
func splitSelector(selector string) ([]string, error) {
	var parts []string
	var current strings.Builder
	escaping := false
	for i, r := range selector {
		switch {
		case escaping && (r == selectorDelimiter || r == selectorEscape):
			current.WriteRune(r)
			escaping = false
		case escaping:
			start, end := max(i-3, 0), min(i+3, len(selector))
			return nil, fmt.Errorf("invalid escape sequence '%c%c' in '%s'", selectorEscape, r, selector[start:end])
		case r == selectorDelimiter:
			parts = append(parts, current.String())
			current.Reset()
		case r == selectorEscape:
			escaping = true
		default:
			current.WriteRune(r)
		}
	}
	return append(parts, current.String()), nil
}
