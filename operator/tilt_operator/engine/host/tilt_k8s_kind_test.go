package main

import (
	"strings"
	"testing"
)

// Tilt's tests of k8s_kind and k8s_image_json_path, from its main Tiltfile tests: those whose
// Tiltfiles call either. Where Tilt checks a manifest, the check here is the KubernetesApply the
// run registers for that resource: the objects it holds (a workload is a resource of its own) and
// its spec.imageLocators, which Tilt fills from the same locators. As in tilt_k8s_test.go, the
// fixtures' docker_build calls are left out, and so is what Tilt checks of the image builds they
// make (its image targets, and its warnings about images nothing uses), which is Tilt's engine's.

// Tilt's custom resource fixture: a fission Environment, mycrd, that names an image for its
// runtime and one for its builder.
var environmentFiles = map[string]string{"crd.yaml": "apiVersion: fission.io/v1\nkind: Environment\n" +
	"metadata: {name: mycrd}\nspec:\n  builder: {command: build, image: test/mycrd-builder}\n" +
	"  poolsize: 1\n  runtime: {image: test/mycrd-env}\n"}

// uselessMachine is Tilt's other custom resource fixture, a UselessMachine um with this spec.
func uselessMachine(spec string) map[string]string {
	return map[string]string{"um.yaml": "apiVersion: tilt.dev/v1alpha1\nkind: UselessMachine\nmetadata: {name: um}\nspec: " + spec + "\n"}
}

// fetcherFiles is foo.yaml: the Deployment foo, running gcr.io/foo with FETCHER_IMAGE naming
// gcr.io/foo-fetcher in its environment.
var fetcherFiles = map[string]string{"foo.yaml": k8sDeployment("foo", "gcr.io/foo", "", nil) +
	"        env:\n        - {name: FETCHER_IMAGE, value: gcr.io/foo-fetcher}\n"}

// fetcherPath is the JSONPath of Tilt's fixtures to FETCHER_IMAGE's value.
const fetcherPath = "{.spec.template.spec.containers[*].env[?(@.name=='FETCHER_IMAGE')].value}"

// locatorJSON is one KubernetesImageLocator as JSON: the objectSelector's JSON, and the path.
func locatorJSON(selector, path string) string {
	return `{"objectSelector":` + selector + `,"path":"` + path + `"}`
}

// locatedBy checks a resource's spec.imageLocators (none: no locators given).
func locatedBy(resource string, locators ...string) func(t *testing.T, r *tiltfileRun) {
	if len(locators) == 0 {
		return specOf(resource, "imageLocators", "null")
	}
	return specOf(resource, "imageLocators", "["+strings.Join(locators, ",")+"]")
}

