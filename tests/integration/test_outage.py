"""An API server outage: the operator backs off, says so once, and converges when the server is back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import eventually, holds
from tests.integration.conftest import Operator
from tests.integration.objects import Api, obj
from tilt_operator.devcluster import DevCluster
from tilt_operator.devcluster.dev import install_api
from tilt_operator.processes import alive

OUTAGE_SECONDS = 12


@pytest.fixture
def own_cluster(cluster: DevCluster, tmp_path: Path) -> Iterator[DevCluster]:
    """A cluster of this test's own: stopping its API server must not disturb the other tests."""
    dev = DevCluster(cluster.binaries, tmp_path / "cluster")
    with dev:
        install_api(dev)
        yield dev


def failure_lines(text: str) -> list[str]:
    words = ("unreachable", "failed", "Traceback", "error", "Error")
    return [line for line in text.splitlines() if any(word in line for word in words)]


def test_an_outage_is_one_line_in_the_log_and_nothing_is_lost(own_cluster: DevCluster, tmp_path: Path, name: str):
    from kubernetes import client, config

    api = Api(client.CustomObjectsApi(config.new_client_from_config(config_file=str(own_cluster.kubeconfig))))
    operator = Operator(
        own_cluster,
        tmp_path / "operator",
        env={"PATH": f"{own_cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}"},
        args=("--exec",),
    )
    operator.start()
    try:
        marker = tmp_path / "exit-now"
        # Exits once the marker appears: during the outage, so its status cannot be written then.
        api.create("cmds", obj("Cmd", name, {"args": ["sh", "-c", f"while [ ! -e {marker} ]; do sleep 0.1; done"]}))
        pid = eventually(lambda: (api.status("cmds", name).get("running") or {}).get("pid"), what="the Cmd to run")
        # A cluster this young may still be starting its storage for the CRDs: let that outage end first.
        eventually(
            lambda: operator.log_text().count("unreachable") == operator.log_text().count("answers again"),
            what="no outage before this one",
        )
        before = len(operator.log_text())

        own_cluster.kill_apiserver()
        marker.touch()
        eventually(lambda: not alive(pid), what="the process to exit during the outage")
        holds(
            lambda: len(failure_lines(operator.log_text()[before:])) <= 6,
            seconds=OUTAGE_SECONDS,
            because="the outage goes on: a line a retry would have grown the log past six long before",
        )
        during = failure_lines(operator.log_text()[before:])
        own_cluster.start_apiserver()

        ended = eventually(
            lambda: api.status("cmds", name).get("terminated"), timeout=120, what="the exit to reach the status"
        )
        assert ended["pid"] == pid
        assert ended["exitCode"] == 0
        assert any("the API server is unreachable" in line for line in during), during
        assert sum("the API server is unreachable" in line for line in during) == 1, during
        assert not any("Traceback" in line for line in during), during
        eventually(lambda: "the API server answers again" in operator.log_text()[before:], what="the recovery line")
        assert operator.process is not None
        assert operator.process.poll() is None
    finally:
        operator.stop()


def _current(body: dict | None) -> bool:
    """The status answers for the object as it is: its observedGeneration and its Ready's are the generation."""
    if not body:
        return False
    status, generation = body.get("status") or {}, body["metadata"].get("generation")
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    return (
        status.get("observedGeneration") == generation
        and ready is not None
        and ready.get("observedGeneration") == generation
    )


def _at_rest(body: dict | None) -> bool:
    """Nothing in flight: a current status may still say Reconciling (a Tiltfile about to run), which is no verdict."""
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return not any(c["type"] == "Reconciling" and c["status"] == "True" for c in conditions)


def test_an_outage_mid_reconcile_of_50_extensions_leaves_every_status_true_and_current(
    own_cluster: DevCluster, tmp_path: Path, name: str
):
    """The API server is killed while 50 Extensions are being reconciled, then started again: every
    Extension ends Ready, or says exactly why not, and no status is older than its object."""
    from kubernetes import client, config

    api = Api(client.CustomObjectsApi(config.new_client_from_config(config_file=str(own_cluster.kubeconfig))))
    extensions = tmp_path / "extensions"
    for index in range(50):
        (extensions / f"e{index}").mkdir(parents=True)
        (extensions / f"e{index}" / "Tiltfile").write_text(f"print('extension {index}')\n")
    operator = Operator(own_cluster, tmp_path / "operator", env={})
    operator.start()
    try:
        api.create("extensionrepos", obj("ExtensionRepo", f"{name}-repo", {"url": f"file://{extensions}"}))
        names = [f"{name}-{index}" for index in range(50)]
        for index, extension in enumerate(names):
            api.create("extensions", obj("Extension", extension, {"repoName": f"{name}-repo", "repoPath": f"e{index}"}))
        # Mid-reconcile: some Tiltfiles exist, not every Extension has settled yet.
        eventually(lambda: api.get("tiltfiles", names[0]) is not None, what="the first Tiltfile")
        own_cluster.kill_apiserver()
        own_cluster.start_apiserver()

        def settled() -> list[str]:
            bodies = {extension: api.get("extensions", extension) for extension in names}
            return [extension for extension, body in bodies.items() if not (_current(body) and _at_rest(body))]

        eventually(lambda: not settled(), timeout=180, what="every Extension's status to answer for it, at rest")
        for extension in names:
            status = api.status("extensions", extension)
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True" or (ready["message"] and status.get("error")), status
            assert ready["status"] == "True", f"{extension}: {ready['reason']}: {ready['message']}"
            assert [c["type"] for c in status["conditions"]] == ["Ready"], "nothing in flight, nothing stalled"
            assert _current(api.get("tiltfiles", extension)), f"the Tiltfile {extension} answers for its spec"
        assert _current(api.get("extensionrepos", f"{name}-repo"))
        assert operator.process is not None
        assert operator.process.poll() is None
    finally:
        operator.stop()
