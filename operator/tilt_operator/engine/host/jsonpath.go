package main

import (
	"k8s.io/client-go/util/jsonpath"
)

// jsonPath is a JSONPath template as Tilt's k8s_kind(image_json_path=...) and
// k8s_image_json_path read it to find images in objects (docs/design.md, "The Tiltfile
// language"): Kubernetes' own JSONPath (kubectl's, which Tilt's is a copy of), its grammar,
// results and errors, over the data k8s_yaml reads.
type jsonPath struct {
	source string
	parsed *jsonpath.JSONPath
}

// parseJSONPath reads a template; its errors are Kubernetes' parser's.
func parseJSONPath(source string) (*jsonPath, error) {
	parsed := jsonpath.New("image locator")
	if err := parsed.Parse(source); err != nil {
		return nil, err
	}
	return &jsonPath{source: source, parsed: parsed}, nil
}

// results is every value the template finds in data, in order.
func (path *jsonPath) results(data any) ([]any, error) {
	found, err := path.parsed.FindResults(data)
	if err != nil {
		return nil, err
	}
	var values []any
	for _, set := range found {
		for _, value := range set {
			values = append(values, value.Interface())
		}
	}
	return values, nil
}
