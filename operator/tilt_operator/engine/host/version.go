package main

import (
	"fmt"

	"github.com/blang/semver"
)

// tiltVersion is the Tilt release whose Tiltfile semantics the host follows: what
// version_settings(constraint=...) is checked against. It is tilt_operator.engine.protocol's
// TILT_VERSION (what `tilt version` says), and the two must agree.
const tiltVersion = "0.37.6"

// checkVersionConstraint is version_settings(constraint=...) as Tilt checks it: a semver range
// (">=0.30.0 <0.40.0", "0.37.x") that version must be in.
func checkVersionConstraint(version, constraint string) error {
	if constraint == "" {
		return nil
	}
	running, err := semver.Parse(version)
	if err != nil {
		return fmt.Errorf("internal error parsing tilt version '%s': %w", version, err)
	}
	allowed, err := semver.ParseRange(constraint)
	if err != nil {
		return fmt.Errorf("error parsing version constraint: %w", err)
	}
	if !allowed(running) {
		return fmt.Errorf("you are running Tilt version %s, which doesn't match the version constraint specified in your Tiltfile: '%s'",
			version, constraint)
	}
	return nil
}
