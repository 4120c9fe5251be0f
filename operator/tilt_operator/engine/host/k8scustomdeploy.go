package main

import (
	"fmt"

	"go.starlark.net/starlark"
)

// Tilt's k8s_custom_deploy(name, apply_cmd, delete_cmd, deps, ...), with Tilt's signature,
// defaults and errors (docs/design.md, "The Tiltfile language"): a k8s resource named name, made
// when it is called as Tilt makes it (so it comes before the workloads of k8s_yaml, and
// k8s_resource and resource_deps can name it), deployed by a command instead of YAML. It is one
// KubernetesApply (kubernetesapply.go) with spec.applyCmd and spec.deleteCmd, read as
// local_resource reads its cmd; deps is the FileWatch "k8s:NAME", Tilt's name for the files of a
// k8s resource, in the KubernetesApply's spec.restartOn: a change applies again.
//
// image_selector, container_selector, live_update and image_deps are Tilt's image engine's:
// live_update and image_deps fail, naming the parameter, when they hold anything; the selectors,
// which Tilt reads only for a live_update, are accepted with a warning.

// k8sCustomDeploy is what one k8s_custom_deploy call deploys with.
type k8sCustomDeploy struct {
	name      string
	applyCmd  *command
	deleteCmd *command
	deps      []string
}

// pathListArgument is deps as Tilt's value.LocalPathListUnpacker takes it: a path or a list or
// tuple of them, relative to base (the declaring file's directory).
type pathListArgument struct {
	base  string
	paths []string
}

func (p *pathListArgument) Unpack(value starlark.Value) (err error) {
	p.paths, err = pathList(value, p.base)
	return err
}

// imageListArgument is image_deps as Tilt's value.ImageList takes it: None, or a list or tuple of
// image references.
type imageListArgument []string

func (l *imageListArgument) Unpack(value starlark.Value) error {
	*l = nil
	switch value.(type) {
	case *starlark.List, starlark.Tuple, starlark.NoneType:
	default:
		return fmt.Errorf("value should be a List or Tuple of strings, but is of type %s", value.Type())
	}
	for _, item := range valueOrSequence(value) {
		text, ok := starlark.AsString(item)
		if !ok {
			return fmt.Errorf("value should contain only strings, but element %q was of type %s", item.String(), item.Type())
		}
		if err := checkImageReference(text); err != nil {
			return fmt.Errorf("must be a valid image reference: %w", err)
		}
		*l = append(*l, text)
	}
	return nil
}

func (r *run) builtinK8sCustomDeploy(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, imageSelector, containerSelector string
	var applyCmd, applyCmdBat, applyDir, deleteCmd, deleteCmdBat, deleteDir, liveUpdate starlark.Value
	var applyEnv, deleteEnv envArgument
	var imageDeps imageListArgument
	base := currentDir(thread)
	deps := &pathListArgument{base: base}
	// apply_cmd_bat and delete_cmd_bat are Tilt's commands on Windows: read, as Tilt reads them
	// elsewhere, and left unused.
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name", &name,
		"apply_cmd", &applyCmd,
		"delete_cmd", &deleteCmd,
		"deps", deps,
		"image_selector?", &imageSelector,
		"live_update?", &liveUpdate,
		"apply_dir?", &applyDir,
		"apply_env?", &applyEnv,
		"apply_cmd_bat?", &applyCmdBat,
		"delete_dir?", &deleteDir,
		"delete_env?", &deleteEnv,
		"delete_cmd_bat?", &deleteCmdBat,
		"container_selector?", &containerSelector,
		"image_deps?", &imageDeps,
	); err != nil {
		return nil, err
	}
	if err := r.needsKubernetesApply(fn); err != nil {
		return nil, err
	}
	if _, err := objectName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	deploy := &k8sCustomDeploy{name: name, deps: deps.paths}
	var err error
	if deploy.applyCmd, err = localCommand(applyCmd, applyDir, applyEnv, base); err != nil {
		return nil, fmt.Errorf("apply_cmd: %w", err)
	} else if deploy.applyCmd == nil {
		return nil, fmt.Errorf("%s: apply_cmd cannot be empty", fn.Name())
	}
	if deploy.deleteCmd, err = localCommand(deleteCmd, deleteDir, deleteEnv, base); err != nil {
		return nil, fmt.Errorf("delete_cmd: %w", err)
	} else if deploy.deleteCmd == nil {
		return nil, fmt.Errorf("%s: delete_cmd cannot be empty", fn.Name())
	}
	if len(valueOrSequence(liveUpdate)) > 0 {
		return nil, fmt.Errorf("%s: live_update belongs to Tilt's image-build and deploy engine, which this operator does not run", fn.Name())
	}
	if err := r.resourceConflict(name); err != nil {
		return nil, fmt.Errorf("error making resource for %s: %w", name, err)
	}
	if len(imageDeps) > 0 {
		return nil, fmt.Errorf("resource %q: image build %q not found: image_deps belongs to Tilt's image-build and deploy engine, which this operator does not run",
			name, imageDeps[0])
	}
	for _, selector := range []struct{ parameter, value string }{
		{"image_selector", imageSelector}, {"container_selector", containerSelector},
	} {
		if selector.value != "" {
			r.warn(fmt.Sprintf("k8s_custom_deploy %s: %s has no effect without live_update", name, selector.parameter))
		}
	}
	r.k8s.customDeploys = append(r.k8s.customDeploys, deploy)
	return starlark.None, nil
}

// resourceConflict is Tilt's error for a second resource of a name while the Tiltfile runs: the
// k8s resources that exist by then are k8s_custom_deploy's.
func (r *run) resourceConflict(name string) error {
	for _, deploy := range r.k8s.customDeploys {
		if deploy.name == name {
			return fmt.Errorf("k8s_resource named %q already exists", name)
		}
	}
	for _, res := range r.localResources {
		if res.name == name {
			return fmt.Errorf("local_resource named %q already exists", name)
		}
	}
	return nil
}

// customDeployFileWatch is the FileWatch of a custom deploy's deps: Tilt's name for the files of
// the k8s resource.
func customDeployFileWatch(resource string) string {
	return "k8s:" + resource
}

// applyCommand is a command as a KubernetesApplyCmd: args, dir and env.
func applyCommand(cmd *command) *starlark.Dict {
	values := map[string]starlark.Value{"args": cmd.args}
	if cmd.env != nil {
		values["env"] = cmd.env
	}
	return stringDict(map[string]string{"dir": cmd.dir}, values)
}
