package main

import (
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// Each k8s resource is one KubernetesApply, as in Tilt (docs/design.md, "The Tiltfile
// language"): named after the resource (docs/design.md, "Names"), with tilt.dev/resource holding
// Tilt's name; spec.yaml is the resource's objects as YAML documents, in the order Tilt applies
// them; spec.cluster is "default", the operator's own cluster. k8s_resource's discovery_strategy,
// port_forwards and extra_pod_selectors are Tilt's spec fields for them, and so are the image
// locators of k8s_kind and k8s_image_json_path (spec.imageLocators); resource_deps, links and
// labels are the annotations local_resource's objects carry.

// kindOrder is the order Tilt applies kinds in: these first, in this order, then every other kind;
// objects of one rank stay in the order the resource has them.
var kindOrder = []string{
	"Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "MutatingWebhookConfiguration",
	"ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
	"PersistentVolume", "PersistentVolumeClaim", "ConfigMap", "Secret", "Service", "LimitRange",
	"PriorityClass", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
}

func kindRank(kind string) int {
	for i, first := range kindOrder {
		if kind == first {
			return i
		}
	}
	return len(kindOrder)
}

// specYAML is the resource's objects in Tilt's order, as YAML documents joined by "---\n".
func (res *k8sResource) specYAML() (string, error) {
	objects := append([]*k8sObject{}, res.objects...)
	sort.SliceStable(objects, func(i, j int) bool { return kindRank(objects[i].kind()) < kindRank(objects[j].kind()) })
	documents := make([]string, len(objects))
	for i, object := range objects {
		text, err := object.yamlText()
		if err != nil {
			return "", err
		}
		documents[i] = text
	}
	return strings.Join(documents, "---\n"), nil
}

// annotations are what the resource's objects say of it (resourceAnnotations).
func (res *k8sResource) annotations() map[string]string {
	labels := make([]string, 0, len(res.labels))
	for label := range res.labels {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	return resourceAnnotations(res.name, res.resourceDeps, res.links, labels)
}

// kubernetesApply is the resource as the KubernetesApply builtin's keyword arguments: its YAML,
// or, for k8s_custom_deploy, its commands and the FileWatch of its deps (restartOn).
func (res *k8sResource) kubernetesApply() ([]starlark.Tuple, error) {
	kwargs := kw("name", res.name, "annotations", stringDict(res.annotations(), nil), "cluster", defaultCluster)
	if deploy := res.customDeploy; deploy != nil {
		kwargs = append(kwargs, kw("apply_cmd", applyCommand(deploy.applyCmd), "delete_cmd", applyCommand(deploy.deleteCmd))...)
		if len(deploy.deps) > 0 {
			watches := textList([]string{customDeployFileWatch(res.name)})
			kwargs = append(kwargs, kw("restart_on", stringDict(nil, map[string]starlark.Value{"file_watches": watches}))...)
		}
	} else {
		text, err := res.specYAML()
		if err != nil {
			return nil, err
		}
		kwargs = append(kwargs, kw("yaml", text)...)
	}
	if res.discoveryStrategy != "" {
		kwargs = append(kwargs, kw("discovery_strategy", res.discoveryStrategy)...)
	}
	if len(res.portForwards) > 0 {
		forwards := make([]starlark.Value, len(res.portForwards))
		for i, forward := range res.portForwards {
			forwards[i] = forward.forward()
		}
		spec := stringDict(nil, map[string]starlark.Value{"forwards": starlark.NewList(forwards)})
		kwargs = append(kwargs, kw("port_forward_template_spec", spec)...)
	}
	if len(res.imageLocators) > 0 {
		locators := make([]starlark.Value, len(res.imageLocators))
		for i, locator := range res.imageLocators {
			locators[i] = locator.spec()
		}
		kwargs = append(kwargs, kw("image_locators", starlark.NewList(locators))...)
	}
	if len(res.extraPodSelectors) > 0 {
		selectors := make([]starlark.Value, len(res.extraPodSelectors))
		for i, labels := range res.extraPodSelectors {
			selectors[i] = stringDict(nil, map[string]starlark.Value{"matchLabels": stringDict(labels, nil)})
		}
		spec := stringDict(nil, map[string]starlark.Value{"extraSelectors": starlark.NewList(selectors)})
		kwargs = append(kwargs, kw("kubernetes_discovery_template_spec", spec)...)
	}
	return kwargs, nil
}
