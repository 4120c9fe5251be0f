package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Image references, checked as Tilt's engine parses the image of every container a k8s_yaml
// object has (docs/design.md, "The Tiltfile language"): a container whose image is no reference
// fails the run, naming the object and the image. The grammar is Docker's: an optional registry
// host (with a port), lower-case path components, an optional tag and an optional digest. A name
// without a registry is Docker Hub's ("redis" is docker.io/library/redis).

const (
	dockerHub          = "docker.io"
	dockerHubLegacy    = "index.docker.io"
	dockerHubOfficial  = "library/"
	maxRepositoryChars = 255
)

var (
	imageReference = regexp.MustCompile(`^` +
		// [host[:port]/]
		`((?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?/)?` +
		// path components, lower case, separated by '/'
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)` +
		// [:tag]
		`(?::[\w][\w.-]{0,127})?` +
		// [@algorithm:hex]
		`(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)
	imageIdentifier = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

var errInvalidReference = errors.New("invalid reference format")

// checkImageReference is nil for an image Tilt's engine can parse, else its error.
func checkImageReference(image string) error {
	if imageIdentifier.MatchString(image) {
		return fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", image)
	}
	domain, remainder := splitRegistry(image)
	remote, _, _ := strings.Cut(remainder, ":")
	if strings.ToLower(remote) != remote {
		return fmt.Errorf("%w: repository name (%s) must be lowercase", errInvalidReference, remote)
	}
	full := domain + "/" + remainder
	match := imageReference.FindStringSubmatch(full)
	switch {
	case match == nil && imageReference.MatchString(strings.ToLower(full)):
		return errors.New("repository name must be lowercase")
	case match == nil:
		return errInvalidReference
	}
	if path := strings.TrimPrefix(match[1], domain+"/"); len(path) > maxRepositoryChars {
		return fmt.Errorf("repository name must not be more than %d characters", maxRepositoryChars)
	}
	return nil
}

// splitRegistry is an image's registry and the rest, Docker Hub's when the first component names
// no registry (it has no '.' or ':', is not localhost, and is lower case).
func splitRegistry(image string) (domain, remainder string) {
	first, rest, found := strings.Cut(image, "/")
	switch {
	case !found:
		return dockerHub, dockerHubOfficial + image
	case first == dockerHubLegacy:
		domain, remainder = dockerHub, rest
	case first == "localhost" || strings.ContainsAny(first, ".:") || strings.ToLower(first) != first:
		domain, remainder = first, rest
	default:
		domain, remainder = dockerHub, image
	}
	if domain == dockerHub && !strings.Contains(remainder, "/") {
		remainder = dockerHubOfficial + remainder
	}
	return domain, remainder
}
