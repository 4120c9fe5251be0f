"""The real cluster every integration test uses: one local control plane and one operator per session.

Kinds are cluster-scoped, so tests name their objects uniquely (the ``name`` fixture) instead of
using namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.conftest import eventually
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.binaries import repo_root
from tilt_operator.devcluster.cluster import free_port

REPO = repo_root()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(ensure_binaries(), tmp_path_factory.mktemp("devcluster"))
    with dev:
        dev.install_crds(REPO / "crds")
        yield dev


@pytest.fixture(scope="session")
def kube(cluster: DevCluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def custom(kube: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


@dataclass
class Operator:
    """A running operator process and what a test may want to look at."""

    process: subprocess.Popen[bytes]
    liveness_url: str
    data_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_operator(cluster: DevCluster, workdir: Path, *extra_args: str, env: dict[str, str] | None = None) -> Operator:
    """Start ``python -m tilt_operator`` against the cluster, as a user would, and wait for its liveness probe."""
    data_dir = workdir / "data"
    log = workdir / "operator.log"
    port = free_port()
    liveness = f"http://127.0.0.1:{port}/healthz"
    process = subprocess.Popen(
        [sys.executable, "-m", "tilt_operator", "run", f"--liveness={liveness}", *extra_args],
        env={
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "TILT_OPERATOR_DATA_DIR": str(data_dir),
            **(env or {}),
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    operator = Operator(process, liveness, data_dir, log)

    def alive() -> bool:
        assert process.poll() is None, f"operator exited:\n{operator.log_text()}"
        try:
            with urllib.request.urlopen(liveness, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    eventually(alive, timeout=60, what="the operator's liveness endpoint")
    return operator


def stop_operator(operator: Operator) -> None:
    operator.process.terminate()
    try:
        operator.process.wait(30)
    except subprocess.TimeoutExpired:
        operator.process.kill()
        operator.process.wait()


@pytest.fixture(scope="session")
def operator(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    running = start_operator(cluster, tmp_path_factory.mktemp("operator"), "--exec")
    yield running
    stop_operator(running)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: the kinds are cluster-scoped."""
    stem = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:6]}"
