package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Tilt's tests of k8s_yaml, k8s_resource and port_forward, from its main Tiltfile tests, and of
// k8s_context and k8s_namespace. Where Tilt checks a manifest, the check here is the
// KubernetesApply the run registers for that resource: its objects (spec.yaml), its port forwards,
// discovery strategy and extra pod selectors (spec), its resource deps, links and labels
// (annotations). Tilt's fixtures call docker_build for the images of their workloads; here those
// calls are left out (a container image makes a workload without them), and so is what they check
// of the image build, which is Tilt's engine's.

// Why some of Tilt's k8s cases do not run here.
const (
	k8sDockerCompose  = "Tilt's engine: docker_compose and dc_resource belong to it"
	k8sWebHost        = "Tilt's engine: a forward with no host gets the host of Tilt's web server; the operator has none, so the forward keeps no host"
	k8sTriggerMode    = "Tilt's engine: a k8s resource's trigger mode is when Tilt's engine applies it; a KubernetesApply is applied when the Tiltfile has run"
	k8sPodReadiness   = "Tilt's engine: the pod readiness of a resource is what Tilt's engine waits for; a KubernetesApply has no such field"
	k8sContexts       = "Tilt's engine: allow_k8s_contexts guards Tilt's deploys to a kube context that may be production; a KubernetesApply goes to the operator's own cluster"
	k8sWorkloadNaming = "Tilt's engine: names resources with workload_to_resource_function, which stays one of its builtins"
	k8sClusterNames   = "differs on purpose: k8s_context() and k8s_namespace() are \"default\", Tilt's name for the cluster it deploys to, here the operator's own; Tilt's fixture gives its own names"
)

// The objects of Tilt's fixtures, as YAML.

// k8sDeployment is a Deployment whose pods run image (a default one when "") and are labelled
// app: NAME, or labels; in namespace when one is given.
func k8sDeployment(name, image, namespace string, labels map[string]string) string {
	if image == "" {
		image = "gcr.io/example/snack"
	}
	if labels == nil {
		labels = map[string]string{"app": name}
	}
	text := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + strconv.Quote(name) + "\n"
	if namespace != "" {
		text += "  namespace: " + namespace + "\n"
	}
	return text + "spec:\n  selector:\n    matchLabels:\n" + yamlLabels(labels, "      ") +
		"  template:\n    metadata:\n      labels:\n" + yamlLabels(labels, "        ") +
		"    spec:\n      containers:\n      - name: main\n        image: " + image + "\n"
}

// k8sService is a Service that selects the pods labelled app: NAME, or selector (none when empty).
func k8sService(name string, selector map[string]string) string {
	if selector == nil {
		selector = map[string]string{"app": name}
	}
	text := "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + strconv.Quote(name) + "\nspec:\n  ports:\n  - port: 80\n"
	if len(selector) > 0 {
		text += "  selector:\n" + yamlLabels(selector, "    ")
	}
	return text
}

func k8sSecret(name string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + strconv.Quote(name) + "\ntype: Opaque\ndata:\n  password: c2VjcmV0\n"
}

func k8sNamespace(name string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + strconv.Quote(name) + "\n"
}

func yamlLabels(labels map[string]string, indent string) string {
	var text string
	for _, key := range sortedKeys(labels) {
		text += indent + key + ": " + strconv.Quote(labels[key]) + "\n"
	}
	return text
}

func k8sStream(documents ...string) string {
	return strings.Join(documents, "---\n")
}

// Tilt's fixture scenarios: foo is a Deployment running gcr.io/foo; bar one running gcr.io/bar;
// expand is four, a to d, in one file.
var (
	fooFiles    = map[string]string{"foo.yaml": k8sDeployment("foo", "gcr.io/foo", "", nil)}
	fooBarFiles = withFiles(fooFiles, map[string]string{"bar.yaml": k8sDeployment("bar", "gcr.io/bar", "", nil)})
	expandFiles = map[string]string{"all.yaml": k8sStream(
		k8sDeployment("a", "gcr.io/a", "", nil), k8sDeployment("b", "gcr.io/b", "", nil),
		k8sDeployment("c", "gcr.io/c", "", nil), k8sDeployment("d", "gcr.io/d", "", nil))}
)

// What a run registered for its k8s resources.

// k8sApplies is the run's KubernetesApplys, in order.
func k8sApplies(r *tiltfileRun) []map[string]any {
	var applies []map[string]any
	for _, obj := range r.objects {
		if obj["kind"] == "KubernetesApply" {
			applies = append(applies, obj)
		}
	}
	return applies
}

func annotationOf(obj map[string]any, key string) string {
	annotations, _ := obj["metadata"].(map[string]any)["annotations"].(map[string]any)
	text, _ := annotations[key].(string)
	return text
}

// k8sApplyOf is the KubernetesApply of the Tilt resource named resource.
func k8sApplyOf(t *testing.T, r *tiltfileRun, resource string) map[string]any {
	t.Helper()
	for _, obj := range k8sApplies(r) {
		if annotationOf(obj, annotationResource) == resource {
			return obj
		}
	}
	t.Fatalf("no KubernetesApply for resource %s among %v", resource, r.objects)
	return nil
}

// appliedObjects is "Kind/name" of each object of a KubernetesApply's spec.yaml, in order.
func appliedObjects(t *testing.T, obj map[string]any) []string {
	t.Helper()
	text, _ := obj["spec"].(map[string]any)["yaml"].(string)
	objects, err := parseK8sYAML(text)
	if err != nil {
		t.Fatalf("spec.yaml: %v\n%s", err, text)
	}
	names := make([]string, len(objects))
	for i, object := range objects {
		names[i] = object.kind() + "/" + object.name()
	}
	return names
}

// wantResource is a resource a run must have, and the objects it must hold ("Kind/name"): among
// others, or (exactly) only those, in that order.
type wantResource struct {
	name    string
	objects []string
	exactly bool
}

func holding(name string, objects ...string) wantResource {
	return wantResource{name: name, objects: objects}
}

// uncategorizedHolding is Tilt's resource of what no other resource took, with exactly these.
func uncategorizedHolding(objects ...string) wantResource {
	return wantResource{name: uncategorized, objects: objects, exactly: true}
}

// k8sResources checks that the run's k8s resources are these, in this order (Tilt's manifests).
func k8sResources(expected ...wantResource) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		var names, want []string
		for _, obj := range k8sApplies(r) {
			names = append(names, annotationOf(obj, annotationResource))
		}
		for _, res := range expected {
			want = append(want, res.name)
		}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("resources %v, want %v", names, want)
		}
		for _, res := range expected {
			have := appliedObjects(t, k8sApplyOf(t, r, res.name))
			if res.exactly && !reflect.DeepEqual(have, res.objects) {
				t.Errorf("resource %s holds %v, want exactly %v", res.name, have, res.objects)
			}
			for _, object := range res.objects {
				if !contains(have, object) {
					t.Errorf("resource %s holds %v, want %s among them", res.name, have, object)
				}
			}
		}
	}
}

func contains(items []string, item string) bool {
	for _, have := range items {
		if have == item {
			return true
		}
	}
	return false
}

// specOf checks a field of a resource's KubernetesApply spec, as JSON (absent: "null").
func specOf(resource, field, want string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		spec, _ := k8sApplyOf(t, r, resource)["spec"].(map[string]any)
		have, _ := json.Marshal(spec[field])
		if string(have) != want {
			t.Errorf("resource %s: spec.%s %s, want %s", resource, field, have, want)
		}
	}
}

