#!/usr/bin/env bash
# A local control plane with the CRDs installed and the operator running on
# it, with process execution on. Ctrl-C stops everything. Extra arguments go to `tilt-operator dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/bootstrap.sh
exec .venv/bin/tilt-operator dev "$@"
