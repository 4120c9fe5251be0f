package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"sigs.k8s.io/yaml"
)

// Tilt's helm(paths, name="", namespace="", values=[], set=[], kube_version="", skip_crds=False):
// the YAML `helm template` makes of a chart directory, as a blob for k8s_yaml. Tilt's signature,
// checks, argv and post-processing: the release is named "chart" unless name says otherwise, the
// chart's CRDs are included (--include-crds, helm 3.1 and later) unless skip_crds, the chart's
// tests (templates under tests/) are left out, and with a namespace every object that names none
// gets it (helm template alone does not put it there). As in Tilt, the run depends on the chart's
// directory (everything inside it), on each values file and on the directories of the chart's
// file:// dependencies.
//
// helm is a program found on the run's PATH (which putenv changes), and it follows symlinks inside
// a chart, so it may read whatever the operator's user may: it runs only where local() may, with
// process execution on, the same way (builtins_local.go: the run's environment, within the run's
// time limit, without the host's memory limits). Where there is no helm, the run fails with one
// line naming the program.

// The parts of helm template's output Tilt relies on: documents separated by "---\n", each with a
// "# Source: CHART/templates/FILE" comment, which tells a chart's test (under templates/tests/).
const helmSeparator = "---\n"

var helmTestSource = regexp.MustCompile("^# Source: .*/tests/")

// helmFileRepository starts the repository of a dependency that is a directory of this machine.
const helmFileRepository = "file://"

// helmDefaultRelease is the release name when helm() is given none: a stable one, so the YAML is
// the same from run to run (as helm's own default for a generated name would not be).
const helmDefaultRelease = "chart"

// helmNotInstalled is the one line a run without a helm says.
const helmNotInstalled = "helm: the `helm` program is not installed: helm() runs `helm template`, and there is no " +
	"helm on the run's PATH (the operator's image has none; `tilt-operator dev` puts one there)"

// helmVersion is what Tilt tells apart in `helm version --short`.
type helmVersion int

const (
	helmUnknown      helmVersion = iota
	helmV3_0                     // includes no CRDs in its output: they are read from the chart's crds/
	helmV3_1AndAbove             // --include-crds
)

func (r *run) builtinHelm(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path pathArgument
	var name, namespace, kubeVersion string
	var values, set stringOrStringList
	var skipCRDs bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"paths", &path, "name?", &name, "namespace?", &namespace, "values?", &values, "set?", &set,
		"kube_version?", &kubeVersion, "skip_crds?", &skipCRDs); err != nil {
		return nil, err
	}
	chart, err := r.localPath(thread, fn.Name(), path.path)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(chart)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("Could not read Helm chart directory %q: does not exist", chart)
	case err != nil:
		return nil, fmt.Errorf("Could not read Helm chart directory %q: %v", chart, err)
	case !info.IsDir():
		return nil, fmt.Errorf("helm() may only be called on directories with Chart.yaml: %q", chart)
	}
	r.recordFile(chart)
	dependencies, err := helmFileDependencies(chart)
	if err != nil {
		return nil, fmt.Errorf("reading subchart deps: %v", err)
	}
	for _, dependency := range dependencies {
		// A dependency outside the run's root is not watched: helm template reads the copy in the
		// chart's charts/, which is inside the chart.
		if target, err := r.confineToCallers(thread, dependency, fn.Name()); err == nil {
			r.recordFile(target)
		}
	}

	if !r.req.ExecEnabled {
		return nil, execDisabled(fn.Name())
	}
	if _, err := lookPath("helm", r.env["PATH"]); err != nil {
		return nil, errors.New(helmNotInstalled)
	}
	dir := currentDir(thread)
	version, err := r.helmVersion(dir)
	if err != nil {
		return nil, err
	}

	if name == "" {
		name = helmDefaultRelease
	}
	argv := []string{"helm", "template", name, chart}
	if namespace != "" {
		argv = append(argv, "--namespace", namespace)
	}
	if kubeVersion != "" {
		argv = append(argv, "--kube-version", kubeVersion)
	}
	if !skipCRDs && version == helmV3_1AndAbove {
		argv = append(argv, "--include-crds")
	}
	for _, file := range values {
		target, err := r.localPath(thread, fn.Name(), file)
		if err != nil {
			return nil, err
		}
		r.recordFile(target)
		argv = append(argv, "--values", target)
	}
	for _, setting := range set {
		argv = append(argv, "--set", setting)
	}
	cmd := hostCommand{argv: argv, dir: dir}
	r.print(thread, "Running: "+cmd.String())
	text, err := r.helmOutput(cmd)
	if err != nil {
		return nil, err
	}

	text = withoutHelmTests(text)
	if version == helmV3_0 {
		crds, err := helmCRDs(chart)
		if err != nil {
			return nil, err
		}
		text = strings.Join(append([]string{text}, crds...), "\n---\n")
	}
	if namespace != "" {
		text, err = inNamespace(text, namespace)
		if err != nil {
			return nil, err
		}
	}
	return blob{text, "helm: " + chart}, nil
}

// stringOrStringList is a string, a list or tuple of strings, or None (nothing), as Tilt's
// value.StringOrStringList takes values and set; a blob is its text.
type stringOrStringList []string

