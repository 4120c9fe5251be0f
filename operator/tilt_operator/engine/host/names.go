package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Tilt's names to Kubernetes names, the rule of tilt_operator.names (docs/design.md, "Names").
// Tilt accepts any path segment as a name ("API Server Logs", "Watch&Compile"); a real API server
// wants a lowercase RFC 1123 subdomain. Upper case is lowered, "_" becomes "-" and ":" becomes
// ".", so the button "sleeper:cancel" is the UIButton "sleeper.cancel"; every other character a
// subdomain cannot hold becomes "-" (runs of them one "-"), and each dot-separated part loses the
// "-" at its ends. The Tilt name is kept in the tilt.dev/name annotation.

// annotationTiltName holds the Tilt name of an object whose Kubernetes name had to differ.
const annotationTiltName = "tilt.dev/name"

// referenceFields name other tilt.dev objects, so their values are mapped like names.
var referenceFields = map[string]bool{"repoName": true, "uiButtons": true, "fileWatches": true}

var subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

var notInSubdomain = regexp.MustCompile(`[^-a-z0-9.]+`)

const maxNameLength = 253

func objectName(tiltName string) (string, error) {
	name := strings.NewReplacer("_", "-", ":", ".").Replace(strings.ToLower(tiltName))
	name = notInSubdomain.ReplaceAllString(name, "-")
	var parts []string
	for _, part := range strings.Split(name, ".") {
		if part = strings.Trim(part, "-"); part != "" {
			parts = append(parts, part)
		}
	}
	name = strings.Join(parts, ".")
	if tiltName == "." || tiltName == ".." || strings.ContainsAny(tiltName, "/%") ||
		len(name) > maxNameLength || !subdomain.MatchString(name) {
		return "", fmt.Errorf("%s cannot be a name: Tilt's names may not be '.' or '..' or contain '/' or '%%',"+
			" and must have a letter or digit", quoted(tiltName))
	}
	return name, nil
}

// named sets metadata.name for tiltName, and the tilt.dev/name annotation when the two differ.
func named(metadata map[string]any, tiltName string) error {
	name, err := objectName(tiltName)
	if err != nil {
		return err
	}
	metadata["name"] = name
	if name != tiltName {
		annotations, _ := metadata["annotations"].(map[string]any)
		if annotations == nil {
			annotations = map[string]any{}
		}
		annotations[annotationTiltName] = tiltName
		metadata["annotations"] = annotations
	}
	return nil
}

// mapReferences maps every reference field (repoName, uiButtons items) in value to object names.
func mapReferences(value any, key string) (any, error) {
	switch v := value.(type) {
	case map[string]any:
		for k, item := range v {
			mapped, err := mapReferences(item, k)
			if err != nil {
				return nil, err
			}
			v[k] = mapped
		}
	case []any:
		for i, item := range v {
			itemKey := ""
			if referenceFields[key] {
				itemKey = key
			}
			mapped, err := mapReferences(item, itemKey)
			if err != nil {
				return nil, err
			}
			v[i] = mapped
		}
	case string:
		if referenceFields[key] {
			return objectName(v)
		}
	}
	return value, nil
}