// forwards checks a resource's port forwards, in Tilt's Forward shape, as JSON.
func forwards(resource string, want ...string) func(t *testing.T, r *tiltfileRun) {
	if len(want) == 0 {
		return specOf(resource, "portForwardTemplateSpec", "null")
	}
	return specOf(resource, "portForwardTemplateSpec", `{"forwards":[`+strings.Join(want, ",")+`]}`)
}

// annotated checks an annotation of a resource's KubernetesApply ("" is none).
func annotated(resource, key, want string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		if have := annotationOf(k8sApplyOf(t, r, resource), key); have != want {
			t.Errorf("resource %s: annotation %s %q, want %q", resource, key, have, want)
		}
	}
}

// localLinks checks the links annotation of a local resource's update Cmd.
func localLinks(resource, want string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		for _, obj := range r.objects {
			if obj["kind"] == "Cmd" && annotationOf(obj, annotationResource) == resource {
				if have := annotationOf(obj, annotationLinks); have != want {
					t.Errorf("local resource %s: links %q, want %q", resource, have, want)
				}
				return
			}
		}
		t.Fatalf("no Cmd of local resource %s among %v", resource, r.objects)
	}
}

func also(checks ...func(t *testing.T, r *tiltfileRun)) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		for _, check := range checks {
			check(t, r)
		}
	}
}

