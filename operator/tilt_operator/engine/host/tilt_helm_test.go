package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Tilt's tests of helm() (helm_test.go), on a small chart of this file's own. Where Tilt checks a
// manifest's YAML, the check here is the spec.yaml of the KubernetesApply the run registers for
// that resource. The cases that render a chart run the helm hack/helm builds (hack/test.sh and
// hack/compatibility.py build it and name it in TILT_OPERATOR_TEST_HELM); the ones about which
// helm runs and what it is asked run a stand-in helm that says the version a case gives it.

// helmEnvironment names the helm these tests run.
const helmEnvironment = "TILT_OPERATOR_TEST_HELM"

// Why some of Tilt's helm cases do not run here.
const (
	helmGitRepo  = "Tilt's engine: local_git_repo, whose paths() this case passes to helm(), belongs to it"
	helmNotBuilt = "needs the helm hack/helm builds: run it through hack/test.sh, or name it in " + helmEnvironment +
		" (python -c 'from tilt_operator.devcluster.binaries import ensure_helm; print(ensure_helm())')"
)

// The test chart, "greeting": a Service, and an Ingress and a Namespace where values turn them on.
const (
	greetingChart = `apiVersion: v2
name: greeting
description: The chart of the Tiltfile host's helm tests
version: 0.2.0
`
	greetingValues = `port: 80
targetPort: 8080
portName: http
ingress:
  enabled: false
  host: greeting.example
ownNamespace:
  enabled: false
  name: ""
`
	greetingNames = `{{- define "greeting.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
`
	greetingService = `apiVersion: v1
kind: Service
metadata:
  name: {{ include "greeting.fullname" . }}
  labels:
    release: {{ .Release.Name }}
    releaseNamespace: {{ .Release.Namespace }}
spec:
  selector:
    app: {{ include "greeting.fullname" . }}
  ports:
  - name: {{ .Values.portName }}
    port: {{ .Values.port }}
    targetPort: {{ .Values.targetPort }}
`
	greetingIngress = `{{- if .Values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "greeting.fullname" . }}
spec:
  rules:
  - host: {{ .Values.ingress.host }}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {{ include "greeting.fullname" . }}
            port:
              number: {{ .Values.port }}
{{- end -}}
`
	greetingNamespace = `{{- if .Values.ownNamespace.enabled -}}
apiVersion: v1
kind: Namespace
metadata:
  name: {{ .Values.ownNamespace.name }}
  labels:
    persisted: "true"
{{- end -}}
`
	greetingDevValues = "portName: http-dev\n"
	// A chart test: a hook helm template prints, under templates/tests/.
	greetingTest = `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-answers
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers:
  - name: check
    image: busybox
    command: ["wget", "{{ include "greeting.fullname" . }}:{{ .Values.port }}"]
`
)

// greetingFiles is the chart at helm/, with a values file outside it at dev/helm/.
func greetingFiles(tiltfile string, more map[string]string) map[string]string {
	return withFiles(map[string]string{
		"Tiltfile":                    tiltfile,
		"helm/Chart.yaml":             greetingChart,
		"helm/values.yaml":            greetingValues,
		"helm/templates/_names.tpl":   greetingNames,
		"helm/templates/service.yaml": greetingService,
		"helm/templates/ingress.yaml": greetingIngress,
		"helm/templates/ns.yaml":      greetingNamespace,
		"dev/helm/values-dev.yaml":    greetingDevValues,
	}, more)
}

// fakeHelm is a helm that says $FAKE_HELM_VERSION for `helm version --short` and, for `helm
// template`, a ConfigMap holding its arguments.
const fakeHelm = `#!/bin/sh
if [ "$1" = version ]; then
  printf '%s\n' "$FAKE_HELM_VERSION"
  exit 0
fi
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: helm-arguments\ndata:\n  argv: "%s"\n' "$*"
`

// helmWithVersion is the Tiltfile calling helm() on a chart whose crds/ has one object, with the
// stand-in helm in bin first on the PATH, saying version.
func helmWithVersion(name, bin, version string, check tiltCase) tiltCase {
	check.name = name
	check.files = map[string]string{
		"Tiltfile":               "print(helm('chart'))\n",
		"chart/Chart.yaml":       "apiVersion: v2\nname: versions\nversion: 0.1.0\n",
		"chart/crds/gadget.yaml": "apiVersion: example.dev/v1\nkind: Gadget\nmetadata:\n  name: from-crds\n",
	}
	check.options = runOptions{exec: true, env: map[string]string{"PATH": bin + ":/usr/bin:/bin", "FAKE_HELM_VERSION": version}}
	return check
}

