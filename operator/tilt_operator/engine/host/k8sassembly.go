package main

import (
	"fmt"
	"strings"
)

// How k8s_yaml's objects become resources when the Tiltfile has run, as Tilt's engine assembles
// them (docs/design.md, "The Tiltfile language"):
//
//  0. Each k8s_custom_deploy is a resource of its name, made when it was called, as Tilt makes it.
//  1. Each workload is a resource of its own, named by the shortest of name, name:kind,
//     name:kind:namespace, name:kind:namespace:group that no other workload wants. The Services
//     that select its pods join it. A workload is an object of a kind the run knows (k8s_kind,
//     k8s_image_json_path, and Tilt's own Job and CronJob: k8skinds.go) or one with an image (a
//     container's, or one an image locator finds).
//  2. Each other object with a pod template (a Deployment with no containers yet, say) joins the
//     resource of its name, made when there is none, with the Services that select its pods.
//  3. The k8s_resource calls, in order: each adds its options to the resource it names (or makes
//     a new one for new_name and objects), renames it to new_name, and takes the objects its
//     selectors name ("name", "name:kind" or "name:kind:namespace", case-insensitive, ':' and
//     '\' escaped with '\') from those no resource took.
//  4. What no resource took is the resource "uncategorized".
//
// Each resource of YAML then has the image locators whose selectors match one of its objects.

// uncategorized is Tilt's resource for the objects no other resource took.
const uncategorized = "uncategorized"

// k8sResource is one resource of Kubernetes objects and what k8s_resource recorded for it.
type k8sResource struct {
	name              string
	objects           []*k8sObject
	portForwards      []portForward
	extraPodSelectors []map[string]string
	discoveryStrategy string
	resourceDeps      []string
	links             []map[string]string
	labels            map[string]bool
	// What deploys it when k8s_custom_deploy made it: its objects are then none of its YAML.
	customDeploy *k8sCustomDeploy
	// The image locators whose selectors match one of its objects (k8skinds.go).
	imageLocators []*imageLocator
}

// k8sAssembly is the resources so far, by name, the objects no resource has taken yet, and the
// kinds the run knows, with their image locators.
type k8sAssembly struct {
	run         *run
	resources   []*k8sResource
	byName      map[string]*k8sResource
	unresourced []*k8sObject
	kinds       []*k8sKind
	locators    []*imageLocator
}

// assembleK8s is the run's k8s resources in Tilt's order, and then "uncategorized" (nil when
// every object has a resource).
func (r *run) assembleK8s() ([]*k8sResource, *k8sResource, error) {
	kinds := r.k8s.k8sKinds()
	a := &k8sAssembly{run: r, byName: map[string]*k8sResource{}, unresourced: r.k8s.objects,
		kinds: kinds, locators: imageLocators(kinds)}
	for _, deploy := range r.k8s.customDeploys {
		res, err := a.makeResource(deploy.name)
		if err != nil {
			return nil, nil, fmt.Errorf("error making resource for %s: %w", deploy.name, err)
		}
		res.customDeploy = deploy
	}
	if err := a.byWorkload(); err != nil {
		return nil, nil, err
	}
	if err := a.byPodTemplate(); err != nil {
		return nil, nil, err
	}
	if err := a.applyOptions(r.k8s.options); err != nil {
		return nil, nil, err
	}
	for _, res := range a.resources {
		if len(res.objects) == 0 && res.customDeploy == nil {
			return nil, nil, fmt.Errorf("resource %q: could not associate any k8s_yaml() or k8s_custom_deploy() with this resource", res.name)
		}
		if res.customDeploy == nil {
			res.imageLocators = matchingLocators(a.locators, res.objects)
		}
	}
	if len(a.unresourced) == 0 {
		return a.resources, nil, nil
	}
	rest := &k8sResource{name: uncategorized, objects: a.unresourced}
	rest.imageLocators = matchingLocators(a.locators, rest.objects)
	return a.resources, rest, nil
}

// makeResource is a new resource, unless another resource has the name.
func (a *k8sAssembly) makeResource(name string) (*k8sResource, error) {
	if err := a.conflict(name); err != nil {
		return nil, err
	}
	res := &k8sResource{name: name, labels: map[string]bool{}}
	a.resources = append(a.resources, res)
	a.byName[name] = res
	return res, nil
}