func TestTiltK8sKind(t *testing.T) {
	crds := runOptions{crds: true}
	var cases []tiltCase
	add := func(more ...tiltCase) {
		for _, c := range more {
			c.options = crds
			cases = append(cases, c)
		}
	}
	imageObject := "image_object={'json_path': '{.spec.image}', 'repo_field': 'repo', 'tag_field': 'tag'}"
	add(tiltCase{
		name:  "TestImageObjectJSONPath",
		files: withFiles(uselessMachine("{image: {repo: tilt.dev/frontend}}"), map[string]string{"Tiltfile": "\nk8s_yaml('um.yaml')\nk8s_kind(kind='UselessMachine', " + imageObject + ")\n"}),
		check: also(k8sResources(wantResource{name: "um", objects: []string{"UselessMachine/um"}, exactly: true}),
			specOf("um", "imageLocators", `[{"object":{"repoField":"repo","tagField":"tag"},"objectSelector":{"kindRegexp":"(?i)UselessMachine"},"path":"{.spec.image}"}]`)),
	}, tiltCase{
		name:  "TestImageObjectJSONPathNoMatch",
		files: withFiles(uselessMachine("{repo: tilt.dev/frontend}"), map[string]string{"Tiltfile": "\nk8s_yaml('um.yaml')\nk8s_kind(kind='UselessMachine', " + imageObject + ")\n"}),
		error: `finding image in UselessMachine/um: Matching (json_path="{.spec.image}"): image is not found`,
	}, tiltCase{
		name: "TestImageObjectJSONPathPodReadinessIgnore", skip: k8sPodReadiness,
	}, tiltCase{
		name:  "TestExtraImageLocationOneImage",
		files: withFiles(environmentFiles, map[string]string{"Tiltfile": "\n\nk8s_yaml('crd.yaml')\nk8s_image_json_path(kind='Environment', paths='{.spec.runtime.image}')\n"}),
		check: also(k8sResources(wantResource{name: "mycrd", objects: []string{"Environment/mycrd"}, exactly: true}),
			locatedBy("mycrd", locatorJSON(`{"kindRegexp":"(?i)Environment"}`, "{.spec.runtime.image}"))),
	})

	// TestK8sKind: k8s_kind(ARGS) on the Environment; a workload is the resource mycrd.
	environmentKind := `{"kindRegexp":"(?i)Environment"}`
	for _, c := range []struct {
		name, args string
		workload   bool
		locators   []string
		error      string
	}{
		{name: "match kind", args: "'Environment', image_json_path='{.spec.runtime.image}'", workload: true,
			locators: []string{locatorJSON(environmentKind, "{.spec.runtime.image}")}},
		{name: "don't match kind", args: "'fdas', image_json_path='{.spec.runtime.image}'"},
		{name: "match apiVersion", args: "'Environment', image_json_path='{.spec.runtime.image}', api_version='fission.io/v1'", workload: true,
			locators: []string{locatorJSON(`{"apiVersionRegexp":"(?i)fission.io/v1","kindRegexp":"(?i)Environment"}`, "{.spec.runtime.image}")}},
		{name: "don't match apiVersion", args: "'Environment', image_json_path='{.spec.runtime.image}', api_version='fission.io/v2'"},
		{name: "invalid kind regexp", args: "'*', image_json_path='{.spec.runtime.image}'", error: "error parsing kind regexp"},
		{name: "invalid apiVersion regexp", args: "'Environment', api_version='*', image_json_path='{.spec.runtime.image}'",
			error: "error parsing apiVersion regexp"},
		{name: "no image", args: "'Environment'", workload: true},
	} {
		kind := tiltCase{
			name:  "TestK8sKind/" + c.name,
			files: withFiles(environmentFiles, map[string]string{"Tiltfile": "\n\n\nk8s_yaml('crd.yaml')\nk8s_kind(" + c.args + ")\n\n"}),
			error: c.error,
		}
		switch {
		case c.workload:
			kind.check = also(k8sResources(wantResource{name: "mycrd", objects: []string{"Environment/mycrd"}, exactly: true}),
				locatedBy("mycrd", c.locators...))
		case c.error == "":
			kind.check = k8sResources(uncategorizedHolding("Environment/mycrd"))
		}
		add(kind)
	}

	add(tiltCase{
		name:  "TestK8sKindImageJSONPathPositional",
		files: withFiles(environmentFiles, map[string]string{"Tiltfile": "k8s_yaml('crd.yaml')\nk8s_kind('Environment', '{.spec.runtime.image}')\n"}),
		error: "got 2 arguments, want at most 1",
	}, tiltCase{
		name: "TestExtraImageLocationTwoImages",
		files: withFiles(environmentFiles, map[string]string{"Tiltfile": "\n\nk8s_yaml('crd.yaml')\n" +
			"k8s_image_json_path(['{.spec.runtime.image}', '{.spec.builder.image}'], kind='Environment')\n"}),
		check: also(k8sResources(wantResource{name: "mycrd", objects: []string{"Environment/mycrd"}, exactly: true}),
			locatedBy("mycrd", locatorJSON(environmentKind, "{.spec.runtime.image}"), locatorJSON(environmentKind, "{.spec.builder.image}"))),
	}, tiltCase{
		name: "TestExtraImageLocationDeploymentEnvVarByName",
		// bar has no FETCHER_IMAGE, and the locator is not for it.
		files: withFiles(fetcherFiles, map[string]string{"bar.yaml": k8sDeployment("bar", "gcr.io/bar", "", nil),
			"Tiltfile": "k8s_yaml(['foo.yaml', 'bar.yaml'])\nk8s_image_json_path(\"" + fetcherPath + "\", name='foo')\n\t"}),
		check: also(k8sResources(holding("foo", "Deployment/foo"), holding("bar", "Deployment/bar")),
			locatedBy("foo", locatorJSON(`{"nameRegexp":"(?i)foo"}`, fetcherPath)), locatedBy("bar")),
	})

	// TestK8sImageJSONPathArgs: k8s_image_json_path(fetcherPath, ARGS) on foo. A locator whose
	// selector matches foo is in foo's spec (Tilt then builds gcr.io/foo-fetcher for it); one
	// that does not is nowhere (Tilt warns that nothing uses gcr.io/foo-fetcher).
	for _, c := range []struct{ name, args, selector, error string }{
		{name: "match name", args: "name='foo'", selector: `{"nameRegexp":"(?i)foo"}`},
		{name: "don't match name", args: "name='bar'"},
		{name: "match name w/ regex", args: "name='.*o'", selector: `{"nameRegexp":"(?i).*o"}`},
		{name: "match kind", args: "name='foo', kind='Deployment'", selector: `{"kindRegexp":"(?i)Deployment","nameRegexp":"(?i)foo"}`},
		{name: "don't match kind", args: "name='bar', kind='asdf'"},
		{name: "match apiVersion", args: "name='foo', api_version='apps/v1'", selector: `{"apiVersionRegexp":"(?i)apps/v1","nameRegexp":"(?i)foo"}`},
		{name: "match apiVersion+kind w/ regex", args: "name='foo', kind='Deployment', api_version='apps/.*'",
			selector: `{"apiVersionRegexp":"(?i)apps/.*","kindRegexp":"(?i)Deployment","nameRegexp":"(?i)foo"}`},
		{name: "don't match apiVersion", args: "name='bar', api_version='apps/v2'"},
		{name: "match namespace", args: "name='foo', namespace='default'", selector: `{"nameRegexp":"(?i)foo","namespaceRegexp":"(?i)default"}`},
		{name: "don't match namespace", args: "name='bar', namespace='asdf'"},
		{name: "invalid name regex", args: "name='*'", error: "error parsing name regexp"},
		{name: "invalid kind regex", args: "kind='*'", error: "error parsing kind regexp"},
		{name: "invalid apiVersion regex", args: "name='foo', api_version='*'", error: "error parsing apiVersion regexp"},
		{name: "invalid namespace regex", args: "namespace='*'", error: "error parsing namespace regexp"},
		{name: "regexes are case-insensitive", args: "name='FOO'", selector: `{"nameRegexp":"(?i)FOO"}`},
		{name: "regexes that specify case insensitivity still work", args: "name='(?i)FOO'", selector: `{"nameRegexp":"(?i)(?i)FOO"}`},
	} {
		args := tiltCase{
			name:  "TestK8sImageJSONPathArgs/" + c.name,
			files: withFiles(fetcherFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_image_json_path(\"" + fetcherPath + "\", " + c.args + ")\n\t"}),
			error: c.error,
		}
		switch {
		case c.selector != "":
			args.check = also(k8sResources(holding("foo", "Deployment/foo")), locatedBy("foo", locatorJSON(c.selector, fetcherPath)))
		case c.error == "":
			args.check = also(k8sResources(holding("foo", "Deployment/foo")), locatedBy("foo"))
		}
		add(args)
	}

	add(tiltCase{
		name: "TestExtraImageLocationDeploymentEnvVarByNameAndNamespace",
		files: withFiles(fetcherFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n" +
			"k8s_image_json_path(\"" + fetcherPath + "\", name='foo', namespace='default')\n\t"}),
		check: also(k8sResources(holding("foo", "Deployment/foo")),
			locatedBy("foo", locatorJSON(`{"nameRegexp":"(?i)foo","namespaceRegexp":"(?i)default"}`, fetcherPath))),
	}, tiltCase{
		name:  "TestExtraImageLocationNoMatch",
		files: withFiles(environmentFiles, map[string]string{"Tiltfile": "k8s_yaml('crd.yaml')\nk8s_image_json_path('{.foobar}', kind='Environment')\n"}),
		error: `Matching (json_path="{.foobar}"): foobar is not found`,
	}, tiltCase{
		name:  "TestExtraImageLocationInvalidJsonPath",
		files: withFiles(environmentFiles, map[string]string{"Tiltfile": "k8s_yaml('crd.yaml')\nk8s_image_json_path('{foobar()}', kind='Environment')\n"}),
		error: `Matching (json_path="{foobar()}"): unrecognized identifier foobar()`,
	}, tiltCase{
		name:  "TestExtraImageLocationNoPaths",
		files: map[string]string{"Tiltfile": "k8s_image_json_path(kind='MyType')"},
		error: "missing argument for paths",
	}, tiltCase{
		name:  "TestExtraImageLocationNotListOrString",
		files: map[string]string{"Tiltfile": "k8s_image_json_path(kind='MyType', paths=8)"},
		error: `for parameter "paths": Expected string, got: 8`,
	}, tiltCase{
		name:  "TestExtraImageLocationListContainsNonString",
		files: map[string]string{"Tiltfile": `k8s_image_json_path(kind='MyType', paths=["foo", 8])`},
		error: `for parameter "paths": Expected string, got: 8`,
	}, tiltCase{
		name:  "TestExtraImageLocationNoSelectorSpecified",
		files: map[string]string{"Tiltfile": `k8s_image_json_path(paths=["foo"])`},
		error: "at least one of kind, name, or namespace must be specified",
	})
	runCases(t, cases)
}