func (s *stringOrStringList) Unpack(value starlark.Value) error {
	if err := stringOrStrings(value); err != nil {
		return err
	}
	*s = nil
	if text, ok := textOf(value); ok {
		*s = append(*s, text)
		return nil
	}
	for _, item := range valueOrSequence(value) {
		text, _ := textOf(item)
		*s = append(*s, text)
	}
	return nil
}

// helmOutput runs a helm command in the run's environment, its output kept out of the log, and
// returns what it wrote to stdout; a failure says all it wrote, as Tilt's message does.
func (r *run) helmOutput(cmd hostCommand) (string, error) {
	var stdout, stderr bytes.Buffer
	if err := r.execLocal(cmd, stringable{}, &stdout, &stderr, nil); err != nil {
		return "", fmt.Errorf("command %q failed.\nerror: %v\nstdout:\n%s\nstderr:\n%s\n",
			cmd.String(), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// helmVersion asks the helm on the run's PATH which it is, as Tilt does before each template.
func (r *run) helmVersion(dir string) (helmVersion, error) {
	out, err := r.helmOutput(hostCommand{argv: []string{"helm", "version", "--short"}, dir: dir})
	if err != nil {
		return helmUnknown, err
	}
	return parseHelmVersion(out)
}

// parseHelmVersion reads `helm version --short` as Tilt does: the last line, when a helm warns on
// stdout before it; helm 2 is not one Tilt runs.
func parseHelmVersion(output string) (helmVersion, error) {
	version := output
	if lines := strings.Split(strings.TrimSpace(output), "\n"); len(lines) > 1 {
		version = lines[len(lines)-1]
	}
	switch {
	case strings.HasPrefix(version, "v3.0."):
		return helmV3_0, nil
	case strings.HasPrefix(version, "v3."), strings.HasPrefix(version, "3."), strings.HasPrefix(version, "v4."):
		return helmV3_1AndAbove, nil
	}
	return helmUnknown, fmt.Errorf("could not parse Helm version from string: %q", output)
}

// withoutHelmTests is helm template's output without the chart's tests.
func withoutHelmTests(text string) string {
	var kept []string
	for _, document := range strings.Split(text, helmSeparator) {
		if !isHelmTest(document) {
			kept = append(kept, document)
		}
	}
	return strings.Join(kept, helmSeparator)
}

func isHelmTest(document string) bool {
	for _, line := range strings.Split(document, "\n") {
		if helmTestSource.MatchString(line) {
			return true
		}
	}
	return false
}

// helmFileDependencies are the directories of the chart's file:// dependencies, as its
// requirements.yaml (a Helm 2 chart's; Tilt reads only this one) and its Chart.yaml (a Helm 3
// chart's) list them. Unlike Tilt, which takes them relative to the Tiltfile's directory, they are
// relative to the chart, as helm takes them. A Chart.yaml helm cannot read is helm's to report.
func helmFileDependencies(chart string) ([]string, error) {
	var found []string
	for _, file := range []string{"requirements.yaml", "Chart.yaml"} {
		data, err := os.ReadFile(filepath.Join(chart, file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		dependencies, err := localSubchartDependencies(data)
		if err != nil && file == "Chart.yaml" {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, dependency := range dependencies {
			found = append(found, against(chart, dependency))
		}
	}
	return found, nil
}

// localSubchartDependencies are the repositories of a chart's dependencies that are file://
// paths, without the scheme.
func localSubchartDependencies(data []byte) ([]string, error) {
	var metadata struct {
		Dependencies []struct {
			Repository string `json:"repository"`
		} `json:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &metadata); err != nil {
		return nil, err
	}
	var paths []string
	for _, dependency := range metadata.Dependencies {
		if path, ok := strings.CutPrefix(dependency.Repository, helmFileRepository); ok {
			paths = append(paths, path)
		}
	}
	return paths, nil
}

// helmCRDs are the YAML files of the chart's crds/ directory, for helm 3.0, which leaves them out
// of its output (Tilt's workaround: it does not look into the chart's dependencies).
func helmCRDs(chart string) ([]string, error) {
	var crds []string
	err := filepath.Walk(filepath.Join(chart, "crds"), func(path string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		ext := filepath.Ext(path)
		if !info.Mode().IsRegular() || !(strings.EqualFold(ext, ".yaml") || strings.EqualFold(ext, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		crds = append(crds, string(data))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return crds, nil
}

// inNamespace is the objects of text, each that names no namespace put in namespace (helm
// template --namespace does not), as YAML documents.
func inNamespace(text, namespace string) (string, error) {
	objects, err := parseK8sYAML(text)
	if err != nil {
		return "", err
	}
	documents := make([]string, len(objects))
	for i, object := range objects {
		if object.rawNamespace() == "" {
			metadata, _ := object.data["metadata"].(map[string]any)
			if metadata == nil {
				metadata = map[string]any{}
				object.data["metadata"] = metadata
			}
			metadata["namespace"] = namespace
		}
		if documents[i], err = object.yamlText(); err != nil {
			return "", err
		}
	}
	return strings.Join(documents, "\n---\n"), nil
}
