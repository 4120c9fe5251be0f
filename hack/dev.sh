#!/usr/bin/env bash
# A local control plane with the CRDs installed and the operator running on
# it, with process execution on. Ctrl-C stops everything. Extra arguments go to `tilt-operator dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
# `--node` (as root) also needs what the local node runs on: containerd, runc, buildah…
if [[ " $* " == *" --node "* ]]; then bash hack/bootstrap.sh node; else bash hack/bootstrap.sh; fi
exec .venv/bin/tilt-operator dev "$@"
