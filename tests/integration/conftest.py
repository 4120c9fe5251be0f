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
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.binaries import ensure_helm, repo_root
from tilt_operator.devcluster.cluster import free_port
from tilt_operator.devcluster.dev import install_api
from tilt_operator.engine.binary import ENV_BINARY, ensure_host

REPO = repo_root()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    dev = DevCluster(ensure_binaries(), tmp_path_factory.mktemp("devcluster"))
    with dev:
        install_api(dev)
        yield dev


@pytest.fixture(scope="session")
def kube(cluster: DevCluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def custom(kube: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"))
    server.start()
    yield server
    server.stop()


@dataclass
class Operator:
    """``python -m tilt_operator run`` as a user starts it; tests may kill and start it again."""

    cluster: DevCluster
    workdir: Path
    env: dict[str, str]
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    liveness_url: str = ""
    # Its web server's port: a free one, kept across restarts so that an open page finds it again.
    web_port: int = 0

    @property
    def web_url(self) -> str:
        """The dashboard (and the logs), as a browser on this machine reaches it."""
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def home(self) -> Path:
        """The operator's HOME: nothing may be written there."""
        return self.workdir / "home"

    @property
    def log(self) -> Path:
        return self.workdir / "operator.log"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tilt_operator", "run"]

    def base_env(self) -> dict[str, str]:
        """The environment before ``env``: this test process's, with the operator's HOME and KUBECONFIG,
        and the Tiltfile host built once for the session (as the image has it, at a path it is told)."""
        return {
            **os.environ,
            "HOME": str(self.home),
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "TILT_OPERATOR_DATA_DIR": str(self.data_dir),
            ENV_BINARY: str(ensure_host()),
            # Repos in the tests' temp dirs and the examples, as `tilt-operator dev` allows.
            "TILT_OPERATOR_FILE_ROOTS": "/",
        }

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.liveness_url = f"http://127.0.0.1:{free_port()}/healthz"
        self.web_port = self.web_port or free_port()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command(), f"--liveness={self.liveness_url}", *self.args],
                # A web server of its own on a free port: tests run beside a developer's operator.
                env={**self.base_env(), "TILT_OPERATOR_SERVE": f"127.0.0.1:{self.web_port}", **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        eventually(self._alive, timeout=60, what="the operator's liveness endpoint")

    def _alive(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"operator exited:\n{self.log_text()}"
        try:
            with urllib.request.urlopen(self.liveness_url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def restart_and_resume(self, name: str, *kinds: str) -> None:
        """Stop and start again; return once the new operator has reconciled each of ``kinds`` called ``name``."""
        lines = [f"[{name}] resumed the {kind}" for kind in kinds]
        resumed = [self.log_text().count(line) for line in lines]
        self.stop()
        self.start()
        for line, before in zip(lines, resumed, strict=True):
            eventually(lambda line=line, before=before: self.log_text().count(line) > before, timeout=60, what=line)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def operator(
    cluster: DevCluster, git_server: GitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    running = Operator(
        cluster,
        tmp_path_factory.mktemp("operator"),
        env={
            "TILT_OPERATOR_GIT_CA_BUNDLE": str(git_server.ca_bundle),
            "TILT_OPERATOR_GIT_TIMEOUT": "30",
            "TILT_OPERATOR_TILTFILE_TIMEOUT": "5",
            "TILT_OPERATOR_TILTFILE_MEMORY_MB": "256",
            # kubectl for the `tilt` command that extension scripts run, helm for helm().
            "PATH": os.pathsep.join([str(cluster.binaries.directory), str(ensure_helm().parent), os.environ["PATH"]]),
            # Tokens renewed every few seconds, so every test runs across renewals.
            "TILT_OPERATOR_TOKEN_RENEWAL": "5",
        },
        args=("--exec",),
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses: the kinds are cluster-scoped."""
    stem = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def api(custom: client.CustomObjectsApi) -> Api:
    return Api(custom)