// specYAML checks that the KubernetesApply of a resource has each text in its spec.yaml.
func specYAML(resource string, texts ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		spec, _ := k8sApplyOf(t, r, resource)["spec"].(map[string]any)
		text, _ := spec["yaml"].(string)
		for _, want := range texts {
			if !strings.Contains(text, want) {
				t.Errorf("spec.yaml of %s has no %q:\n%s", resource, want, text)
			}
		}
	}
}

// specYAMLWithout checks that the KubernetesApply of a resource has none of texts in its spec.yaml.
func specYAMLWithout(resource string, texts ...string) func(t *testing.T, r *tiltfileRun) {
	return func(t *testing.T, r *tiltfileRun) {
		t.Helper()
		spec, _ := k8sApplyOf(t, r, resource)["spec"].(map[string]any)
		text, _ := spec["yaml"].(string)
		for _, unwanted := range texts {
			if strings.Contains(text, unwanted) {
				t.Errorf("spec.yaml of %s has %q:\n%s", resource, unwanted, text)
			}
		}
	}
}

// packagedChart is a chart as `helm package` makes it: a gzipped tar of the chart's directory,
// its files given by their paths inside that directory.
func packagedChart(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	var data bytes.Buffer
	zipped := gzip.NewWriter(&data)
	archive := tar.NewWriter(zipped)
	paths := make([]string, 0, len(files))
	for path := range files {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		header := &tar.Header{Name: name + "/" + path, Mode: 0o644, Size: int64(len(files[path])), Typeflag: tar.TypeReg}
		if err := archive.WriteHeader(header); err != nil {
			t.Fatal(err)
		}
		if _, err := archive.Write([]byte(files[path])); err != nil {
			t.Fatal(err)
		}
	}
	if err := archive.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zipped.Close(); err != nil {
		t.Fatal(err)
	}
	return data.String()
}

