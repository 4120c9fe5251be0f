package main

import (
	"fmt"
	"testing"
)

// The JSONPath templates image locators read (jsonpath.go): what kubectl's JSONPath finds, and
// its errors, on the data k8s_yaml reads.
func TestJSONPathFindsWhatKubernetesFinds(t *testing.T) {
	objects, err := parseK8sYAML(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: front, app: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: main
        image: gcr.io/web
        ports: [{containerPort: 80}, {containerPort: 443}]
        env:
        - {name: HELPER_IMAGE, value: gcr.io/helper}
        - {name: MODE, value: fast}
      - name: side
        image: gcr.io/side
        ports: []
      volumes: null
`)
	if err != nil {
		t.Fatal(err)
	}
	data := objects[0].data
	for _, c := range []struct{ path, want string }{
		{"{.spec.template.spec.containers[*].image}", "[gcr.io/web gcr.io/side]"},
		{"{.spec.template.spec.containers[*].env[?(@.name=='HELPER_IMAGE')].value}", "[gcr.io/helper]"},
		{`{.spec.template.spec.containers[0].env[?(@.name != "MODE")].value}`, "[gcr.io/helper]"},
		{"{.spec.template.spec.containers[?(@.env)].name}", "[main]"},
		{"{.spec.template.spec.containers[0].ports[?(@.containerPort > 80)].containerPort}", "[443]"},
		{"{.spec.template.spec.containers[-1].name}", "[side]"},
		{"{.spec.template.spec.containers[0:2:2].name}", "[main]"},
		{"{.spec.template.spec.containers[0,1].name}", "[main side]"},
		{"{$['metadata'].name}", "[web]"},
		{"{.metadata.labels.*}", "[web front]"},
		{"{..image}", "[gcr.io/web gcr.io/side]"},
		{"image: {.spec.template.spec.containers[1].image}", "[image:  gcr.io/side]"},
		{"{.spec.template.spec.volumes}", "[<nil>]"}, // a key that is null is there
		{"{.spec.template.spec.containers[1].ports[*].containerPort}", "[]"},
	} {
		t.Run(c.path, func(t *testing.T) {
			path, err := parseJSONPath(c.path)
			if err != nil {
				t.Fatal(err)
			}
			found, err := path.results(data)
			if err != nil {
				t.Fatal(err)
			}
			if have := fmt.Sprint(found); have != c.want {
				t.Errorf("found %s, want %s", have, c.want)
			}
		})
	}
	for _, c := range []struct{ path, parseError, error string }{
		{path: "{.spec", parseError: "unclosed action"},
		{path: "{.spec[0}", parseError: "unterminated array"},
		{path: "{.spec[x]}", parseError: "invalid array index x"},
		{path: "{.spec[?(@.a=='b')}", parseError: "unclosed array expect ]"},
		{path: "{'abc}", parseError: "unterminated quoted string"},
		{path: "{#}", parseError: "unrecognized character in action: U+0023 '#'"},
		{path: "{range .items[*]}{.name}{end}", parseError: "range is not supported here: an image's JSONPath has no loops"},
		{path: "{foobar()}", error: "unrecognized identifier foobar()"},
		{path: "{.foobar}", error: "foobar is not found"},
		{path: "{.metadata[0]}", error: "map[string]interface {} is not array or slice"},
		{path: "{.spec.template.spec.containers[2]}", error: "array index out of bounds: index 2, length 2"},
		{path: "{.spec.template.spec.containers[?(@.name==1)]}", error: "incompatible types for comparison"},
		{path: "{.spec.template.spec.containers[?(@.ports==1)]}", error: "invalid type for comparison"},
	} {
		t.Run(c.path, func(t *testing.T) {
			path, err := parseJSONPath(c.path)
			if c.parseError != "" {
				if err == nil || err.Error() != c.parseError {
					t.Fatalf("parse error %v, want %s", err, c.parseError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := path.results(data); err == nil || err.Error() != c.error {
				t.Fatalf("error %v, want %s", err, c.error)
			}
		})
	}
}
