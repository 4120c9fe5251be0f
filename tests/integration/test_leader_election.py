"""Two replicas, one leader, on the real API server: a cluster of its own with two operator processes.

Both run with ``--leader-elect`` and the default Lease timings (15 s lease, 10 s renew deadline,
2 s retry), as the Deployment runs them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, extension, ready, repo
from tests.integration.test_logs import cli_env
from tilt_operator.config import DEFAULT_NAMESPACE
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.dev import install_api
from tilt_operator.processes import alive

LEASE = "tilt-operator"


class Replica(Operator):
    """One replica: its own data dir and web server, the same cluster, leader election on."""

    @property
    def identity(self) -> str:
        return self.env["TILT_OPERATOR_POD_NAME"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevCluster, Api, list[Replica]]]:
    with DevCluster(ensure_binaries(), tmp_path_factory.mktemp("ha-cluster")) as cluster:
        install_api(cluster)
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        api = Api(client.CustomObjectsApi(api_client))
        replicas = [
            Replica(
                cluster,
                tmp_path_factory.mktemp(f"replica-{index}"),
                env={"TILT_OPERATOR_POD_NAME": f"replica-{index}", "TILT_OPERATOR_TILTFILE_TIMEOUT": "5"},
                args=("--exec", "--leader-elect"),
            )
            for index in (0, 1)
        ]
        for replica in replicas:
            replica.start()
        try:
            yield cluster, api, replicas
        finally:
            for replica in replicas:
                replica.stop()


def holder(cluster: DevCluster) -> str:
    found = cluster.kubectl(
        "get", "lease", LEASE, "-n", DEFAULT_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}", check=False
    )
    return found.stdout if found.returncode == 0 else ""


def leader_of(cluster: DevCluster, replicas: list[Replica], timeout: float = 40) -> tuple[Replica, Replica]:
    """(leader, standby), once a running replica holds the Lease."""

    def find() -> tuple[Replica, Replica] | None:
        held = holder(cluster)
        for one, other in (replicas, replicas[::-1]):
            if held.startswith(f"{one.identity}_") and one.process and one.process.poll() is None:
                return one, other
        return None

    return eventually(find, timeout=timeout, what="a running replica to hold the lease")


def ensure_both_running(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.process is None or replica.process.poll() is not None:
            replica.start()


def write_files(tmp_path: Path) -> Path:
    root = tmp_path / "exts"
    (root / "hello").mkdir(parents=True)
    (root / "hello" / "Tiltfile").write_text("print('hello')\n")
    return root


def test_exactly_one_replica_holds_the_lease_and_works(pair, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    cluster, api, replicas = pair
    ensure_both_running(replicas)
    leader, standby = leader_of(cluster, replicas)
    shown = cluster.kubectl("get", "lease", "-n", DEFAULT_NAMESPACE).stdout
    assert re.search(rf"^{LEASE}\s+{re.escape(holder(cluster))}\s", shown, re.MULTILINE), shown

    api.create("extensionrepos", repo(name, f"file://{write_files(tmp_path)}"))
    api.create("extensions", extension(name, name, "hello"))
    eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=30, what="the Extension to be Ready")
    assert f"[{name}]" in leader.log_text()
    assert f"[{name}]" not in standby.log_text(), "a standby reconciles nothing"
    assert "standby as replica-" in standby.log_text()
    assert not (standby.data_dir / "logs" / "tiltfiles").exists() or not list(
        (standby.data_dir / "logs" / "tiltfiles").iterdir()
    )


def test_after_a_sigkill_of_the_leader_the_standby_takes_over_within_20_s(pair, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    cluster, api, replicas = pair
    ensure_both_running(replicas)
    leader, standby = leader_of(cluster, replicas)
    api.create(
        "cmds",
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Cmd",
            "metadata": {"name": name},
            "spec": {"args": ["sleep", "600"]},
        },
    )
    before = eventually(lambda: (api.status("cmds", name).get("running") or {}).get("pid"), what="the Cmd to run")

    leader.kill()
    api.create("extensionrepos", repo(name, f"file://{write_files(tmp_path)}"))
    api.create("extensions", extension(name, name, "hello"))
    killed = time.monotonic()
    eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=20, what="Ready under the new leader")
    assert time.monotonic() - killed < 20
    assert holder(cluster).startswith(f"{standby.identity}_")

    after = eventually(
        lambda: (pid := (api.status("cmds", name).get("running") or {}).get("pid")) != before and pid,
        timeout=20,
        what="the Cmd to run again under the new leader",
    )
    assert alive(after)
    assert not alive(before), "the old leader's process went with it"
    shown = subprocess.run(
        ["kubectl-tilt", "logs", f"cmd/{name}"],
        env=cli_env(cluster, standby),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first.startswith(f"{name} │ failover: this operator took over from {leader.identity}_"), shown.stdout
    api.delete("cmds", name)


def test_a_sigterm_hands_the_lease_over_in_under_5_s(pair):  # type: ignore[no-untyped-def]
    cluster, _, replicas = pair
    ensure_both_running(replicas)
    leader, standby = leader_of(cluster, replicas)
    assert leader.process is not None
    stopped = time.monotonic()
    leader.process.send_signal(signal.SIGTERM)
    eventually(lambda: holder(cluster).startswith(f"{standby.identity}_"), timeout=10, what="the standby to take over")
    assert time.monotonic() - stopped < 5
    assert leader.process.wait(30) == 0
    assert "lost the lease" not in leader.log_text()


def test_a_paused_leader_steps_down_without_writing(pair, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    cluster, api, replicas = pair
    ensure_both_running(replicas)
    leader, standby = leader_of(cluster, replicas)
    assert leader.process is not None
    os.kill(leader.process.pid, signal.SIGSTOP)
    try:
        eventually(
            lambda: holder(cluster).startswith(f"{standby.identity}_"), timeout=40, what="the standby to take over"
        )
        api.create("extensionrepos", repo(name, f"file://{write_files(tmp_path)}"))
    finally:
        os.kill(leader.process.pid, signal.SIGCONT)
    assert leader.process.wait(60) == 0, "the old leader notices and stops"
    assert "lost the lease" in leader.log_text()
    assert f"[{name}]" not in leader.log_text(), "and reconciled nothing after it woke"
    eventually(lambda: ready(api.status("extensionrepos", name)) == "True", what="the new leader to reconcile")