// Tilt's k8s cases, with the project's CRDs installed.
func TestTiltK8s(t *testing.T) {
	crds := runOptions{crds: true}
	var cases []tiltCase
	add := func(more ...tiltCase) {
		for _, c := range more {
			if c.options.main == "" && !c.options.exec {
				c.options = crds
			}
			cases = append(cases, c)
		}
	}

	add(tiltCase{
		name: "TestK8sResourceAdditiveLinks",
		files: withFiles(expandFiles, map[string]string{"Tiltfile": "k8s_yaml('all.yaml')\n" +
			"k8s_resource('a', links=['http://demo-a.localhost/'])\nk8s_resource('a')\n" +
			"k8s_resource('b', links=['http://demo-b.localhost/'])\nk8s_resource('b', links=['http://demo-b.localhost/api'])\n"}),
		check: also(
			annotated("a", annotationLinks, `[{"url":"http://demo-a.localhost/"}]`),
			annotated("b", annotationLinks, `[{"url":"http://demo-b.localhost/"},{"url":"http://demo-b.localhost/api"}]`)),
	}, tiltCase{
		name: "TestInvalidImageNameInK8SYAML",
		files: map[string]string{"Tiltfile": "yaml_str = \"\"\"\nkind: Pod\napiVersion: v1\nmetadata:\n  name: test-pod\n" +
			"spec:\n  containers:\n  - image: IMAGE_URL\n\"\"\"\n\nk8s_yaml([blob(yaml_str)])"},
		error: "finding images in test-pod: parsing IMAGE_URL: invalid reference format",
	})

	// TestPortForward: k8s_resource('foo', port_forwards=EXPR).
	for _, c := range []struct{ name, expr, error string }{
		{"value_int_local", "8000", `{"containerPort":0,"host":"","localPort":8000}`},
		{"value_int_local_negative", "-1", "!not in the valid range"},
		{"value_int_local_large", "8000000", "!not in the valid range"},
		{"value_string_local", "'10000'", `{"containerPort":0,"host":"","localPort":10000}`},
		{"value_string_both", "'10000:8000'", `{"containerPort":8000,"host":"","localPort":10000}`},
		{"value_string_garbage", "'garbage'", "!not in the valid range"},
		{"value_string_empty", "''", "!not in the valid range"},
		{"value_constructor_local", "port_forward(8001)", `{"containerPort":0,"host":"","localPort":8001}`},
		{"value_constructor_local_named", "port_forward(8001, name='foo')", `{"containerPort":0,"host":"","localPort":8001,"name":"foo"}`},
		{"value_constructor_local_path", "port_forward(8001, link_path='v1/ui')", `{"containerPort":0,"host":"","localPort":8001,"path":"v1/ui"}`},
		{"value_constructor_both", "port_forward(8001, 443)", `{"containerPort":443,"host":"","localPort":8001}`},
		{"value_constructor_both_named", "port_forward(8001, 443, name='foo')", `{"containerPort":443,"host":"","localPort":8001,"name":"foo"}`},
		{"value_constructor_all_positional", "port_forward(8001, 443, 'foo', 'v1/ui', 'elastic.local')",
			`{"containerPort":443,"host":"elastic.local","localPort":8001,"name":"foo","path":"v1/ui"}`},
		{"value_constructor_no_local_port", "port_forward(container_port=443)", "!missing argument for local_port"},
		{"value_constructor_local_port_wrong_type", "port_forward('8001')", "!for parameter local_port: got string, want int"},
		{"value_constructor_bad_path", "port_forward(8001, 443, link_path='invalid_escape%')", "!invalid URL escape"},
		{"value_constructor_name_wrong_type", "port_forward(8001, 443, 54321)", "!for parameter name: got int, want string"},
		{"value_constructor_host", "port_forward(8001, 443, host='elastic.local')", `{"containerPort":443,"host":"elastic.local","localPort":8001}`},
		{"value_constructor_host_wrong_type", "port_forward(8001, 443, host=54321)", `!for parameter "host": got int, want string`},
		{"list_mixed", "[8000, port_forward(8001, 443), '8002', '8003:444'],",
			`{"containerPort":0,"host":"","localPort":8000},{"containerPort":443,"host":"","localPort":8001},` +
				`{"containerPort":0,"host":"","localPort":8002},{"containerPort":444,"host":"","localPort":8003}`},
		{"value_host_bad", "'bad+host:10000:8000'", "!not a valid hostname or IP address"},
		{"value_host_good_ip", "'0.0.0.0:10000:8000'", `{"containerPort":8000,"host":"0.0.0.0","localPort":10000}`},
		{"value_host_good_domain", "'tilt.dev:10000:8000'", `{"containerPort":8000,"host":"tilt.dev","localPort":10000}`},
		{"default_web_host", "", ""},
		{"override_web_host", "'tilt.dev:10000:8000'", `{"containerPort":8000,"host":"tilt.dev","localPort":10000}`},
		{"none", "None", ""},
		{"empty_array", "[]", ""},
	} {
		pf := tiltCase{
			name:  "TestPortForward/" + c.name,
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', port_forwards=" + c.expr + ")\n"}),
		}
		switch {
		case c.expr == "":
			pf.skip = k8sWebHost
		case strings.HasPrefix(c.error, "!"):
			pf.error = c.error[1:]
		case c.error == "":
			pf.check = also(k8sResources(holding("foo", "Deployment/foo")), forwards("foo"))
		default:
			pf.check = also(k8sResources(holding("foo", "Deployment/foo")), forwards("foo", c.error))
		}
		add(pf)
	}

	// TestResourceLinks: links=EXPR on a local resource, a k8s resource and a docker-compose one.
	for _, c := range []struct{ name, expr, links, error string }{
		{name: "invalid_type", expr: "123", error: "Want a string, a link, or a sequence of these; found 123"},
		{"value_string", "'http://www.zombo.com'", `[{"url":"http://www.zombo.com"}]`, ""},
		{"value_string_adds_scheme", "'www.zombo.com'", `[{"url":"http://www.zombo.com"}]`, ""},
		{"value_string_preserves_nonhttp_scheme", "'ws://www.zombo.com'", `[{"url":"ws://www.zombo.com"}]`, ""},
		{name: "value_string_empty_url", expr: "''", error: "url empty"},
		{"value_link_named", "link('https://www.zombo.com', name='zombo')", `[{"name":"zombo","url":"https://www.zombo.com"}]`, ""},
		{"value_link_unnamed", "link('https://www.zombo.com')", `[{"url":"https://www.zombo.com"}]`, ""},
		{"value_link_positional_args", "link('https://www.zombo.com', 'zombo')", `[{"name":"zombo","url":"https://www.zombo.com"}]`, ""},
		{"link_constructor_adds_scheme", "link('www.zombo.com', 'zombo')", `[{"name":"zombo","url":"http://www.zombo.com"}]`, ""},
		{name: "link_constructor_requires_URL", expr: "link(name='zombo')", error: "link: missing argument for url"},
		{name: "link_constructor_empty_URL", expr: "link('')", error: "url empty"},
		{"value_list_strings", "['https://www.apple.edu', 'https://www.zombo.com']",
			`[{"url":"https://www.apple.edu"},{"url":"https://www.zombo.com"}]`, ""},
		{"list_strings_add_scheme", "['www.apple.edu', 'www.zombo.com']", `[{"url":"http://www.apple.edu"},{"url":"http://www.zombo.com"}]`, ""},
		{"value_list_links", "[link('www.apple.edu'), link('www.zombo.com', 'zombo')]",
			`[{"url":"http://www.apple.edu"},{"name":"zombo","url":"http://www.zombo.com"}]`, ""},
		{"value_list_,mixed", "['www.apple.edu', link('www.zombo.com', 'zombo')]",
			`[{"url":"http://www.apple.edu"},{"name":"zombo","url":"http://www.zombo.com"}]`, ""},
		{name: "link_bad_type", expr: "['www.apple.edu', 123]", error: "Want a string, a link, or a sequence of these; found 123"},
	} {
		local := tiltCase{
			name:  "TestResourceLinks/LocalResource-" + c.name,
			files: map[string]string{"Tiltfile": "local_resource('foo', 'echo hi', links=" + c.expr + ")\n"},
			error: c.error,
		}
		k8s := tiltCase{
			name: "TestResourceLinks/K8s-" + c.name,
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', links=" + c.expr + ")\n" +
				"k8s_resource('foo') # test that subsequent calls don't clear the links\n"}),
			error: c.error,
		}
		if c.error == "" {
			local.check = localLinks("foo", c.links)
			k8s.check = also(k8sResources(holding("foo", "Deployment/foo")), annotated("foo", annotationLinks, c.links))
		}
		add(local, k8s, tiltCase{name: "TestResourceLinks/dc-" + c.name, skip: k8sDockerCompose})
	}

	labelled := func(key string) map[string]string { return map[string]string{key: "value" + key[len(key)-1:]} }
	grouping := k8sStream(
		k8sDeployment("deployment-a", "", "", labelled("keyA")),
		k8sDeployment("deployment-b", "", "", labelled("keyB")), k8sService("service-b", labelled("keyB")),
		k8sDeployment("deployment-c", "", "", labelled("keyC")), k8sService("service-c1", labelled("keyC")),
		k8sService("service-c2", labelled("keyC")), k8sSecret("someSecret"))
	grouped := k8sResources(holding("deployment-a", "Deployment/deployment-a"),
		holding("deployment-b", "Deployment/deployment-b", "Service/service-b"),
		holding("deployment-c", "Deployment/deployment-c", "Service/service-c1", "Service/service-c2"),
		uncategorizedHolding("Secret/someSecret"))
	sancho := func(sidecar string) map[string]string {
		return map[string]string{"Dockerfile": "FROM golang:1.10", "k8s.yaml": "apiVersion: apps/v1\nkind: Deployment\n" +
			"metadata:\n  name: sancho\n  namespace: sancho-ns\n  labels:\n    app: sancho\nspec:\n  replicas: 1\n" +
			"  selector:\n    matchLabels:\n      app: sancho\n  template:\n    metadata:\n      labels:\n        app: sancho\n" +
			"    spec:\n      containers:\n      - name: sancho\n        image: gcr.io/some-project-162817/sancho\n" +
			"      - name: sidecar\n        image: " + sidecar + "\n",
			"Tiltfile": "k8s_yaml('k8s.yaml')\n"}
	}
	add(tiltCase{
		name: "TestK8sResourceWithLinksAndPortForwards",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n" +
			"k8s_resource('foo', port_forwards=[8000, 8001], links=link(\"www.zombo.com\", name=\"zombo\"))\n"}),
		check: also(k8sResources(holding("foo", "Deployment/foo")),
			forwards("foo", `{"containerPort":0,"host":"","localPort":8000}`, `{"containerPort":0,"host":"","localPort":8001}`),
			annotated("foo", annotationLinks, `[{"name":"zombo","url":"http://www.zombo.com"}]`)),
	}, tiltCase{
		name:  "TestExpand",
		files: withFiles(expandFiles, map[string]string{"Tiltfile": "k8s_yaml('all.yaml')\n"}),
		check: also(k8sResources(holding("a", "Deployment/a"), holding("b", "Deployment/b"), holding("c", "Deployment/c"),
			holding("d", "Deployment/d")), depends("Tiltfile", "all.yaml")),
	}, tiltCase{
		name: "TestExpandUnresourced",
		files: map[string]string{"all.yaml": k8sStream(k8sDeployment("a", "gcr.io/a", "", nil), k8sSecret("a-secret")),
			"Tiltfile": "k8s_yaml('all.yaml')\n"},
		check: k8sResources(holding("a", "Deployment/a"), uncategorizedHolding("Secret/a-secret")),
	}, tiltCase{
		name: "TestUnresourcedPodCreatorYamlAsManifest",
		files: map[string]string{"pod_creator.yaml": k8sStream(k8sDeployment("pod-creator", "", "", nil), k8sSecret("not-pod-creator")),
			"Tiltfile": "k8s_yaml('pod_creator.yaml')\n"},
		check: k8sResources(holding("pod-creator", "Deployment/pod-creator"), uncategorizedHolding("Secret/not-pod-creator")),
	}, tiltCase{
		name:  "TestUnresourcedYamlGroupingV1",
		files: map[string]string{"all.yaml": grouping, "Tiltfile": "k8s_yaml('all.yaml')"},
		check: grouped,
	}, tiltCase{
		name:  "TestUnresourcedYamlGroupingV2",
		files: map[string]string{"all.yaml": grouping, "Tiltfile": "\nk8s_yaml('all.yaml')"},
		check: grouped,
	}, tiltCase{
		name: "TestK8sGroupedWhenAddedToResource",
		files: map[string]string{"all.yaml": k8sStream(
			k8sDeployment("deployment-a", "gcr.io/a", "", labelled("keyA")),
			k8sDeployment("deployment-b", "gcr.io/b", "", labelled("keyB")), k8sService("service-b", labelled("keyB")),
			k8sDeployment("deployment-c", "gcr.io/c", "", labelled("keyC")), k8sService("service-c1", labelled("keyC")),
			k8sService("service-c2", labelled("keyC"))), "Tiltfile": "k8s_yaml('all.yaml')\n"},
		check: k8sResources(holding("deployment-a", "Deployment/deployment-a"),
			holding("deployment-b", "Deployment/deployment-b", "Service/service-b"),
			holding("deployment-c", "Deployment/deployment-c", "Service/service-c1", "Service/service-c2")),
	}, tiltCase{
		name:  "TestImplicitK8sResourceWithoutDockerBuild",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', port_forwards=8000)\n"}),
		check: forwards("foo", `{"containerPort":0,"host":"","localPort":8000}`),
	}, tiltCase{
		name: "TestExpandTwoDeploymentsWithSameImage",
		files: map[string]string{"all.yaml": k8sStream(k8sDeployment("a", "gcr.io/a", "", nil), k8sDeployment("a2", "gcr.io/a", "", nil),
			k8sDeployment("b", "gcr.io/b", "", nil), k8sDeployment("c", "gcr.io/c", "", nil), k8sDeployment("d", "gcr.io/d", "", nil)),
			"Tiltfile": "k8s_yaml('all.yaml')\n"},
		check: k8sResources(holding("a", "Deployment/a"), holding("a2", "Deployment/a2"), holding("b", "Deployment/b"),
			holding("c", "Deployment/c"), holding("d", "Deployment/d")),
	}, tiltCase{
		name: "TestMultipleYamlFiles",
		files: map[string]string{"a.yaml": k8sDeployment("a", "gcr.io/a", "", nil), "b.yaml": k8sDeployment("b", "gcr.io/b", "", nil),
			"c.yaml": k8sDeployment("c", "gcr.io/c", "", nil), "d.yaml": k8sDeployment("d", "gcr.io/d", "", nil),
			"Tiltfile": "k8s_yaml(['a.yaml', 'b.yaml', 'c.yaml', 'd.yaml'])\n"},
		check: also(k8sResources(holding("a", "Deployment/a"), holding("b", "Deployment/b"), holding("c", "Deployment/c"),
			holding("d", "Deployment/d")), depends("a.yaml", "b.yaml", "c.yaml", "d.yaml")),
	}, tiltCase{
		name:  "TestK8sYAMLInputBareString",
		files: withFiles(fooFiles, map[string]string{"bar.yaml": "im not yaml", "Tiltfile": "k8s_yaml('bar.yaml')\n"}),
		error: "{root}/bar.yaml is not a valid YAML file",
	}, tiltCase{
		name:  "TestK8sYAMLInputFromReadFile",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml(str(read_file('foo.yaml')))\n"}),
		error: "no such file or directory",
	}, tiltCase{
		name: "TestK8sYAMLInvalid",
		files: map[string]string{"Tiltfile": "k8s_yaml(blob('''apiVersion: v1\nkind: Secret\nmetadata:\n  name: mysecret\n" +
			"type: Opaque\ndata:\n  stuff: \"!\"'''))\n"},
		error: `Error reading yaml from Tiltfile blob() call: decoding Secret "mysecret": illegal base64 data at input byte 0`,
	}, tiltCase{
		name:    "TestYamlNone",
		files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml(None)\n"}),
		message: "Empty YAML passed to k8s_yaml",
	}, tiltCase{
		name:    "TestYamlEmptyBlob",
		files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml(blob(''))\n"}),
		message: "Empty YAML passed to k8s_yaml",
	}, tiltCase{
		name:  "TestSanchoSidecar",
		files: sancho("gcr.io/some-project-162817/sancho-sidecar"),
		check: k8sResources(holding("sancho", "Deployment/sancho")),
	}, tiltCase{
		name:  "TestSanchoRedisSidecar",
		files: sancho("redis:latest"),
		check: k8sResources(holding("sancho", "Deployment/sancho")),
	})

	// extra_pod_selectors, on foo.
	for _, c := range []struct{ name, expr, selectors, error string }{
		{"TestExtraPodSelectors", "[{'foo': 'bar', 'baz': 'qux'}, {'quux': 'corge'}]",
			`{"extraSelectors":[{"matchLabels":{"baz":"qux","foo":"bar"}},{"matchLabels":{"quux":"corge"}}]}`, ""},
		{"TestExtraPodSelectorsNotList", "'hello'", "", "pod labels must be a dict or a list; got starlark.String"},
		{"TestExtraPodSelectorsDict", "{'foo': 'bar'}", `{"extraSelectors":[{"matchLabels":{"foo":"bar"}}]}`, ""},
		{"TestExtraPodSelectorsElementNotDict", "['hello']", "", "pod labels elements must be dicts; got starlark.String"},
		{"TestExtraPodSelectorsKeyNotString", "[{54321: 'hello'}]", "", "pod label keys must be strings; got '54321' of type starlark.Int"},
		{"TestExtraPodSelectorsValueNotString", "[{'hello': 54321}]", "", "pod label values must be strings; got '54321' of type starlark.Int"},
	} {
		selectors := tiltCase{
			name:  c.name,
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', extra_pod_selectors=" + c.expr + ")\n"}),
			error: c.error,
		}
		if c.error == "" {
			selectors.check = specOf("foo", "kubernetesDiscoveryTemplateSpec", c.selectors)
		}
		add(selectors)
	}

	configMap := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n  foo: bar\n"
	fooStable := map[string]string{"foo.yaml": k8sDeployment("foo", "gcr.io/foo:stable", "", nil)}
	add(tiltCase{name: "TestPodReadinessDefaultDeployment", skip: k8sPodReadiness},
		tiltCase{name: "TestPodReadinessDefaultConfigMap", skip: k8sPodReadiness},
		tiltCase{name: "TestPodReadinessDefaultJob", skip: k8sPodReadiness},
		tiltCase{name: "TestCronJobReadiness", skip: k8sPodReadiness},
		tiltCase{
			name: "TestK8sDiscoveryStrategy",
			files: withFiles(fooStable, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n" +
				"k8s_resource('foo', discovery_strategy='selectors-only')\n"}),
			check: also(k8sResources(holding("foo", "Deployment/foo")), specOf("foo", "discoveryStrategy", `"selectors-only"`)),
		}, tiltCase{
			name:  "TestK8sDiscoveryStrategyInvalid",
			files: withFiles(fooStable, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', discovery_strategy='typo')\n"}),
			error: `Invalid. Must be one of: "default", "selectors-only"`,
		},
		tiltCase{name: "TestPodReadinessOverrideDeployment", skip: k8sPodReadiness},
		tiltCase{name: "TestPodReadinessOverrideConfigMap", skip: k8sPodReadiness},
		tiltCase{
			name: "TestPodReadinessInvalid",
			files: map[string]string{"config.yaml": configMap, "Tiltfile": "k8s_yaml('config.yaml')\n" +
				"k8s_resource(new_name='config', objects=['config'], pod_readiness='w')\n"},
			error: "Invalid value. Allowed: {ignore, wait}. Got: w",
		}, tiltCase{
			name:    "TestYamlErrorFromLocal",
			files:   map[string]string{"Tiltfile": "yaml = local('echo hi')\nk8s_yaml(yaml)\n"},
			options: runOptions{crds: true, exec: true, env: map[string]string{"PATH": os.Getenv("PATH")}},
			error:   "echo hi",
		}, tiltCase{
			name:  "TestYamlErrorFromReadFile",
			files: map[string]string{"foo.yaml": "hi", "Tiltfile": "k8s_yaml(read_file('foo.yaml'))\n"},
			error: "file: {root}/foo.yaml",
		}, tiltCase{
			name:  "TestYamlErrorFromBlob",
			files: map[string]string{"Tiltfile": "k8s_yaml(blob('hi'))\n"},
			error: "from Tiltfile blob() call",
		})

	ns12 := map[string]string{
		"foo1.yaml": k8sDeployment("foo", "gcr.io/foo1", "ns1", nil),
		"foo2.yaml": k8sDeployment("foo", "gcr.io/foo2", "ns2", nil),
	}
	add(tiltCase{
		name:  "TestConflictingWorkloadNames",
		files: withFiles(ns12, map[string]string{"Tiltfile": "k8s_yaml(['foo1.yaml', 'foo2.yaml'])\n"}),
		check: k8sResources(holding("foo:deployment:ns1", "Deployment/foo"), holding("foo:deployment:ns2", "Deployment/foo")),
	}, tiltCase{
		name:  "TestK8sYamlEmptyArg",
		files: map[string]string{"Tiltfile": "k8s_yaml('')\n"},
		error: "error reading yaml file",
	}, tiltCase{
		name:  "TestAssemblyBasic",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n"}),
		check: also(k8sResources(holding("foo", "Deployment/foo")), dependsOnly("Tiltfile", "foo.yaml")),
	}, tiltCase{
		name:  "TestAssemblyTwoWorkloadsSameImage",
		files: withFiles(fooFiles, map[string]string{"bar.yaml": k8sDeployment("bar", "gcr.io/foo", "", nil), "Tiltfile": "k8s_yaml(['foo.yaml', 'bar.yaml'])\n"}),
		check: also(k8sResources(holding("foo", "Deployment/foo"), holding("bar", "Deployment/bar")),
			dependsOnly("Tiltfile", "foo.yaml", "bar.yaml")),
	}, tiltCase{
		name: "TestAssemblyServiceWithoutSelectorMatchesNothing",
		files: map[string]string{"all.yaml": k8sStream(k8sDeployment("foo", "", "", map[string]string{"app": "foo"}),
			k8sService("service-without-selectors", map[string]string{})), "Tiltfile": "k8s_yaml('all.yaml')\n"},
		check: k8sResources(holding("foo", "Deployment/foo"), uncategorizedHolding("Service/service-without-selectors")),
	}, tiltCase{
		name:  "TestK8sResourceNoMatch",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "\nk8s_yaml('foo.yaml')\nk8s_resource('bar', new_name='baz')\n"}),
		error: "specified unknown resource \"bar\". known k8s resources: foo",
	}, tiltCase{
		name:  "TestK8sResourceNewName",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "\nk8s_yaml('foo.yaml')\nk8s_resource('foo', new_name='bar')\n"}),
		check: k8sResources(holding("bar", "Deployment/foo")),
	}, tiltCase{
		name: "TestK8sResourceRenameTwice",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', new_name='bar')\n" +
			"k8s_resource('bar', new_name='baz')\n"}),
		check: k8sResources(holding("baz", "Deployment/foo")),
	}, tiltCase{
		name:  "TestK8sResourceNewNameConflict",
		files: withFiles(fooBarFiles, map[string]string{"Tiltfile": "\nk8s_yaml(['foo.yaml', 'bar.yaml'])\nk8s_resource('foo', new_name='bar')\n"}),
		error: `k8s_resource specified to rename "foo" to "bar": k8s_resource named "bar" already exists`,
	}, tiltCase{
		name: "TestK8sResourceRenameConflictingNames",
		files: withFiles(ns12, map[string]string{"Tiltfile": "\nk8s_yaml(['foo1.yaml', 'foo2.yaml'])\n" +
			"k8s_resource('foo:deployment:ns2', new_name='foo')\n"}),
		check: k8sResources(holding("foo:deployment:ns1", "Deployment/foo"), holding("foo", "Deployment/foo")),
	}, tiltCase{
		name: "TestConflictingNewNames",
		files: map[string]string{"ns1.yaml": k8sNamespace("ns1"), "ns2.yaml": k8sNamespace("ns2"),
			"Tiltfile": "k8s_yaml(['ns1.yaml', 'ns2.yaml'])\nk8s_resource(new_name='foo', objects=['ns1:namespace'])\n" +
				"k8s_resource(new_name='foo', objects=['ns2:namespace'])\n"},
		error: "k8s_resource named \"foo\" already exists",
	}, tiltCase{
		name:  "TestAdditivePortForwards",
		files: withFiles(fooFiles, map[string]string{"Tiltfile": "\nk8s_yaml('foo.yaml')\nk8s_resource('foo', port_forwards=8001)\nk8s_resource('foo', port_forwards=8000)\n"}),
		check: forwards("foo", `{"containerPort":0,"host":"","localPort":8001}`, `{"containerPort":0,"host":"","localPort":8000}`),
	})
	for _, name := range []string{
		"default", "explicit global auto", "explicit global manual", "kr auto", "kr manual", "kr manual, auto_init=False",
		"kr manual, auto_init=True", "kr override auto", "kr override manual", "kr override manual, auto_init=False",
		"kr override manual, auto_init=True",
	} {
		add(tiltCase{name: "TestTriggerModeK8S/" + strings.ReplaceAll(name, " ", "_"), skip: k8sTriggerMode})
	}
	add(tiltCase{name: "TestK8sContext", skip: k8sClusterNames})

	// Duplicates: the error names the object and where the first was registered (the call stack,
	// indented).
	duplicate := func(what string, line int) string {
		stack := fmt.Sprintf("Traceback (most recent call last):\n  {root}/Tiltfile:%d:9: in <toplevel>\n  <builtin>: in k8s_yaml", line)
		return fmt.Sprintf("Duplicate YAML: %s\nIgnore this error with k8s_yaml(..., allow_duplicates=True)\n"+
			"YAML originally registered at: %s", what, strings.ReplaceAll(stack, "\n", "\n  "))
	}
	twoServices := k8sStream(k8sService("doggos", nil), k8sService("doggos", nil))
	fooLabels := map[string]string{"foo": "bar"}
	add(tiltCase{
		name:  "TestDuplicateYAMLEntityWithinSingleResource",
		files: map[string]string{"resource.yaml": twoServices, "Tiltfile": "\nk8s_yaml('resource.yaml')\n"},
		error: duplicate("Service doggos", 2),
	}, tiltCase{
		name:  "TestDuplicateYAMLEntityWithinSingleResourceAllowed",
		files: map[string]string{"resource.yaml": twoServices, "Tiltfile": "\nk8s_yaml('resource.yaml', allow_duplicates=True)\n"},
		check: k8sResources(uncategorizedHolding("Service/doggos", "Service/doggos")),
	}, tiltCase{
		name: "TestDuplicateYAMLEntityAcrossResources",
		files: map[string]string{"foo1.yaml": k8sDeployment("foo", "gcr.io/foo1", "ns1", nil),
			"Tiltfile": "\n\nk8s_yaml(['foo1.yaml', 'foo1.yaml'])\nk8s_resource('foo:deployment:ns1', new_name='foo')\n"},
		error: duplicate("Deployment foo (Namespace: ns1)", 3),
	}, tiltCase{
		name: "TestDuplicateYAMLEntityInSingleWorkload",
		files: map[string]string{"all.yaml": k8sStream(k8sDeployment("foo-deployment", "gcr.io/foo1", "ns1", fooLabels),
			k8sService("foo-service", fooLabels), k8sService("foo-service", fooLabels)), "Tiltfile": "\nk8s_yaml('all.yaml')\n"},
		error: duplicate("Service foo-service", 2),
	}, tiltCase{
		name: "TestDuplicateYAMLEntityInUserAssembledNonWorkloadResource",
		files: map[string]string{"all.yaml": k8sStream(k8sService("foo-service", nil), k8sService("foo-service", nil)),
			"Tiltfile": "\nk8s_yaml('all.yaml')\nk8s_resource(objects=['foo-service:Service:default'], new_name='my-services')\n"},
		error: duplicate("Service foo-service", 2),
	})
	for _, name := range []string{"minikube", "docker-for-desktop", "kind", "gke", "allowed"} {
		add(tiltCase{name: "TestK8SContextAcceptance/" + name, skip: k8sContexts})
	}
	add(tiltCase{name: "TestCheckK8SContextWhenOnlyUncategorizedK8s", skip: k8sContexts}, tiltCase{
		name:  "TestK8SDependsOn",
		files: withFiles(fooBarFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('bar.yaml')\nk8s_resource('bar', resource_deps=['foo'])\n"}),
		check: also(k8sResources(holding("foo"), holding("bar")), annotated("foo", annotationResourceDeps, ""),
			annotated("bar", annotationResourceDeps, "foo")),
	})

	// k8s_resource(objects=...): foo, and a secret and a namespace.
	objectFiles := func(secret, namespace string) map[string]string {
		return withFiles(fooFiles, map[string]string{"secret.yaml": k8sSecret(secret), "namespace.yaml": k8sNamespace(namespace)})
	}
	objectsTiltfile := func(objects string) map[string]string {
		return map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\nk8s_yaml('namespace.yaml')\n" +
			"k8s_resource('foo', objects=" + objects + ")\n"}
	}
	objectsCase := func(name, secret, namespace, objects string) tiltCase {
		return tiltCase{name: name, files: withFiles(objectFiles(secret, namespace), objectsTiltfile(objects))}
	}
	withCheck := func(c tiltCase, check func(*testing.T, *tiltfileRun)) tiltCase {
		c.check = check
		return c
	}
	withError := func(c tiltCase, error string) tiltCase {
		c.error = error
		return c
	}
	ambiguous := `"bar" is not a unique fragment. Objects that match "bar" are "bar:Secret:default", "bar:Namespace:default"`
	knative := "---\n# an Image of Knative's, in its own namespace\n\napiVersion: caching.internal.knative.dev/v1alpha1\nkind: Image\n" +
		"metadata:\n  name: queue-proxy\n  namespace: knative-serving\nspec:\n  image: gcr.io/knative-releases/knative.dev/serving/cmd/queue\n"
	threeFiles := map[string]string{"a.yaml": k8sDeployment("a", "", "", nil), "b.yaml": k8sNamespace("b"), "c.yaml": k8sNamespace("c")}
	var renamed []wantResource
	for i := 1; i <= 25; i++ {
		renamed = append(renamed, holding(fmt.Sprintf("deploy%d-renamed", i), fmt.Sprintf("Deployment/deploy%d", i)))
	}
	renamedFiles := map[string]string{"Tiltfile": "for i in range(1, 26):\n  k8s_yaml('deploy%d.yaml' % (i))\n" +
		"  k8s_resource('deploy%d' % (i), new_name='deploy%d-renamed' % (i), labels=['a'])\n" +
		"  k8s_resource('deploy%d-renamed' % (i), labels=['b'])\n"}
	renamedChecks := []func(*testing.T, *tiltfileRun){k8sResources(renamed...)}
	for i := 1; i <= 25; i++ {
		renamedFiles[fmt.Sprintf("deploy%d.yaml", i)] = k8sDeployment(fmt.Sprintf("deploy%d", i), "", "", nil)
		renamedChecks = append(renamedChecks, annotated(fmt.Sprintf("deploy%d-renamed", i), annotationLabels, "a,b"))
	}
	add(withCheck(objectsCase("TestK8sResourceObjectsAddsNonWorkload", "bar", "baz", "['bar', 'baz:namespace:default']"),
		k8sResources(holding("foo", "Deployment/foo", "Secret/bar", "Namespace/baz"))),
		withError(objectsCase("TestK8sResourceObjectsWithSameName", "bar", "bar", "['bar', 'bar:namespace:default']"), ambiguous),
		tiltCase{
			name: "TestK8sResourceObjectsCantIncludeSameObjectTwice",
			files: withFiles(fooFiles, map[string]string{"secret1.yaml": k8sSecret("bar"), "secret2.yaml": k8sSecret("qux"),
				"namespace.yaml": k8sNamespace("bar"), "Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret1.yaml')\n" +
					"k8s_yaml('secret2.yaml')\nk8s_resource('foo', objects=['bar', 'bar:secret:default'])\n"}),
			error: `No object identified by the fragment "bar:secret:default" could be found in remaining YAML. ` +
				`Valid remaining fragments are: "qux:Secret:default"`,
		},
		withError(objectsCase("TestK8sResourceObjectsMultipleAmbiguous", "bar", "bar", "['bar', 'bar']"), ambiguous),
		withError(objectsCase("TestK8sResourceObjectEmptySelector", "bar", "baz", "['']"), `Error making selector from string ""`),
		withError(objectsCase("TestK8sResourceObjectInvalidSelector", "bar", "baz", "['baz:namespace:default:wot']"),
			`Error making selector from string "baz:namespace:default:wot"`),
		withCheck(objectsCase("TestK8sResourceObjectSelectorWithEscapedColon", "quu:bar", "baz", `['quu\\:bar', 'baz:namespace:default']`),
			k8sResources(holding("foo", "Deployment/foo", "Secret/quu:bar", "Namespace/baz"))),
		withCheck(objectsCase("TestK8sResourceObjectSelectorWithEscapedBackslash", `quu\bar`, "baz", `['quu\\\\bar', 'baz:namespace:default']`),
			k8sResources(holding("foo", "Deployment/foo", `Secret/quu\bar`, "Namespace/baz"))),
		withError(objectsCase("TestK8sResourceObjectSelectorSuggestedObjectsAreEscaped", "quu:bar", "baz", "['quu:bar', 'baz:namespace:default']"),
			`No object identified by the fragment "quu:bar" could be found. Possible objects are: "foo:Deployment:default", `+
				`"quu\\:bar:Secret:default", "baz:Namespace:default"`),
		withError(objectsCase("TestK8sResourceObjectSelectorInvalidEscapeSequence", "quu:bar", "baz", `['qu\\u:bar', 'baz:namespace:default']`),
			`invalid escape sequence '\u' in 'qu\u:b'`),
		withError(objectsCase("TestK8sResourceObjectIncludesSelectorThatDoesntExist", "bar", "baz", "['baz:secret:default']"),
			`No object identified by the fragment "baz:secret:default" could be found. Possible objects are: `+
				`"foo:Deployment:default", "bar:Secret:default", "baz:Namespace:default"`),
		withCheck(objectsCase("TestK8sResourceObjectsPartialNames", "bar", "bar", "['bar:secret', 'bar:namespace']"),
			k8sResources(holding("foo", "Deployment/foo", "Secret/bar", "Namespace/bar"))),
		tiltCase{
			name: "TestK8sResourcePrefixesShouldntMatch",
			files: withFiles(fooFiles, map[string]string{"secret.yaml": k8sSecret("bar"),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\nk8s_resource('foo', objects=['ba'])\n"}),
			error: `No object identified by the fragment "ba" could be found. Possible objects are: "foo:Deployment:default", "bar:Secret:default"`,
		},
		withError(objectsCase("TestK8sResourceAmbiguousSelector", "bar", "bar", "['bar']"), ambiguous),
		tiltCase{
			name: "TestK8sResourceObjectDuplicate",
			files: withFiles(fooFiles, map[string]string{"secret.yaml": k8sSecret("bar"), "anotherworkload.yaml": k8sDeployment("baz", "", "", nil),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('anotherworkload.yaml')\nk8s_yaml('secret.yaml')\n" +
					"k8s_resource('foo', objects=['bar'])\nk8s_resource('baz', objects=['bar'])\n"}),
			error: `No object identified by the fragment "bar" could be found in remaining YAML. Valid remaining fragments are:`,
		},
		tiltCase{
			name: "TestK8sResourceObjectMultipleResources",
			files: withFiles(objectFiles("bar", "qux"), map[string]string{"anotherworkload.yaml": k8sDeployment("baz", "", "", nil),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\nk8s_yaml('namespace.yaml')\nk8s_yaml('anotherworkload.yaml')\n" +
					"k8s_resource('foo', objects=['bar'])\nk8s_resource('baz')\n"}),
			check: k8sResources(holding("foo", "Deployment/foo", "Secret/bar"), holding("baz", "Deployment/baz"),
				uncategorizedHolding("Namespace/qux")),
		},
		tiltCase{
			name: "TestMultipleResourcesMultipleObjects",
			files: withFiles(objectFiles("bar", "qux"), map[string]string{"anotherworkload.yaml": k8sDeployment("baz", "", "", nil),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\nk8s_yaml('namespace.yaml')\nk8s_yaml('anotherworkload.yaml')\n" +
					"k8s_resource('foo', objects=['bar'])\nk8s_resource('baz', objects=['qux'])\n"}),
			check: k8sResources(holding("foo", "Deployment/foo", "Secret/bar"), holding("baz", "Deployment/baz", "Namespace/qux")),
		},
		tiltCase{
			name: "TestK8sResourceAmbiguousWorkloadAmbiguousObject",
			files: withFiles(fooFiles, map[string]string{"secret.yaml": k8sSecret("foo"),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\nk8s_resource('foo', objects=['foo'])\n"}),
			error: `"foo" is not a unique fragment. Objects that match "foo" are "foo:Deployment:default", "foo:Secret:default"`,
		},
		tiltCase{name: "TestK8sResourceObjectsWithWorkloadToResourceFunction", skip: k8sWorkloadNaming},
		tiltCase{
			name:  "TestK8sResourceNewNameWithoutObjects",
			files: map[string]string{"Tiltfile": "k8s_resource(new_name='foo')\n"},
			error: "k8s_resource doesn't specify a workload or any objects",
		},
		withError(objectsCase("TestK8sResourceObjectsWithGroup", "bar", "baz", "['bar', 'baz:namespace:default:core']"),
			`Error making selector from string "baz:namespace:default:core": Too many parts in selector. Selectors must contain `+
				`between 1 and 3 parts (colon separated), found 4 parts in baz:namespace:default:core`),
		tiltCase{
			name: "TestK8sResourceObjectClusterScoped",
			files: withFiles(fooFiles, map[string]string{"namespace.yaml": k8sNamespace("baz"),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('namespace.yaml')\nk8s_resource('foo', objects=['baz:namespace'])\n"}),
			check: k8sResources(holding("foo", "Deployment/foo", "Namespace/baz")),
		},
		tiltCase{
			name: "TestK8sResourceObjectClusterScopedWithNamespace",
			files: withFiles(fooFiles, map[string]string{"namespace.yaml": k8sNamespace("baz"),
				"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('namespace.yaml')\nk8s_resource('foo', objects=['baz:namespace:qux'])\n"}),
			error: `No object identified by the fragment "baz:namespace:qux" could be found. Possible objects are: "foo:Deployment:default", "baz:Namespace:default"`,
		},
		tiltCase{
			name: "TestK8sResourceObjectsNonWorkloadOnly",
			files: map[string]string{"secret.yaml": k8sSecret("bar"), "namespace.yaml": k8sNamespace("baz"),
				"Tiltfile": "k8s_yaml('secret.yaml')\nk8s_yaml('namespace.yaml')\nk8s_resource(new_name='foo', objects=['bar', 'baz:namespace:default'])\n"},
			check: k8sResources(holding("foo", "Secret/bar", "Namespace/baz")),
		},
		tiltCase{
			name: "TestK8sResourceNewNameAdditive",
			files: map[string]string{"a.yaml": k8sNamespace("a"), "b.yaml": k8sNamespace("b"), "Tiltfile": "k8s_yaml('a.yaml')\nk8s_yaml('b.yaml')\n" +
				"k8s_resource(new_name='namespaces', objects=['a'])\nk8s_resource('namespaces', objects=['b'])\n"},
			check: k8sResources(holding("namespaces", "Namespace/a", "Namespace/b")),
		},
		tiltCase{
			name: "TestK8sExistingResourceAdditive",
			files: withFiles(threeFiles, map[string]string{"Tiltfile": "k8s_yaml('a.yaml')\nk8s_yaml('b.yaml')\nk8s_yaml('c.yaml')\n" +
				"k8s_resource('a', objects=['b'])\nk8s_resource('a', objects=['c'])\n"}),
			check: k8sResources(holding("a", "Deployment/a", "Namespace/b", "Namespace/c")),
		},
		tiltCase{name: "TestK8sExistingResourceNewNameAdditive", files: renamedFiles, check: also(renamedChecks...)},
		tiltCase{
			name: "TestK8sExistingResourceNewNameAlreadyTaken",
			files: withFiles(threeFiles, map[string]string{"Tiltfile": "k8s_yaml('a.yaml')\nk8s_yaml('b.yaml')\nk8s_yaml('c.yaml')\n" +
				"k8s_resource('a', objects=['b'])\nk8s_resource(new_name='a', objects=['c'])\n"}),
			error: `k8s_resource named "a" already exists`,
		},
		tiltCase{
			name: "TestK8sNonWorkloadOnlyResourceWithAllTheOptions",
			files: withFiles(objectFiles("bar", "baz"), map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_yaml('secret.yaml')\n" +
				"k8s_yaml('namespace.yaml')\nk8s_resource(new_name='bar', objects=['bar', 'baz:namespace:default'], port_forwards=9876, " +
				"extra_pod_selectors=[{'quux': 'corge'}], trigger_mode=TRIGGER_MODE_MANUAL, resource_deps=['foo'])\n"}),
			check: k8sResources(holding("foo"), holding("bar", "Secret/bar", "Namespace/baz")),
		},
		tiltCase{
			name:  "TestK8sResourceEmptyWorkloadSpecifierAndNoObjects",
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "\nk8s_yaml('foo.yaml')\nk8s_resource('', port_forwards=8000)\n"}),
			error: "Resource name missing. Must give a name for an existing resource or a new_name to create a new resource.",
		},
		tiltCase{
			name: "TestK8sResourceNonWorkloadRequiresNewName",
			files: map[string]string{"secret.yaml": k8sSecret("bar"), "namespace.yaml": k8sNamespace("baz"),
				"Tiltfile": "k8s_yaml('secret.yaml')\nk8s_yaml('namespace.yaml')\nk8s_resource(objects=['bar', 'baz:namespace:default'])\n"},
			error: "Resource name missing. Must give a name for an existing resource or a new_name to create a new resource.",
		},
		tiltCase{
			name: "TestK8sResourceNewNameCantOverwriteWorkload",
			files: withFiles(fooFiles, map[string]string{"secret.yaml": k8sSecret("bar"), "Tiltfile": "k8s_yaml('foo.yaml')\n" +
				"k8s_yaml('secret.yaml')\nk8s_resource('foo', new_name='bar')\nk8s_resource(new_name='bar', objects=['bar:secret'])\n"}),
			error: "already exists",
		},
		tiltCase{
			name: "TestK8sResourceObjectsNonAmbiguousDefaultNamespace",
			files: map[string]string{"serving-core.yaml": knative, "Tiltfile": "k8s_yaml([\n\t'serving-core.yaml',\n])\n\n" +
				"k8s_resource(\n  objects=[\n\t  'queue-proxy:Image',\n\t],\n  new_name='knative-gateways')\n"},
			check: k8sResources(holding("knative-gateways", "Image/queue-proxy")),
		},
		tiltCase{
			name: "TestK8sResourceObjectsAreNotCaseSensitive",
			files: map[string]string{"serving-core.yaml": knative, "Tiltfile": "k8s_yaml([\n\t'serving-core.yaml',\n])\n\n" +
				"k8s_resource(\n  objects=[\n\t  'queue-proxy:image',\n\t],\n  new_name='knative-gateways')\n"},
			check: k8sResources(holding("knative-gateways", "Image/queue-proxy")),
		},
		tiltCase{
			name:  "TestK8sResourceLabels",
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', labels=\"test\")\n"}),
			check: also(k8sResources(holding("foo")), annotated("foo", annotationLabels, "test")),
		},
		tiltCase{
			name: "TestK8sResourceLabelsAppend",
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', labels=\"test\")\n" +
				"k8s_resource('foo', labels=\"test2\")\n"}),
			check: also(k8sResources(holding("foo")), annotated("foo", annotationLabels, "test,test2")),
		})
	runCases(t, cases)
}

