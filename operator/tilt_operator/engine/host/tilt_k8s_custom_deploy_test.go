package main

import (
	"reflect"
	"testing"
)

// Tilt's tests of k8s_custom_deploy (k8s_custom_deploy_test.go, and the one in live_update_test.go
// that calls it). Where Tilt checks the manifest's KubernetesApplySpec, the check here is the
// KubernetesApply the run registers for the resource.

// Why some of Tilt's k8s_custom_deploy cases do not run here.
const (
	customDeployLiveUpdate = "Tilt's image engine: live_update and its image_selector or container_selector make a Live Update image target; live_update fails here, naming the parameter"
	customDeployImageBuild = "Tilt's image engine: image_deps names an image docker_build builds, and docker_build belongs to that engine"
)

func TestTiltK8sCustomDeploy(t *testing.T) {
	crds := runOptions{crds: true}
	deploy := func(extra string) map[string]string {
		return map[string]string{"Tiltfile": "\nk8s_custom_deploy('foo',\n                  apply_cmd='apply',\n" +
			"                  delete_cmd='delete',\n                  deps=[]" + extra + ")\n"}
	}
	runCases(t, []tiltCase{
		{name: "TestK8sCustomDeployLiveUpdateImageSelector", skip: customDeployLiveUpdate},
		{name: "TestK8sCustomDeployLiveUpdateContainerNameSelector", skip: customDeployLiveUpdate},
		{
			name: "TestK8sCustomDeployNoLiveUpdate",
			files: map[string]string{"Tiltfile": `
k8s_custom_deploy('foo',
                  apply_cmd='apply',
                  delete_cmd='delete',
                  apply_dir='apply-dir',
                  delete_dir='delete-dir',
                  apply_env={'APPLY_KEY': '1'},
                  delete_env={'DELETE_KEY': 'baz'},
                  deps=['foo'])
`},
			options: crds,
			check: also(
				k8sResources(wantResource{name: "foo", objects: []string{}, exactly: true}),
				specOf("foo", "yaml", "null"),
				func(t *testing.T, r *tiltfileRun) {
					specOf("foo", "applyCmd", `{"args":["sh","-c","apply"],"dir":"`+r.root+`/apply-dir","env":["APPLY_KEY=1"]}`)(t, r)
					specOf("foo", "deleteCmd", `{"args":["sh","-c","delete"],"dir":"`+r.root+`/delete-dir","env":["DELETE_KEY=baz"]}`)(t, r)
				}),
		},
		{
			name:    "TestK8sCustomDeployImageDepsMissing",
			files:   deploy(",\n                  image_deps=['image-a']"),
			options: crds,
			error:   `resource "foo": image build "image-a" not found`,
		},
		{
			name:    "TestK8sCustomDeployImageDepsMalformed",
			files:   deploy(",\n                  image_deps=['image a']"),
			options: crds,
			message: `k8s_custom_deploy: for parameter "image_deps": must be a valid image reference: invalid reference format`,
		},
		{name: "TestK8sCustomDeployImageDepExists", skip: customDeployImageBuild},
		{
			name: "TestK8sCustomDeployConflict",
			files: map[string]string{"Tiltfile": deploy("")["Tiltfile"] +
				"k8s_custom_deploy('foo',\n                  apply_cmd='apply',\n                  delete_cmd='delete',\n                  deps=[])\n"},
			options: crds,
			error:   `k8s_resource named "foo" already exists`,
		},
		{
			name:    "TestK8sCustomDeployLocalResourceConflict",
			files:   map[string]string{"Tiltfile": deploy("")["Tiltfile"] + "local_resource('foo', 'foo')\n"},
			options: crds,
			error:   `k8s_resource named "foo" already exists`,
		},
		{name: "TestLiveUpdate_InitialSync_K8sCustomDeploy", skip: customDeployLiveUpdate},
	})
}

