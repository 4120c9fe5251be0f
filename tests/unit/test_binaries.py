"""The programs built from the Go modules under hack/: the control plane and helm, each cached by its
own pinned versions, by one build function (``go`` itself is faked here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tilt_operator.devcluster import binaries

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each `go build` asked for, in a cache under ``tmp_path``; the fake one makes each program Go
    would name after its package's last directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(binaries.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls: list[dict[str, Any]] = []

    def go(argv: list[str], *, cwd: Path, env: dict[str, str], check: bool) -> None:
        calls.append({"argv": argv, "cwd": cwd, "env": env})
        out = Path(argv[argv.index("-o") + 1])
        for package in argv[argv.index("-o") + 2 :]:
            name = re.sub(r"/v\d+$", "", package).rsplit("/", 1)[-1]
            (out / name).write_text("#!/bin/sh\n")

    monkeypatch.setattr(binaries.subprocess, "run", go)
    return calls


def test_the_control_plane_is_cached_under_its_kubernetes_and_etcd_versions(builds):
    versions = binaries.pinned_versions()
    built = binaries.ensure_binaries(log=False)
    assert built.directory.name == (
        f"kubernetes-{versions[binaries.KUBERNETES_MODULE]}_etcd-{versions[binaries.ETCD_MODULE]}"
    )
    assert built.complete()
    assert built.etcd.is_file(), "Go's `server` is renamed etcd"
    [build] = builds
    assert build["cwd"] == REPO / "hack" / "controlplane"
    ldflags = build["argv"][build["argv"].index("-ldflags") + 1]
    assert f"-X k8s.io/component-base/version.gitVersion={versions[binaries.KUBERNETES_MODULE]}" in ldflags
    assert binaries.ensure_binaries(log=False) == built
    assert len(builds) == 1, "a complete build is not built again"


def test_helm_is_pinned_by_its_own_module_and_cached_under_its_version(builds):
    go_mod = (REPO / "hack" / "helm" / "go.mod").read_text()
    assert re.search(r"^tool helm\.sh/helm/v4/cmd/helm$", go_mod, re.MULTILINE)
    version = binaries.pinned_helm_version()
    assert version == "v4.3.2"
    helm = binaries.ensure_helm(log=False)
    assert helm.name == "helm"
    assert helm.parent.name == f"helm-{version}"
    assert helm.parent.parent != binaries.cache_root(), "helm's build leaves the control plane's cache alone"
    [build] = builds
    assert build["cwd"] == REPO / "hack" / "helm"
    # As helm's own release build: static, without local paths, its version stamped.
    assert build["env"]["CGO_ENABLED"] == "0"
    assert "-trimpath" in build["argv"]
    ldflags = build["argv"][build["argv"].index("-ldflags") + 1]
    assert f"-X helm.sh/helm/v4/internal/version.version={version}" in ldflags
    assert build["argv"][-1] == "helm.sh/helm/v4/cmd/helm"
    assert binaries.ensure_helm(log=False) == helm
    assert len(builds) == 1


def test_an_interrupted_build_leaves_nothing_that_looks_complete(builds, monkeypatch):
    def fails(argv: list[str], **_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(binaries.subprocess, "run", fails)
    with pytest.raises(KeyboardInterrupt):
        binaries.ensure_helm(log=False)
    root = binaries.helm_cache_root()
    assert [path.name for path in root.iterdir() if not path.name.endswith(".lock")] == []


def test_without_go_the_build_says_what_is_missing(builds, monkeypatch):
    monkeypatch.setattr(binaries.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="the Go toolchain is needed to build helm"):
        binaries.ensure_helm(log=False)


def test_tilt_operator_dev_links_kubectl_and_helm_into_one_path_entry(tmp_path: Path) -> None:
    from tilt_operator.devcluster.cluster import DevCluster
    from tilt_operator.devcluster.dev import link_programs

    cluster = DevCluster(binaries.Binaries(tmp_path / "controlplane"), tmp_path / "state")
    cluster.state_dir.mkdir()
    helm = tmp_path / "helm-v4.3.2" / "helm"
    bin_dir = link_programs(cluster, helm)
    assert bin_dir == cluster.bin_dir
    assert (bin_dir / "kubectl").readlink() == cluster.binaries.kubectl
    assert (bin_dir / "helm").readlink() == helm
    # With --node the operator runs from the image, which has no helm: none is left from before.
    link_programs(cluster)
    assert not (bin_dir / "helm").is_symlink()
    assert (bin_dir / "kubectl").readlink() == cluster.binaries.kubectl
