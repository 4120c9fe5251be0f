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
# The Tiltfile host (Go): formatted, vetted.
host=operator/tilt_operator/engine/host
unformatted=$(gofmt -l "$host")
[[ -z $unformatted ]] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
(cd "$host" && go vet .)
# Build (or find cached) control-plane binaries before the clock of any test starts.
.venv/bin/python -c 'from tilt_operator.devcluster import ensure_binaries; print(ensure_binaries().directory)'
exec .venv/bin/python -m pytest "$@"
