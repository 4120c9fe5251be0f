#!/usr/bin/env bash
# Regenerate the lock files in requirements/ from pyproject.toml, the one list of dependencies:
#   runtime.txt  the dependencies, for the image (Dockerfile), and the package's build backend;
#   dev.txt      those plus the `dev` and `test` extras, for .venv (hack/bootstrap.sh),
#                constrained to runtime.txt so both pin the same versions.
# Every package is pinned with the hashes of all its published files, so `pip install
# --require-hashes` installs exactly these on any platform. Run after changing a dependency in
# pyproject.toml; pins that still fit are kept (delete a lock file first to take newer versions).
# pip-compile runs from a throwaway environment of its own, never from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet "pip-tools==7.7.0"

# No index or find-links line in the output: where packages come from is the installing machine's setting.
compile=(
  "$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host
)
export CUSTOM_COMPILE_COMMAND="bash hack/lock.sh"
"${compile[@]}" --output-file requirements/runtime.txt pyproject.toml
"${compile[@]}" --extra dev --extra test --constraint requirements/runtime.txt \
  --output-file requirements/dev.txt pyproject.toml