// builtHelm is the directory of the helm hack/helm builds, "" where the tests were not given one.
func builtHelm(t *testing.T) string {
	t.Helper()
	program := os.Getenv(helmEnvironment)
	if program == "" {
		return ""
	}
	if info, err := os.Stat(program); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("%s=%s is no helm program: %v", helmEnvironment, program, err)
	}
	dir, err := filepath.Abs(filepath.Dir(program))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTiltHelm(t *testing.T) {
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "helm"), []byte(fakeHelm), 0o755); err != nil {
		t.Fatal(err)
	}
	withHelm := runOptions{}
	notBuilt := helmNotBuilt
	if dir := builtHelm(t); dir != "" {
		notBuilt = ""
		withHelm = runOptions{exec: true, crds: true, env: map[string]string{"PATH": dir + ":" + os.Getenv("PATH")}}
	}
	// A case that renders the chart with the built helm.
	rendering := func(c tiltCase) tiltCase {
		c.options, c.skip = withHelm, notBuilt
		return c
	}
	backend := packagedChart(t, "backend", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: backend\nversion: 1.0.1\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-backend
spec:
  selector:
    matchLabels:
      app: backend
  template:
    metadata:
      labels:
        app: backend
    spec:
      containers:
      - name: backend
        image: registry.example/backend:1.0.1
`,
	})
	namespaceValues := func(name string) map[string]string {
		return map[string]string{"helm/extra_values.yaml": "ownNamespace:\n  enabled: true\n  name: " + name + "\n"}
	}
	runCases(t, []tiltCase{
		rendering(tiltCase{
			name:  "TestHelm",
			files: greetingFiles("\nyml = helm('helm')\nk8s_yaml(yml)\n", nil),
			check: also(k8sResources(uncategorizedHolding("Service/chart-greeting")), dependsOnly("Tiltfile", "helm")),
		}),
		rendering(tiltCase{
			name: "TestHelmArgs",
			files: greetingFiles(`
yml = helm('./helm', name='first-release', namespace='staging', values=['./dev/helm/values-dev.yaml'])
k8s_yaml(yml)
`, nil),
			check: also(
				k8sResources(uncategorizedHolding("Service/first-release-greeting")),
				specYAML(uncategorized, "release: first-release", "namespace: staging", "releaseNamespace: staging", "name: http-dev"),
				dependsOnly("Tiltfile", "helm", "dev/helm/values-dev.yaml"),
			),
		}),
		rendering(tiltCase{
			name: "TestHelmNamespaceFlagDoesNotInsertNSEntityIfNSInChart",
			files: greetingFiles(`
yml = helm('./helm', name='first-release', namespace="foobarbaz", values=['./helm/extra_values.yaml'])
k8s_yaml(yml)
`, namespaceValues("foobarbaz")),
			// The Namespace the chart makes is the only one, and keeps its labels.
			check: also(
				k8sResources(uncategorizedHolding("Namespace/foobarbaz", "Service/first-release-greeting")),
				specYAML(uncategorized, `persisted: "true"`),
			),
		}),
		rendering(tiltCase{
			name: "TestHelmNamespaceFlagInsertsNSEntityIfDifferentNSInChart",
			files: greetingFiles(`
yml = helm('./helm', name='first-release', namespace="foobarbaz", values=['./helm/extra_values.yaml'])
k8s_yaml(yml)
`, namespaceValues("not-the-one-specified-in-flag")),
			check: k8sResources(uncategorizedHolding("Namespace/not-the-one-specified-in-flag", "Service/first-release-greeting")),
		}),
		{
			name:  "TestHelmInvalidDirectory",
			files: map[string]string{"Tiltfile": "\nyml = helm('helm')\nk8s_yaml(yml)\n"},
			error: "Could not read Helm chart directory",
		},
		{name: "TestHelmFromRepoPath", skip: helmGitRepo},
		rendering(tiltCase{
			name:  "TestHelmMalformedChart",
			files: map[string]string{"Tiltfile": "\nyml = helm('helm')\nk8s_yaml(yml)\n", "helm/Chart.yaml": "brrrrr"},
			error: "error unmarshaling JSON",
			check: dependsOnly("Tiltfile", "helm"),
		}),
		rendering(tiltCase{
			name: "TestHelmNamespace",
			files: greetingFiles("\nyml = helm('./helm', name='first-release', namespace='staging')\nk8s_yaml(yml)\n",
				map[string]string{"helm/templates/public-config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: public-config
  namespace: kube-public
data:
  noData: "true"
`}),
			check: also(
				k8sResources(uncategorizedHolding("ConfigMap/public-config", "Service/first-release-greeting")),
				specYAML(uncategorized, "name: first-release-greeting\n  namespace: staging", "name: public-config\n  namespace: kube-public"),
			),
		}),
		rendering(tiltCase{
			name: "TestHelmSetArgs",
			files: greetingFiles(`
yml = helm('./helm', name='first-release', namespace='staging', set=[
  'ingress.enabled=true',
  'port=1234',
  'targetPort=5678'
])
k8s_yaml(yml)
`, nil),
			// A Service and an Ingress of the same name.
			check: also(
				k8sResources(uncategorizedHolding("Service/first-release-greeting", "Ingress/first-release-greeting")),
				specYAML(uncategorized, "port: 1234", "targetPort: 5678", "name: first-release-greeting", "number: 1234"),
			),
		}),
		{
			name:    "TestHelmSetArgsMap",
			files:   greetingFiles("\nyml = helm('./helm', name='first-release', namespace='staging', set={'a': 'b'})\nk8s_yaml(yml)\n", nil),
			message: `helm: for parameter "set": value should be a string or List or Tuple of strings, but is of type dict`,
		},
		helmWithVersion("TestParseHelmV2Version", fake, "Client: v2.12.3geecf22f",
			tiltCase{error: "could not parse Helm version from string"}),
		// Helm 3.0 includes no CRDs: none is asked for, and those in the chart's crds/ are added.
		helmWithVersion("TestParseHelmV3Version", fake, "v3.0.0",
			tiltCase{printed: []string{"name: helm-arguments", "kind: Gadget"}, absent: []string{"--include-crds"}}),
		helmWithVersion("TestParseHelmV3_1Version", fake, "v3.1.0",
			tiltCase{printed: []string{"--include-crds"}, absent: []string{"kind: Gadget"}}),
		helmWithVersion("TestParseHelmV3_2Version", fake, "v3.2.4", tiltCase{printed: []string{"--include-crds"}}),
		// A helm that warns on stdout before its version.
		helmWithVersion("TestParseHelmV3_3Version", fake,
			"WARNING: a warning of this helm's\nWARNING: and another one\nv3.3.3+g55e3ca0\n",
			tiltCase{printed: []string{"--include-crds"}}),
		helmWithVersion("TestParsePkgxHelmV3_15Version", fake, "3.15.2", tiltCase{printed: []string{"--include-crds"}}),
		helmWithVersion("TestParsePkgxHelmV4", fake, "v4.0.0+g99cd196", tiltCase{printed: []string{"--include-crds"}}),
		helmWithVersion("TestHelmUnknownVersionError", fake, "vx.1.2",
			tiltCase{message: `could not parse Helm version from string: "vx.1.2\n"`}),
		{
			// Differs from Tilt's in where a dependency is: relative to the chart, as helm takes it
			// (Tilt takes it relative to the Tiltfile's directory).
			name: "TestLocalSubchartFileDependencies",
			files: map[string]string{
				"Tiltfile":               "helm('helm')\n",
				"helm/Chart.yaml":        "apiVersion: v1\nname: parent\nversion: 0.1.0\n",
				"helm/requirements.yaml": "dependencies:\n  - name: foobar\n    version: 1.0.1\n    repository: file://./foobar\n",
				"helm/foobar/Chart.yaml": "apiVersion: v1\nname: foobar\nversion: 1.0.1\n",
			},
			options: runOptions{exec: true, env: map[string]string{"PATH": fake + ":/usr/bin:/bin", "FAKE_HELM_VERSION": "v3.1.0"}},
			check:   dependsOnly("Tiltfile", "helm", "helm/foobar"),
		},
		{
			name: "TestSubchartRemoteDependencies",
			files: map[string]string{
				"Tiltfile":        "helm('helm')\n",
				"helm/Chart.yaml": "apiVersion: v1\nname: parent\nversion: 0.1.0\n",
				"helm/requirements.yaml": "\ndependencies:\n- name: etcd\n  version: 0.6.2\n" +
					"  repository: https://charts.example/incubator/\n  condition: etcd.deployChart\n",
			},
			options: runOptions{exec: true, env: map[string]string{"PATH": fake + ":/usr/bin:/bin", "FAKE_HELM_VERSION": "v3.1.0"}},
			check:   dependsOnly("Tiltfile", "helm"),
		},
		rendering(tiltCase{
			name: "TestHelmReleaseName",
			files: map[string]string{
				"Tiltfile":                            "\nk8s_yaml(helm('./helm'))\n",
				"helm/Chart.yaml":                     "apiVersion: v1\ndescription: a chart with an account\nname: metrics\nversion: 0.1.0\n",
				"helm/values.yaml":                    "serviceAccount:\n  create: true\n",
				"helm/templates/_names.tpl":           strings.ReplaceAll(greetingNames, "greeting.", "metrics."),
				"helm/templates/service-account.yaml": "{{- if .Values.serviceAccount.create }}\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ include \"metrics.fullname\" . }}\n{{- end }}\n",
			},
			check: also(
				k8sResources(uncategorizedHolding("ServiceAccount/chart-metrics")),
				specYAML(uncategorized, "name: chart-metrics"),
				specYAMLWithout(uncategorized, "RELEASE-NAME"),
			),
		}),
		rendering(tiltCase{
			name: "TestHelm3CRD",
			files: map[string]string{
				"Tiltfile":                            "\nk8s_yaml(helm('./helm'))\n",
				"helm/Chart.yaml":                     "apiVersion: v1\ndescription: crd chart\nname: crd\nversion: 0.1.0\n",
				"helm/templates/service-account.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: crd-sa\n",
				"helm/crds/gadget.yaml":               "apiVersion: example.dev/v1\nkind: Gadget\nmetadata:\n  name: first\nspec:\n  size: 3\n",
			},
			check: also(
				k8sResources(uncategorizedHolding("ServiceAccount/crd-sa", "Gadget/first")),
				specYAML(uncategorized, "kind: ServiceAccount", "kind: Gadget"),
			),
		}),
		// Tilt's says "in helm", which helm 3.1 and later do not: helm's error names the template.
		rendering(tiltCase{
			name:  "TestYamlErrorFromHelm",
			files: greetingFiles("\nk8s_yaml(helm('helm'))\n", map[string]string{"helm/templates/foo.yaml": "hi"}),
			error: "YAML parse error on greeting/templates/foo.yaml",
		}),
		rendering(tiltCase{
			name:  "TestHelmSkipsTests",
			files: greetingFiles("\nyml = helm('helm')\nk8s_yaml(yml)\n", map[string]string{"helm/templates/tests/answers.yaml": greetingTest}),
			check: also(k8sResources(uncategorizedHolding("Service/chart-greeting")), dependsOnly("Tiltfile", "helm")),
		}),
		rendering(tiltCase{
			name: "TestHelmIncludesRequirements",
			files: greetingFiles("\nyml = helm('helm')\nk8s_yaml(yml)\n", map[string]string{
				"helm/requirements.yaml":        "dependencies:\n  - name: backend\n    version: 1.0.1\n    repository: https://charts.example/\n",
				"helm/charts/backend-1.0.1.tgz": backend,
			}),
			check: k8sResources(holding("chart-backend", "Deployment/chart-backend"), uncategorizedHolding("Service/chart-greeting")),
		}),
	})
}

