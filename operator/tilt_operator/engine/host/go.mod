// The Tiltfile host: Tilt's Starlark (go.starlark.net at the version Tilt pins) in a small program
// the operator runs as worker processes. See main.go and docs/design.md.
module tilt-operator/tiltfilehost

go 1.26.0

require (
	github.com/alessio/shellescape v1.4.2
	github.com/blang/semver v3.5.1+incompatible
	github.com/google/shlex v0.0.0-20191202100458-e7afc7fbc510
	github.com/spf13/pflag v1.0.10
	go.starlark.net v0.0.0-20240510163022-f457c4c2b267
	gopkg.in/yaml.v3 v3.0.1
	k8s.io/client-go v0.36.3
	sigs.k8s.io/yaml v1.6.0
)

require (
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/sys v0.40.0 // indirect
)
