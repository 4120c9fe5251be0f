#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, from a fresh clone: bootstrap as hack/test.sh does, build (or
# find cached) control-plane binaries, then run bench.run, which prints the table and writes
# docs/benchmarks.md. Extra arguments go to bench.run (--quick for a smoke run, --only latency,...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/bootstrap.sh
.venv/bin/python -c 'from tilt_operator.devcluster import ensure_binaries; ensure_binaries()'
exec .venv/bin/python -m bench.run "$@"
