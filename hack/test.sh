#!/usr/bin/env bash
# Every check the project has: lint, types, architecture, unit tests and integration tests against a
# real local API server (built from Go modules on first use). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/bootstrap.sh tests
.venv/bin/ruff check operator tests bench examples hack
.venv/bin/ruff format --check operator tests bench examples hack
.venv/bin/mypy
.venv/bin/lint-imports
# The Go programs (the Tiltfile host, the node's pause): formatted, vetted; the host's own tests,
# Tilt's tests of its builtins among them (docs/compatibility.md, "Tilt's own tests"), those of
# helm() with the helm hack/helm/go.mod pins (built, or found cached, first).
host=operator/tilt_operator/engine/host
unformatted=$(gofmt -l "$host" hack/node)
[[ -z $unformatted ]] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
helm=$(.venv/bin/python -c 'from tilt_operator.devcluster.binaries import ensure_helm; print(ensure_helm())')
(cd "$host" && go vet . && TILT_OPERATOR_TEST_HELM=$helm go test ./...)
go vet hack/node/pause.go
# Build (or find cached) the control-plane and node binaries, then the operator's image from the
# Dockerfile (buildah on local bases, cached by the content of its build context) for the
# end-to-end test on the local node, before the clock of any test starts.
.venv/bin/python -c '
from tilt_operator.devcluster import ensure_binaries
from tilt_operator.devcluster.images import ensure_image, pause_image
binaries = ensure_binaries()
print(binaries.directory, ensure_image(binaries).ref, pause_image().ref)'
exec .venv/bin/python -m pytest "$@"
