#!/usr/bin/env bash
# Make a fresh machine ready: the system tools the operator and its tests call, and a virtualenv
# in .venv with the package installed (editable) and its test tools, from the lock file. Safe to run again.
# `bootstrap.sh tests` also installs the browser the dashboard's tests drive, the OpenSSH
# server the private-repo tests fetch from over ssh, and what the local node needs;
# `bootstrap.sh node` only the last (`tilt-operator dev --node`, docs/design.md).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# git fetches repos; jq, bash and rsync are what extensions written for Tilt script with.
for tool in git jq bash curl rsync; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# The dashboard's tests drive Debian's chromium with Playwright; Playwright never downloads one.
if [[ ${1:-} == tests && ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
# The ssh tests start their own sshd on loopback (never the system's service).
if [[ ${1:-} == tests && ! -x /usr/sbin/sshd ]]; then
  missing+=(openssh-server)
fi
# The local node and the image: containerd and runc run the pods, the CNI plugins wire them to a
# bridge, iptables carries kube-proxy's Service rules; debootstrap, podman and buildah make the
# base images and build the Dockerfile without a daemon.
if [[ ${1:-} == tests || ${1:-} == node ]]; then
  for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
    iptables:iptables debootstrap:debootstrap podman:podman buildah:buildah; do
    tool=${pair%%:*} package=${pair#*:}
    [[ -x $tool ]] || command -v "$tool" >/dev/null 2>&1 || missing+=("$package")
  done
fi
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "please install: ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v go >/dev/null 2>&1; then
  echo "the Go toolchain (1.26+) is needed to build the Tiltfile host and the local control plane once; install it first" >&2
  exit 1
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# Every dependency, test tools and the `dev` extra included, exactly as the lock pins it and only if
# its hash matches (requirements/dev.txt, made from pyproject.toml by hack/lock.sh); then the package
# itself, editable, with nothing more: no resolver, no unpinned build environment.
stamp=.venv/.installed-$(cat pyproject.toml requirements/dev.txt | sha256sum | cut -c1-16)
if [[ ! -e $stamp ]]; then
  .venv/bin/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
  .venv/bin/pip install --quiet --no-deps --no-build-isolation -e .
  touch "$stamp"
fi
# The Tiltfile host (Go, on go.starlark.net): built once per version of its sources, then cached.
.venv/bin/python -c 'from tilt_operator.engine.binary import ensure_host; ensure_host()'
