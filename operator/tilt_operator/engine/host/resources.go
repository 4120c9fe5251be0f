package main

import (
	"fmt"
	"strings"
)

// The run's resources become objects when the Tiltfile has run, as Tilt makes its manifests then
// (docs/design.md, "local_resource" and "The Tiltfile language"), in Tilt's order: the k8s
// resources (a KubernetesApply each), the local resources, then "uncategorized". As Tilt does
// then, a resource_deps entry that names no resource of the run is dropped with a warning, and a
// resource that depends on itself, or a cycle of them, is an error.

// dependent is a resource and its resource_deps, whatever its kind.
type dependent struct {
	name string
	deps *[]string
}

func (r *run) registerResources() error {
	k8s, rest, err := r.assembleK8s()
	if err != nil {
		return err
	}
	var dependents []dependent
	for _, res := range k8s {
		dependents = append(dependents, dependent{res.name, &res.resourceDeps})
	}
	for _, res := range r.localResources {
		dependents = append(dependents, dependent{res.name, &res.resourceDeps})
	}
	if rest != nil {
		dependents = append(dependents, dependent{rest.name, &rest.resourceDeps})
	}
	if err := r.checkDependencies(dependents); err != nil {
		return err
	}
	for _, res := range k8s {
		if err := r.registerK8sResource(res); err != nil {
			return err
		}
	}
	for _, res := range r.localResources {
		if err := r.registerLocalResource(res); err != nil {
			return err
		}
	}
	if rest != nil {
		return r.registerK8sResource(rest)
	}
	return nil
}

// checkDependencies drops the deps that name no resource, with a warning, and refuses a resource
// that depends on itself and a cycle.
func (r *run) checkDependencies(dependents []dependent) error {
	names := map[string]bool{}
	for _, d := range dependents {
		names[d.name] = true
	}
	for _, d := range dependents {
		var known []string
		for _, dep := range *d.deps {
			if dep == d.name {
				return fmt.Errorf("resource %s specified a dependency on itself", d.name)
			}
			if !names[dep] {
				r.warn(fmt.Sprintf("resource %s specified a dependency on unknown resource %s - dependency ignored", d.name, dep))
				continue
			}
			known = append(known, dep)
		}
		*d.deps = known
	}
	if cycle := dependencyCycle(dependents); cycle != nil {
		return fmt.Errorf("cycle detected in resource dependency graph: %s", strings.Join(cycle, " -> "))
	}
	return nil
}

// dependencyCycle is a cycle of resource_deps, from a resource back to it (nil: there is none),
// found from the first resource in Tilt's order that is in one.
func dependencyCycle(dependents []dependent) []string {
	deps := map[string][]string{}
	for _, d := range dependents {
		deps[d.name] = *d.deps
	}
	done := map[string]bool{}
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		for i, on := range path {
			if on == name {
				return append(append([]string{}, path[i:]...), name)
			}
		}
		if done[name] {
			return nil
		}
		path = append(path, name)
		for _, dep := range deps[name] {
			if cycle := visit(dep); cycle != nil {
				return cycle
			}
		}
		path = path[:len(path)-1]
		done[name] = true
		return nil
	}
	for _, d := range dependents {
		if cycle := visit(d.name); cycle != nil {
			return cycle
		}
	}
	return nil
}

// registerK8sResource registers the resource's KubernetesApply, after the FileWatch of a custom
// deploy's deps.
func (r *run) registerK8sResource(res *k8sResource) error {
	kwargs, err := res.kubernetesApply()
	if err != nil {
		return fmt.Errorf("k8s resource %s: %w", res.name, err)
	}
	kwargs = append(kwargs, kw("timeout", r.k8s.applyTimeout())...)
	objects := []pendingObject{{kubernetesApplyBuiltin, kwargs}}
	if deploy := res.customDeploy; deploy != nil && len(deploy.deps) > 0 {
		watch := pendingObject{"file_watch", kw("name", customDeployFileWatch(res.name),
			"annotations", stringDict(res.annotations(), nil), "watched_paths", textList(deploy.deps))}
		objects = append([]pendingObject{watch}, objects...)
	}
	return r.registerObjects("k8s resource", res.name, objects)
}

// registerLocalResource registers the local resource's objects (localresource.go).
func (r *run) registerLocalResource(res *localResource) error {
	objects, err := res.objects(r.defaultTriggerMode)
	if err != nil {
		return err
	}
	return r.registerObjects("local_resource", res.name, objects)
}

// registerObjects builds and registers a resource's objects; an error names the resource.
func (r *run) registerObjects(what, name string, objects []pendingObject) error {
	for _, object := range objects {
		k, ok := r.kinds.byName[object.kind]
		if !ok {
			return fmt.Errorf("%s %s: no %s CRD is installed", what, name, object.kind)
		}
		obj, err := k.build(nil, object.kwargs)
		if err == nil {
			err = r.registry.add(k, obj)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, name, err)
		}
	}
	return nil
}