func (a *k8sAssembly) conflict(name string) error {
	if a.byName[name] != nil {
		return fmt.Errorf("k8s_resource named %q already exists", name)
	}
	for _, res := range a.run.localResources {
		if res.name == name {
			return fmt.Errorf("local_resource named %q already exists", name)
		}
	}
	return nil
}

// byWorkload makes a resource of each workload and the Services that select its pods. As in
// Tilt, a workload's images are looked for again when its resource is made: one of a known kind
// was not looked in yet, and what its locators find must be images.
func (a *k8sAssembly) byWorkload() error {
	var workloads, rest []*k8sObject
	for _, object := range a.unresourced {
		workload, err := isWorkload(object, a.kinds, a.locators)
		if err != nil {
			return err
		}
		if workload {
			workloads = append(workloads, object)
		} else {
			rest = append(rest, object)
		}
	}
	a.unresourced = rest
	for i, name := range uniqueNames(workloads) {
		res, err := a.makeResource(name)
		if err != nil {
			return fmt.Errorf("error making resource for workload %s: %w", workloads[i].id(), err)
		}
		if _, err := workloads[i].images(a.locators); err != nil {
			return fmt.Errorf("finding image in %s/%s: %w", workloads[i].kind(), workloads[i].name(), err)
		}
		var services []*k8sObject
		services, a.unresourced = selectedBy(workloads[i], a.unresourced)
		res.objects = append(append(res.objects, workloads[i]), services...)
	}
	return nil
}

// byPodTemplate adds each other object with a pod template to the resource of its name.
func (a *k8sAssembly) byPodTemplate() error {
	var withTemplate, rest []*k8sObject
	for _, object := range a.unresourced {
		if _, ok := object.podTemplate(); ok {
			withTemplate = append(withTemplate, object)
		} else {
			rest = append(rest, object)
		}
	}
	for _, object := range withTemplate {
		res := a.byName[object.name()]
		if res == nil {
			var err error
			if res, err = a.makeResource(object.name()); err != nil {
				return err
			}
		}
		var services []*k8sObject
		services, rest = selectedBy(object, rest)
		res.objects = append(append(res.objects, object), services...)
	}
	a.unresourced = rest
	return nil
}

// selectedBy is the objects that select the pods of object's template, and the others.
func selectedBy(object *k8sObject, objects []*k8sObject) (selecting, rest []*k8sObject) {
	if _, ok := object.podTemplate(); !ok {
		return nil, objects
	}
	labels := object.templateLabels()
	for _, other := range objects {
		if other.selects(labels, object.namespace()) {
			selecting = append(selecting, other)
		} else {
			rest = append(rest, other)
		}
	}
	return selecting, rest
}

// uniqueNames names each workload by the shortest of its potential names no other wants; one
// that has none (the same object twice, with allow_duplicates) gets its index after its longest.
func uniqueNames(workloads []*k8sObject) []string {
	wanted := map[string]int{}
	for _, workload := range workloads {
		for _, name := range workload.potentialNames() {
			wanted[name]++
		}
	}
	names := make([]string, len(workloads))
	for i, workload := range workloads {
		potential := workload.potentialNames()
		names[i] = fmt.Sprintf("%s:%d", potential[len(potential)-1], i)
		for _, name := range potential {
			if wanted[name] == 1 {
				names[i] = name
				break
			}
		}
	}
	return names
}