// What the KubernetesApply of a k8s_custom_deploy is, beyond what Tilt's tests check.
func TestK8sCustomDeployIsAKubernetesApply(t *testing.T) {
	crds := runOptions{crds: true}
	// fails is a one-line Tiltfile whose run fails with message.
	fails := func(name, line, message string) tiltCase {
		return tiltCase{name: name, files: map[string]string{"Tiltfile": line + "\n"}, options: crds, message: message}
	}
	runCases(t, []tiltCase{
		{
			name: "its commands, its deps as the FileWatch k8s:NAME it restarts on, and k8s_resource's options",
			files: withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_yaml('foo.yaml')\n" +
				"k8s_custom_deploy('My_Chart', ['helm', 'upgrade'], 'helm uninstall', deps=['chart', 'values.yaml'])\n" +
				"k8s_resource('My_Chart', labels=['charts'], resource_deps=['foo'], links=['https://example.com'])\n"}),
			options: crds,
			check: also(
				k8sResources(wantResource{name: "My_Chart", objects: []string{}, exactly: true}, holding("foo", "Deployment/foo")),
				func(t *testing.T, r *tiltfileRun) {
					obj := k8sApplyOf(t, r, "My_Chart")
					metadata := obj["metadata"].(map[string]any)
					annotations := map[string]any{"tilt.dev/resource": "My_Chart", "tilt.dev/name": "My_Chart",
						"tilt.dev/resource-deps": "foo", "tilt.dev/labels": "charts", "tilt.dev/links": `[{"url":"https://example.com"}]`}
					if want := map[string]any{"name": "my-chart", "annotations": annotations}; !reflect.DeepEqual(metadata, want) {
						t.Errorf("metadata %v, want %v", metadata, want)
					}
					specOf("My_Chart", "applyCmd", `{"args":["helm","upgrade"],"dir":"`+r.root+`"}`)(t, r)
					specOf("My_Chart", "deleteCmd", `{"args":["sh","-c","helm uninstall"],"dir":"`+r.root+`"}`)(t, r)
					specOf("My_Chart", "cluster", `"default"`)(t, r)
					specOf("My_Chart", "restartOn", `{"fileWatches":["k8s.my-chart"]}`)(t, r)
					var watch map[string]any
					for _, obj := range r.objects {
						if obj["kind"] == "FileWatch" {
							watch = obj
						}
					}
					if watch == nil || annotationOf(watch, "tilt.dev/name") != "k8s:My_Chart" || annotationOf(watch, annotationResource) != "My_Chart" {
						t.Fatalf("FileWatch %v, want k8s:My_Chart of the resource", watch)
					}
					paths := watch["spec"].(map[string]any)["watchedPaths"]
					if want := []any{r.root + "/chart", r.root + "/values.yaml"}; !reflect.DeepEqual(paths, want) {
						t.Errorf("watchedPaths %v, want %v", paths, want)
					}
				}),
		},
		{
			name: "renamed by k8s_resource, and named by resource_deps; no deps, no FileWatch",
			files: map[string]string{"Tiltfile": "k8s_custom_deploy('a', 'apply', 'delete', deps=[])\n" +
				"k8s_resource('a', new_name='b')\nlocal_resource('after', 'true', resource_deps=['b'])\n"},
			options: crds,
			check: also(k8sResources(wantResource{name: "b", objects: []string{}, exactly: true}), specOf("b", "restartOn", "null"),
				func(t *testing.T, r *tiltfileRun) {
					for _, obj := range r.objects {
						if obj["kind"] == "FileWatch" && annotationOf(obj, annotationResource) == "b" {
							t.Errorf("a FileWatch with no deps: %v", obj)
						}
					}
				}),
		},
		{
			name:    "a local resource first, then k8s_custom_deploy of its name",
			files:   map[string]string{"Tiltfile": "local_resource('foo', 'true')\nk8s_custom_deploy('foo', 'apply', 'delete', deps=[])\n"},
			options: crds,
			message: `error making resource for foo: local_resource named "foo" already exists`,
		},
		{
			name:    "a workload of its name",
			files:   withFiles(fooFiles, map[string]string{"Tiltfile": "k8s_custom_deploy('foo', 'apply', 'delete', deps=[])\nk8s_yaml('foo.yaml')\n"}),
			options: crds,
			message: `error making resource for workload foo:deployment:default:apps: k8s_resource named "foo" already exists`,
		},
		fails("an empty apply_cmd", "k8s_custom_deploy('foo', '', 'delete', deps=[])",
			"k8s_custom_deploy: apply_cmd cannot be empty"),
		fails("an empty delete_cmd", "k8s_custom_deploy('foo', 'apply', [], deps=[])",
			"k8s_custom_deploy: delete_cmd cannot be empty"),
		fails("deps is required", "k8s_custom_deploy('foo', 'apply', 'delete')",
			"k8s_custom_deploy: missing argument for deps"),
		fails("live_update fails, naming the parameter", "k8s_custom_deploy('foo', 'apply', 'delete', deps=[], live_update=['step'])",
			"k8s_custom_deploy: live_update belongs to Tilt's image-build and deploy engine, which this operator does not run"),
		{
			name: "the selectors and the defaults of the image parameters, as extensions pass them",
			files: map[string]string{"Tiltfile": "k8s_custom_deploy('foo', 'apply', 'delete', deps=[], image_deps=[], live_update=None,\n" +
				"  image_selector='', container_selector='', apply_cmd_bat='apply.bat')\n" +
				"k8s_custom_deploy('bar', 'apply', 'delete', deps=[], image_selector='app', container_selector='main', live_update=[])\n"},
			options: crds,
			check: warned("k8s_custom_deploy bar: image_selector has no effect without live_update",
				"k8s_custom_deploy bar: container_selector has no effect without live_update"),
		},
		{
			name:    "without the KubernetesApply CRD, it fails in one line",
			files:   map[string]string{"Tiltfile": "k8s_custom_deploy('foo', 'apply', 'delete', deps=[])\n"},
			message: "k8s_custom_deploy registers KubernetesApply objects, and no KubernetesApply CRD is installed",
		},
	})
}