// Tilt's k8scontext tests: k8s_namespace(), and allow_k8s_contexts, which stays Tilt's engine's.
func TestTiltK8sContext(t *testing.T) {
	runCases(t, []tiltCase{
		{name: "TestK8sNamespaceDefaultNamespace", files: map[string]string{"Tiltfile": "\nprint(k8s_namespace())\n"}, output: "default\n"},
		{name: "TestK8sNamespaceNonStandardNamespace", skip: k8sClusterNames},
		{name: "TestAllowK8sContext", skip: k8sContexts},
		{name: "TestForbidK8sContext", skip: k8sContexts},
	})
}

// What the KubernetesApply of a resource is, beyond what Tilt's tests check.
func TestK8sResourcesAreKubernetesApplys(t *testing.T) {
	crds := runOptions{crds: true}
	job := "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: myjob\n"
	cronJob := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: mycronjob\n"
	runCases(t, []tiltCase{
		{
			name: "one per resource, named by the rule for names, its objects in Tilt's order",
			files: map[string]string{"app.yaml": k8sStream(k8sDeployment("My_App", "", "", nil), k8sService("My_App", nil),
				k8sNamespace("tools"), k8sSecret("creds")), "Tiltfile": "k8s_yaml('app.yaml')\n" +
				"k8s_resource('my_app', objects=['creds', 'tools'], resource_deps=['setup'], labels=['web'])\n" +
				"local_resource('setup', 'true')\n"},
			options: crds,
			check: func(t *testing.T, r *tiltfileRun) {
				obj := k8sApplyOf(t, r, "my_app")
				metadata := obj["metadata"].(map[string]any)
				want := map[string]any{"name": "my-app", "annotations": map[string]any{"tilt.dev/resource": "my_app",
					"tilt.dev/name": "my_app", "tilt.dev/resource-deps": "setup", "tilt.dev/labels": "web"}}
				if !reflect.DeepEqual(metadata, want) {
					t.Errorf("metadata %v, want %v", metadata, want)
				}
				if have := appliedObjects(t, obj); !reflect.DeepEqual(have, []string{"Namespace/tools", "Secret/creds", "Service/My_App", "Deployment/My_App"}) {
					t.Errorf("objects %v", have)
				}
				spec := obj["spec"].(map[string]any)
				if spec["cluster"] != "default" || spec["timeout"] != "30s" || len(spec) != 3 {
					t.Errorf("spec %v", spec)
				}
				if kinds := []any{r.objects[0]["kind"], r.objects[len(r.objects)-1]["kind"]}; !reflect.DeepEqual(kinds, []any{"KubernetesApply", "Cmd"}) {
					t.Errorf("the k8s resources come first, as Tilt's manifests: %v", kinds)
				}
			},
		},
		{
			name: "update_settings(k8s_upsert_timeout_secs) is every KubernetesApply's spec.timeout, as Tilt writes it",
			files: map[string]string{"Tiltfile": "update_settings(k8s_upsert_timeout_secs=300)\n" +
				"k8s_yaml(blob('apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a}\\n'))\n"},
			options: crds,
			check: func(t *testing.T, r *tiltfileRun) {
				if timeout := k8sApplyOf(t, r, "uncategorized")["spec"].(map[string]any)["timeout"]; timeout != "5m0s" {
					t.Errorf("spec.timeout %v, want 5m0s", timeout)
				}
				said := "update_settings(k8s_upsert_timeout_secs=300): recorded; k8s_upsert_timeout_secs is each KubernetesApply's spec.timeout"
				if !strings.Contains(r.output, said) {
					t.Errorf("output %q, want it to say %q", r.output, said)
				}
			},
		},
		{
			name:    "a Job or CronJob without images is a resource of its name",
			files:   map[string]string{"jobs.yaml": k8sStream(job, cronJob), "Tiltfile": "k8s_yaml('jobs.yaml')\n"},
			options: crds,
			check:   k8sResources(holding("myjob", "Job/myjob"), holding("mycronjob", "CronJob/mycronjob")),
		},
		{
			name: "a List is its items, and empty documents are nothing",
			files: map[string]string{"Tiltfile": "k8s_yaml(blob('---\\n# nothing\\n---\\napiVersion: v1\\nkind: List\\nitems:\\n" +
				"- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\\n'))\n"},
			options: crds,
			check:   k8sResources(uncategorizedHolding("ConfigMap/a", "ConfigMap/b")),
		},
		{
			name:    "a resource depends on a local resource, and the other way",
			files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', resource_deps=['db', 'nope'])\nlocal_resource('db', 'true', resource_deps=['foo'])\n"}),
			options: crds,
			message: "cycle detected in resource dependency graph: foo -> db -> foo",
			check:   warned("resource foo specified a dependency on unknown resource nope - dependency ignored"),
		},
		{
			name:    "a workload and a local resource of one name",
			files:   withFiles(fooFiles, map[string]string{"Tiltfile": "local_resource('foo', 'true')\nk8s_yaml('foo.yaml')\n"}),
			options: crds,
			message: `error making resource for workload foo:deployment:default:apps: local_resource named "foo" already exists`,
		},
		{
			name:    "without the KubernetesApply CRD, k8s_yaml fails in one line",
			files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n"}),
			message: "k8s_yaml registers KubernetesApply objects, and no KubernetesApply CRD is installed",
		},
		{
			name:    "k8s_context() and k8s_namespace() name the operator's own cluster",
			files:   map[string]string{"Tiltfile": "print(k8s_context(), k8s_namespace(), port_forward(8000, 80, name='web'))\n"},
			output:  "default default port_forward(local_port=8000, container_port=80, name=\"web\")\n",
			options: crds,
		},
		{
			name:    "trigger_mode and auto_init say they have no effect",
			files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\nk8s_resource('foo', trigger_mode=TRIGGER_MODE_MANUAL, auto_init=False)\n"}),
			options: crds,
			check: warned("k8s_resource foo: trigger_mode has no effect here: a KubernetesApply is applied when the Tiltfile has run",
				"k8s_resource foo: auto_init has no effect here: a KubernetesApply is applied when the Tiltfile has run"),
		},
	})
}