// applyOptions applies the k8s_resource calls in order.
func (a *k8sAssembly) applyOptions(calls []*k8sResourceOptions) error {
	// Every object, and each by every name a selector may give it, as they were before any call.
	var all []*k8sObject
	for _, res := range a.resources {
		all = append(all, res.objects...)
	}
	all = append(all, a.unresourced...)
	byFragment := map[string][]*k8sObject{}
	fullNames := make([]string, len(all))
	for i, object := range all {
		for _, name := range object.potentialNames() {
			byFragment[name] = append(byFragment[name], object)
		}
		fullNames[i] = object.fullName()
	}
	for _, opts := range calls {
		if opts.manuallyGrouped {
			if _, err := a.makeResource(opts.newName); err != nil {
				return err
			}
		}
		res := a.byName[opts.workload]
		if res == nil {
			known := make([]string, len(a.resources))
			for i, res := range a.resources {
				known[i] = res.name
			}
			return fmt.Errorf("%s: k8s_resource specified unknown resource %q. known k8s resources: %s",
				opts.position, opts.workload, strings.Join(known, ", "))
		}
		res.extraPodSelectors = append(res.extraPodSelectors, opts.extraPodSelectors...)
		if opts.discoveryStrategy != "" {
			res.discoveryStrategy = opts.discoveryStrategy
		}
		res.portForwards = append(res.portForwards, opts.portForwards...)
		res.resourceDeps = append(res.resourceDeps, opts.resourceDeps...)
		res.links = append(res.links, opts.links...)
		for _, label := range opts.labels {
			res.labels[label] = true
		}
		if opts.newName != "" && opts.newName != res.name {
			if err := a.conflict(opts.newName); err != nil {
				return fmt.Errorf("%s: k8s_resource specified to rename %q to %q: %v", opts.position, res.name, opts.newName, err)
			}
			delete(a.byName, res.name)
			res.name = opts.newName
			a.byName[res.name] = res
		}
		if err := a.takeObjects(res, opts.objects, byFragment, fullNames); err != nil {
			return err
		}
	}
	return nil
}

// takeObjects moves the objects the selectors name from those no resource took into res.
func (a *k8sAssembly) takeObjects(res *k8sResource, selectors []string, byFragment map[string][]*k8sObject, fullNames []string) error {
	parsed := make([][]string, len(selectors))
	for i, selector := range selectors {
		parts, err := parseObjectSelector(selector)
		if err != nil {
			return fmt.Errorf("Error making selector from string %q: %w", selector, err)
		}
		parsed[i] = parts
	}
	for i, selector := range selectors {
		matching := byFragment[strings.ToLower(selector)]
		switch {
		case len(matching) == 0:
			return fmt.Errorf("No object identified by the fragment %q could be found. Possible objects are: %s",
				selector, quotedList(fullNames))
		case len(matching) > 1:
			names := make([]string, len(matching))
			for j, object := range matching {
				names[j] = object.fullName()
			}
			return fmt.Errorf("%q is not a unique fragment. Objects that match %q are %s", selector, selector, quotedList(names))
		}
		var taken *k8sObject
		var rest []*k8sObject
		for _, object := range a.unresourced {
			if taken == nil && selectorMatches(parsed[i], object) {
				taken = object
			} else {
				rest = append(rest, object)
			}
		}
		if taken == nil {
			remaining := make([]string, len(a.unresourced))
			for j, object := range a.unresourced {
				remaining[j] = object.fullName()
			}
			return fmt.Errorf("No object identified by the fragment %q could be found in remaining YAML. Valid remaining fragments are: %s",
				selector, quotedList(remaining))
		}
		res.objects = append(res.objects, taken)
		a.unresourced = rest
	}
	return nil
}

// parseObjectSelector is a selector's parts: name, then kind, then namespace, as given.
func parseObjectSelector(selector string) ([]string, error) {
	parts, err := splitSelector(selector)
	if err != nil {
		return nil, err
	}
	if selector == "" {
		return nil, fmt.Errorf("selector can't be empty")
	}
	if len(parts) > 3 {
		return nil, fmt.Errorf("Too many parts in selector. Selectors must contain between 1 and 3 parts (colon separated), found %d parts in %s", len(parts), selector)
	}
	return parts, nil
}

// selectorMatches is whether each part the selector gives is the object's, in any case.
func selectorMatches(parts []string, object *k8sObject) bool {
	for i, have := range []string{object.name(), object.kind(), object.namespace()}[:len(parts)] {
		if parts[i] != "" && !strings.EqualFold(parts[i], have) {
			return false
		}
	}
	return true
}

// quotedList is Go-quoted strings joined by ", ", as Tilt lists names in its errors.
func quotedList(items []string) string {
	quotedItems := make([]string, len(items))
	for i, item := range items {
		quotedItems[i] = fmt.Sprintf("%q", item)
	}
	return strings.Join(quotedItems, ", ")
}
