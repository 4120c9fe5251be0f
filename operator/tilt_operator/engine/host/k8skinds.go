package main

import (
	"errors"
	"fmt"
	"regexp"

	"go.starlark.net/starlark"
)

// Tilt's k8s_kind and k8s_image_json_path, with Tilt's signatures and errors (docs/design.md, "The
// Tiltfile language"): each tells the run of a kind of object, by Tilt's partial-match selector,
// and, with its image locators, where such an object keeps its images. Every object a told kind's
// selector matches is a workload (k8sassembly.go), whether or not an image is found in it, and a
// resource's KubernetesApply carries, in spec.imageLocators, each locator whose selector matches
// one of its objects, as Tilt's does. Tilt tells itself of Jobs and CronJobs before the Tiltfile
// runs, so those are workloads too. Each call is a kind of its own, a second call for the same
// selector included: Tilt keys its kinds by selectors that never compare equal.

// k8sKind is one kind the run was told of: its selector and its image locators.
type k8sKind struct {
	selector *objectSelector
	locators []*imageLocator
}

// objectSelector is Tilt's partial-match selector: for each of apiVersion, kind, name and
// namespace, a case-insensitive regular expression ("" matches anything) that matches anywhere in
// the object's value, unanchored, as Tilt's does.
type objectSelector struct {
	apiVersion, kind, name, namespace *regexp.Regexp
}

// selectorFields are the selector's fields in Tilt's order, as Tilt names them in its errors and
// as a KubernetesImageLocator's objectSelector spells them.
var selectorFields = [4][2]string{
	{"apiVersion", "apiVersionRegexp"}, {"kind", "kindRegexp"}, {"name", "nameRegexp"}, {"namespace", "namespaceRegexp"},
}

func newObjectSelector(apiVersion, kind, name, namespace string) (*objectSelector, error) {
	patterns := [4]*regexp.Regexp{}
	for i, given := range []string{apiVersion, kind, name, namespace} {
		if given != "" {
			given = "(?i)" + given
		}
		pattern, err := regexp.Compile(given)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s regexp: %w", selectorFields[i][0], err)
		}
		patterns[i] = pattern
	}
	return &objectSelector{apiVersion: patterns[0], kind: patterns[1], name: patterns[2], namespace: patterns[3]}, nil
}

// matches is whether each of the selector's expressions matches the object's field, its
// namespace "default" when it names none.
func (s *objectSelector) matches(o *k8sObject) bool {
	return s.apiVersion.MatchString(o.apiVersion()) && s.kind.MatchString(o.kind()) &&
		s.name.MatchString(o.name()) && s.namespace.MatchString(o.namespace())
}

// spec is the selector as a KubernetesImageLocator's objectSelector: the expressions given.
func (s *objectSelector) spec() *starlark.Dict {
	texts := map[string]string{}
	for i, pattern := range []*regexp.Regexp{s.apiVersion, s.kind, s.name, s.namespace} {
		if text := pattern.String(); text != "" {
			texts[selectorFields[i][1]] = text
		}
	}
	return stringDict(texts, nil)
}

// imageLocator is where objects its selector matches keep images: a JSONPath to strings, or
// (image_object) to objects whose repoField and tagField make an image.
type imageLocator struct {
	selector            *objectSelector
	path                *jsonPath
	object              bool
	repoField, tagField string
}

func newImageLocator(selector *objectSelector, path string) (*imageLocator, error) {
	parsed, err := parseJSONPath(path)
	if err != nil {
		return nil, err
	}
	return &imageLocator{selector: selector, path: parsed}, nil
}

