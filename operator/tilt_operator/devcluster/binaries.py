"""Build the control-plane binaries and helm from Go modules, once per version, into a cache outside the repo.

Each is one Go module under ``hack/`` that pins its versions in one place: ``hack/controlplane/go.mod``
for the control plane, ``hack/helm/go.mod`` for helm (the program Tilt's ``helm()`` runs, which the
Tiltfile host's tests and the dev setup put on PATH; the operator's image has none). Each module's
cache directory is named after its own versions, so a version bump builds that module anew and
everything else reuses the first build (a cold build of the control plane takes several minutes on
two cores, of helm a few, a warm start none).
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
HELM_MODULE = "helm.sh/helm/v4"

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
        return _complete(self.directory, _NAMES)


@dataclass(frozen=True)
class _Build:
    """One module's programs, built together by one ``go build`` in the module's directory."""

    what: str  # what the log line says is being built
    module: Path
    packages: tuple[str, ...]
    names: tuple[str, ...]  # the programs it makes, as the cache directory holds them
    ldflags: str
    # What Go names a program, and the name it gets in the cache directory.
    renames: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def _complete(directory: Path, names: tuple[str, ...]) -> bool:
    return all((directory / name).is_file() for name in names)


def repo_root() -> Path:
    """The checkout this package runs from (the dev cluster is a development tool, never installed alone)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "hack" / "controlplane" / "go.mod").is_file():
            return parent
    raise FileNotFoundError("hack/controlplane/go.mod not found above the tilt_operator package")


def module_dir() -> Path:
    return Path(os.environ.get("TILT_OPERATOR_CONTROLPLANE_MODULE") or repo_root() / "hack" / "controlplane")


def helm_module_dir() -> Path:
    return repo_root() / "hack" / "helm"


def _required(go_mod: Path, modules: tuple[str, ...]) -> dict[str, str]:
    """The version of each module that ``go_mod`` requires."""
    text = go_mod.read_text()
    versions = {}
    for module in modules:
        match = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
        if not match:
            raise ValueError(f"{go_mod} does not require {module}")
        versions[module] = match.group(1)
    return versions


def pinned_versions(go_mod: Path | None = None) -> dict[str, str]:
    """The kubernetes and etcd versions the go.mod requires."""
    return _required(go_mod or module_dir() / "go.mod", (KUBERNETES_MODULE, ETCD_MODULE))


def pinned_helm_version(go_mod: Path | None = None) -> str:
    """The helm version hack/helm/go.mod requires."""
    return _required(go_mod or helm_module_dir() / "go.mod", (HELM_MODULE,))[HELM_MODULE]


def cache_root() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / "controlplane"


def helm_cache_root() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / "helm"


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


def _helm_ldflags(helm_version: str) -> str:
    """Stamp the release into helm as its own Makefile does for a tagged build, so `helm version`
    says it (Tilt's helm() asks it which helm it runs); the module has no git commit to stamp."""
    package = "helm.sh/helm/v4/internal/version"
    return f"-s -w -X {package}.version={helm_version} -X {package}.metadata= -X {package}.gitTreeState=clean"


def ensure_binaries(*, log: bool = True) -> Binaries:
    """Return the cached binaries for the pinned versions, building them first if this machine has none."""
    versions = pinned_versions()
    key = f"kubernetes-{versions[KUBERNETES_MODULE]}_etcd-{versions[ETCD_MODULE]}"
    binaries = Binaries(cache_root() / key)
    build = _Build(
        what="the control plane",
        module=module_dir(),
        packages=_PACKAGES,
        names=_NAMES,
        ldflags=_ldflags(versions[KUBERNETES_MODULE]),
        # Go names a /v3 module's binary after the directory before the version suffix.
        renames=(("server", "etcd"),),
    )
    _ensure_built(binaries.directory, build, log=log)
    return binaries


def ensure_helm(*, log: bool = True) -> Path:
    """Return the cached helm program of the pinned version, building it first if this machine has none."""
    version = pinned_helm_version()
    directory = helm_cache_root() / f"helm-{version}"
    build = _Build(
        what="helm",
        module=helm_module_dir(),
        packages=("helm.sh/helm/v4/cmd/helm",),
        names=("helm",),
        ldflags=_helm_ldflags(version),
        # As helm's own release build makes it: static, without the building machine's paths.
        flags=("-trimpath",),
        env=(("CGO_ENABLED", "0"),),
    )
    _ensure_built(directory, build, log=log)
    return directory / "helm"


def _ensure_built(target: Path, build: _Build, *, log: bool) -> None:
    """Build ``build`` into ``target`` unless a complete build is there already."""
    if _complete(target, build.names):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        # Two test sessions starting at once build once: the second waits, then finds the result.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete(target, build.names):
            _build(target, build, log=log)


def _build(target: Path, build: _Build, *, log: bool) -> None:
    if shutil.which("go") is None:
        raise RuntimeError(f"the Go toolchain is needed to build {build.what}: install go 1.26+")
    if log:
        print(f"building {build.what} into {target} (first run on this machine only)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        # One `go build` for all of them lets Go compile the shared packages once, in parallel.
        subprocess.run(
            ["go", "build", *build.flags, "-ldflags", build.ldflags, "-o", tmp + "/", *build.packages],
            cwd=build.module,
            env={**os.environ, **dict(build.env)},
            check=True,
        )
        for built, name in build.renames:
            os.rename(Path(tmp) / built, Path(tmp) / name)
        os.chmod(tmp, 0o755)
        # Rename the finished directory into place so an interrupted build never looks complete.
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        os.mkdir(tmp)  # TemporaryDirectory wants something to remove.