// What k8s_kind and k8s_image_json_path do, beyond what Tilt's tests check.
func TestK8sKindsAreTiltsKinds(t *testing.T) {
	crds := runOptions{crds: true}
	job := "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n"
	runCases(t, []tiltCase{
		{
			name: "a Job is a workload, with an image or none, and named as workloads are",
			files: map[string]string{"all.yaml": k8sStream(job, k8sDeployment("migrate", "", "", nil)),
				"Tiltfile": "k8s_yaml('all.yaml')\n"},
			options: crds,
			check:   k8sResources(holding("migrate:job", "Job/migrate"), holding("migrate:deployment", "Deployment/migrate")),
		},
		{
			name: "a selector matches anywhere in the value, in any case",
			files: withFiles(uselessMachine("{}"), map[string]string{"Tiltfile": "k8s_yaml('um.yaml')\n" +
				"k8s_kind('machine', api_version='TILT.dev')\n"}),
			options: crds,
			check:   k8sResources(holding("um", "UselessMachine/um")),
		},
		{
			name: "each call is a kind of its own, its locators too",
			files: withFiles(environmentFiles, map[string]string{"Tiltfile": "k8s_yaml('crd.yaml')\n" +
				"k8s_kind('Environment', image_json_path='{.spec.runtime.image}')\n" +
				"k8s_kind('Environment', image_json_path='{.spec.runtime.image}')\n"}),
			options: crds,
			check: locatedBy("mycrd", locatorJSON(`{"kindRegexp":"(?i)Environment"}`, "{.spec.runtime.image}"),
				locatorJSON(`{"kindRegexp":"(?i)Environment"}`, "{.spec.runtime.image}")),
		},
		{
			name: "what a locator finds must be an image",
			files: withFiles(uselessMachine("{image: Not/An/Image}"), map[string]string{"Tiltfile": "k8s_yaml('um.yaml')\n" +
				"k8s_kind('UselessMachine', image_json_path='{.spec.image}')\n"}),
			options: crds,
			message: "finding image in UselessMachine/um: error parsing image 'Not/An/Image' at json path '{.spec.image}': " +
				"invalid reference format: repository name (An/Image) must be lowercase",
		},
		{
			name:    "pod_readiness is checked as k8s_resource checks it",
			files:   map[string]string{"Tiltfile": "k8s_kind('Environment', pod_readiness='later')\n"},
			options: crds,
			message: `k8s_kind: for parameter "pod_readiness": Invalid value. Allowed: {ignore, wait}. Got: later`,
		},
		{
			name:    "without the KubernetesApply CRD, k8s_kind fails in one line",
			files:   map[string]string{"Tiltfile": "k8s_kind('Environment')\n"},
			message: "k8s_kind registers KubernetesApply objects, and no KubernetesApply CRD is installed",
		},
	})
}