// images are the images the locator finds in the object (none when its selector does not match
// it). What the path finds must be images, or objects that make them.
func (l *imageLocator) images(o *k8sObject) ([]string, error) {
	if !l.selector.matches(o) {
		return nil, nil
	}
	found, err := l.path.results(o.data)
	if err != nil {
		return nil, fmt.Errorf("Matching (json_path=%q): %v", l.path.source, err)
	}
	images := make([]string, 0, len(found))
	for _, value := range found {
		var image string
		if l.object {
			fields, ok := value.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("May only match maps (json_path=%q)\nGot Type: %T\nGot Value: %v", l.path.source, value, value)
			}
			image, _ = fields[l.repoField].(string)
			if tag, _ := fields[l.tagField].(string); tag != "" {
				image += ":" + tag
			}
			if err := checkImageReference(image); err != nil {
				return nil, err
			}
		} else {
			text, ok := value.(string)
			if !ok {
				return nil, fmt.Errorf("May only match strings (json_path=%q)\nGot Type: %T\nGot Value: %s", l.path.source, value, value)
			}
			if err := checkImageReference(text); err != nil {
				return nil, fmt.Errorf("error parsing image '%s' at json path '%s': %w", text, l.path.source, err)
			}
			image = text
		}
		images = append(images, image)
	}
	return images, nil
}

// spec is the locator as Tilt's KubernetesImageLocator.
func (l *imageLocator) spec() *starlark.Dict {
	values := map[string]starlark.Value{"objectSelector": l.selector.spec()}
	if l.object {
		values["object"] = stringDict(map[string]string{"repoField": l.repoField, "tagField": l.tagField}, nil)
	}
	return stringDict(map[string]string{"path": l.path.source}, values)
}

// tiltKinds are the kinds Tilt tells itself of before a Tiltfile runs: Jobs and CronJobs.
func tiltKinds() []*k8sKind {
	var kinds []*k8sKind
	for _, kind := range []string{"Job", "CronJob"} {
		selector, err := newObjectSelector("batch/v1", kind, "", "")
		if err != nil {
			panic(err)
		}
		kinds = append(kinds, &k8sKind{selector: selector})
	}
	return kinds
}

// k8sKinds are the kinds the run knows: Tilt's, then those it was told of, in order.
func (s *k8sState) k8sKinds() []*k8sKind {
	return append(tiltKinds(), s.kinds...)
}

// imageLocators are the locators of every kind the run knows, in order.
func imageLocators(kinds []*k8sKind) []*imageLocator {
	var locators []*imageLocator
	for _, kind := range kinds {
		locators = append(locators, kind.locators...)
	}
	return locators
}

// isWorkload is Tilt's: the object is of a kind the run knows, or has an image (its containers',
// or one a locator finds).
func isWorkload(o *k8sObject, kinds []*k8sKind, locators []*imageLocator) (bool, error) {
	for _, kind := range kinds {
		if kind.selector.matches(o) {
			return true, nil
		}
	}
	images, err := o.images(locators)
	if err != nil {
		return false, fmt.Errorf("finding images in %s: %w", o.name(), err)
	}
	return len(images) > 0, nil
}

// matchingLocators are the locators whose selectors match one of the objects.
func matchingLocators(locators []*imageLocator, objects []*k8sObject) []*imageLocator {
	var matching []*imageLocator
	for _, locator := range locators {
		for _, object := range objects {
			if locator.selector.matches(object) {
				matching = append(matching, locator)
				break
			}
		}
	}
	return matching
}

// jsonPathsArgument is image_json_path and paths as Tilt takes them: a string, or a sequence of
// strings (None and an empty list are none).
type jsonPathsArgument []string

func (a *jsonPathsArgument) Unpack(value starlark.Value) error {
	*a = nil
	for _, item := range valueOrSequence(value) {
		path, ok := starlark.AsString(item)
		if !ok {
			return fmt.Errorf("Expected string, got: %s", item)
		}
		*a = append(*a, path)
	}
	return nil
}

// locators are the paths' locators for the selector.
func (a jsonPathsArgument) locators(selector *objectSelector) ([]*imageLocator, error) {
	locators := make([]*imageLocator, 0, len(a))
	for _, path := range a {
		locator, err := newImageLocator(selector, path)
		if err != nil {
			return nil, err
		}
		locators = append(locators, locator)
	}
	return locators, nil
}

// imageObjectArgument is image_object as Tilt takes it: a dict of exactly json_path, repo_field
// and tag_field, strings all; all three empty is not given.
type imageObjectArgument struct{ jsonPath, repoField, tagField string }

