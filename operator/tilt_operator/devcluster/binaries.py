"""Build the control-plane binaries from Go modules, once per version, into a cache outside the repo.

The versions are pinned in one place, ``hack/controlplane/go.mod``; the cache directory is named
after them, so a version bump builds anew and everything else reuses the first build (a cold build
of all of them takes several minutes on two cores, a warm start none).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tilt_operator.config import xdg_dir

KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"

_PACKAGES = (
    ETCD_MODULE,
    "k8s.io/kubernetes/cmd/kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
    "k8s.io/kubernetes/cmd/kubectl",
    # The local node (tilt_operator.devcluster.node): what schedules pods, runs them and routes Services.
    "k8s.io/kubernetes/cmd/kube-scheduler",
    "k8s.io/kubernetes/cmd/kubelet",
    "k8s.io/kubernetes/cmd/kube-proxy",
)
_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "kube-scheduler", "kubelet", "kube-proxy")


@dataclass(frozen=True)
class Binaries:
    """Paths of the built binaries."""

    directory: Path

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def kube_apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.directory / "kube-controller-manager"

    @property
    def kubectl(self) -> Path:
        return self.directory / "kubectl"

    @property
    def kube_scheduler(self) -> Path:
        return self.directory / "kube-scheduler"

    @property
    def kubelet(self) -> Path:
        return self.directory / "kubelet"

    @property
    def kube_proxy(self) -> Path:
        return self.directory / "kube-proxy"

    def complete(self) -> bool:
        return all((self.directory / name).is_file() for name in _NAMES)


def repo_root() -> Path:
    """The checkout this package runs from (the dev cluster is a development tool, never installed alone)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "hack" / "controlplane" / "go.mod").is_file():
            return parent
    raise FileNotFoundError("hack/controlplane/go.mod not found above the tilt_operator package")


def module_dir() -> Path:
    return Path(os.environ.get("TILT_OPERATOR_CONTROLPLANE_MODULE") or repo_root() / "hack" / "controlplane")


def pinned_versions(go_mod: Path | None = None) -> dict[str, str]:
    """The kubernetes and etcd versions the go.mod requires."""
    text = (go_mod or module_dir() / "go.mod").read_text()
    versions = {}
    for module in (KUBERNETES_MODULE, ETCD_MODULE):
        match = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
        if not match:
            raise ValueError(f"go.mod does not require {module}")
        versions[module] = match.group(1)
    return versions


def cache_root() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / "controlplane"


def _ldflags(kubernetes_version: str) -> str:
    """Stamp the release into the binaries, as Kubernetes' own build does, so `kubectl version` is honest."""
    major, minor = kubernetes_version.lstrip("v").split(".")[:2]
    stamp = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamp += [
            f"-X {package}.gitVersion={kubernetes_version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(["-s", "-w", *stamp])


def ensure_binaries(*, log: bool = True) -> Binaries:
    """Return the cached binaries for the pinned versions, building them first if this machine has none."""
    versions = pinned_versions()
    key = f"kubernetes-{versions[KUBERNETES_MODULE]}_etcd-{versions[ETCD_MODULE]}"
    binaries = Binaries(cache_root() / key)
    if binaries.complete():
        return binaries
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f"{key}.lock", "w") as lock:
        # Two test sessions starting at once build once: the second waits, then finds the result.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binaries.complete():
            _build(binaries.directory, versions[KUBERNETES_MODULE], log=log)
    return binaries


def _build(target: Path, kubernetes_version: str, *, log: bool) -> None:
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is needed to build the local control plane: install go 1.26+")
    if log:
        print(f"building the control plane into {target} (first run on this machine only)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        # One `go build` for all of them lets Go compile the shared packages once, in parallel.
        subprocess.run(
            ["go", "build", "-ldflags", _ldflags(kubernetes_version), "-o", tmp + "/", *_PACKAGES],
            cwd=module_dir(),
            check=True,
        )
        # Go names a /v3 module's binary after the directory before the version suffix.
        os.rename(Path(tmp) / "server", Path(tmp) / "etcd")
        os.chmod(tmp, 0o755)
        # Rename the finished directory into place so an interrupted build never looks complete.
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        os.mkdir(tmp)  # TemporaryDirectory wants something to remove.