// helm() runs where local() does: with process execution on, helm found on the run's PATH.
func TestHelmRunsWhereLocalRuns(t *testing.T) {
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "helm"), []byte(fakeHelm), 0o755); err != nil {
		t.Fatal(err)
	}
	chart := map[string]string{"Tiltfile": "print(helm('chart'))\n", "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"}
	runCases(t, []tiltCase{
		{
			name:    "exec_off",
			files:   chart,
			options: runOptions{env: map[string]string{"PATH": fake}},
			message: "helm: running commands is off in this operator (start it with TILT_OPERATOR_EXEC=1, " +
				"or `tilt-operator dev`, where it is on)",
			check: dependsOnly("Tiltfile", "chart"),
		},
		{
			name:    "not_installed",
			files:   chart,
			options: runOptions{exec: true, env: map[string]string{"PATH": t.TempDir() + ":/usr/bin:/bin"}},
			message: helmNotInstalled,
		},
		{
			name:    "no_PATH",
			files:   chart,
			options: runOptions{exec: true},
			message: helmNotInstalled,
		},
		{
			// The run's PATH, as putenv left it, finds helm; its output stays out of the log.
			name: "putenv_PATH",
			files: withFiles(chart, map[string]string{
				"Tiltfile": "os.putenv('PATH', '" + fake + ":/usr/bin:/bin')\nyml = helm('chart', set='a=b')\n",
			}),
			options: runOptions{exec: true, env: map[string]string{"FAKE_HELM_VERSION": "v4.3.2"}},
			output:  "Running: helm template chart {root}/chart --include-crds --set a=b\n",
		},
		{
			name:    "values_outside_the_root",
			files:   withFiles(chart, map[string]string{"Tiltfile": "helm('chart', values=['/etc/hostname'])\n"}),
			options: runOptions{exec: true, env: map[string]string{"PATH": fake + ":/usr/bin:/bin", "FAKE_HELM_VERSION": "v4.3.2"}},
			error:   "helm: /etc/hostname is outside ",
		},
		{
			name:    "a_file",
			files:   withFiles(chart, map[string]string{"Tiltfile": "helm('chart/Chart.yaml')\n"}),
			message: `helm() may only be called on directories with Chart.yaml: "{root}/chart/Chart.yaml"`,
		},
		{
			name: "a_failing_helm",
			files: withFiles(chart, map[string]string{
				"Tiltfile": "os.putenv('PATH', os.getcwd() + '/bin:/usr/bin:/bin')\nhelm('chart')\n",
				"bin/helm": "#!/bin/sh\n[ \"$1\" = version ] && echo v4.3.2 && exit 0\necho rendered; echo broken >&2; exit 3\n",
			}),
			setup: func(root string) {
				if err := os.Chmod(filepath.Join(root, "bin", "helm"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			options: runOptions{exec: true},
			error:   "command \"helm template chart {root}/chart --include-crds\" failed.\nerror: exit status 3\nstdout:\nrendered\n\nstderr:\nbroken\n",
		},
	})
}