const imageObjectForm = "Expected dict of the form {'json_path': str, 'repo_field': str, 'tag_field': str}"

func (a *imageObjectArgument) Unpack(value starlark.Value) error {
	dict, ok := value.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("%s. Actual: %s", imageObjectForm, value)
	}
	fields := map[string]*string{"json_path": &a.jsonPath, "repo_field": &a.repoField, "tag_field": &a.tagField}
	for _, item := range dict.Items() {
		key, ok := starlark.AsString(item[0])
		into := fields[key]
		if !ok || into == nil {
			return fmt.Errorf("%s: Unexpected key: %s", imageObjectForm, item[0])
		}
		text, ok := starlark.AsString(item[1])
		if !ok {
			return fmt.Errorf("%s: Expected string at key %q. Got: %s", imageObjectForm, item[0], item[1].Type())
		}
		*into = text
	}
	if dict.Len() != len(fields) {
		return fmt.Errorf("%s: Missing keys. Actual keys: %s", imageObjectForm, dict.Keys())
	}
	return nil
}

func (a imageObjectArgument) given() bool { return a != imageObjectArgument{} }

// podReadinessArgument is pod_readiness, checked as k8s_resource checks it and, as there, not
// recorded: nothing here waits on a resource's pods.
type podReadinessArgument struct{}

func (podReadinessArgument) Unpack(value starlark.Value) error { return checkPodReadiness(value) }

// builtinK8sKind is Tilt's k8s_kind(kind, image_json_path=[], api_version="", image_object={},
// pod_readiness=""): only kind may be given by position.
func (r *run) builtinK8sKind(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 1 {
		return nil, fmt.Errorf("%s: got %d arguments, want at most %d", fn.Name(), len(args), 1)
	}
	var kind, apiVersion string
	var paths jsonPathsArgument
	var object imageObjectArgument
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"kind", &kind,
		"image_json_path?", &paths,
		"api_version?", &apiVersion,
		"image_object?", &object,
		"pod_readiness?", podReadinessArgument{}); err != nil {
		return nil, err
	}
	selector, err := newObjectSelector(apiVersion, kind, "", "")
	if err != nil {
		return nil, err
	}
	if len(paths) > 0 && object.given() {
		return nil, errors.New("Cannot specify both image_json_path and image_object")
	}
	told := &k8sKind{selector: selector}
	if told.locators, err = paths.locators(selector); err != nil {
		return nil, err
	}
	if object.given() {
		locator, err := newImageLocator(selector, object.jsonPath)
		if err != nil {
			return nil, err
		}
		locator.object, locator.repoField, locator.tagField = true, object.repoField, object.tagField
		told.locators = []*imageLocator{locator}
	}
	if err := r.needsKubernetesApply(fn); err != nil {
		return nil, err
	}
	r.k8s.kinds = append(r.k8s.kinds, told)
	return starlark.None, nil
}

// builtinK8sImageJSONPath is Tilt's k8s_image_json_path(paths, api_version="", kind="", name="",
// namespace=""): a kind (with its image locators) named by at least one of kind, name and namespace.
func (r *run) builtinK8sImageJSONPath(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var paths jsonPathsArgument
	var apiVersion, kind, name, namespace string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"paths", &paths,
		"api_version?", &apiVersion,
		"kind?", &kind,
		"name?", &name,
		"namespace?", &namespace); err != nil {
		return nil, err
	}
	if kind == "" && name == "" && namespace == "" {
		return nil, errors.New("at least one of kind, name, or namespace must be specified")
	}
	selector, err := newObjectSelector(apiVersion, kind, name, namespace)
	if err != nil {
		return nil, err
	}
	told := &k8sKind{selector: selector}
	if told.locators, err = paths.locators(selector); err != nil {
		return nil, err
	}
	if err := r.needsKubernetesApply(fn); err != nil {
		return nil, err
	}
	r.k8s.kinds = append(r.k8s.kinds, told)
	return starlark.None, nil
}
