"""An operator whose extension processes run in `tilt-operator runner`, as in a cluster, on the real API server.

The runner is a process of its own here (in manifests/ it is the pod's second container): Cmds and
Tiltfile hosts start there, pids are the runner's, and a runner that crashes takes its processes
with it; once it is back (the kubelet restarts a container), the operator starts its Cmds again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, obj, ready
from tests.integration.test_cmd import state
from tests.integration.test_logs import cli_env
from tilt_operator.devcluster import DevCluster
from tilt_operator.processes import alive


@dataclass
class Runner:
    socket: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tilt_operator", "runner", "--socket", str(self.socket)],
                env={"PATH": os.environ["PATH"], "HOME": str(self.socket.parent)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        eventually(self.socket.exists, timeout=30, what="the runner's socket")

    def kill(self) -> None:
        """SIGKILL, as a crashed container."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture(scope="module")
def with_runner(cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Operator, Runner]]:
    """A second operator over the session's cluster, with a runner; the session's operator waits meanwhile."""
    workdir = tmp_path_factory.mktemp("runner-operator")
    runner = Runner(workdir / "run" / "runner.sock", workdir / "runner.log")
    runner.start()
    operator = Operator(
        cluster,
        workdir,
        env={
            "TILT_OPERATOR_RUNNER": str(runner.socket),
            "PATH": f"{cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}",
        },
        args=("--exec",),
    )
    yield operator, runner
    operator.stop()
    runner.stop()


@pytest.fixture
def alone(operator: Operator, with_runner: tuple[Operator, Runner]) -> Iterator[tuple[Operator, Runner]]:
    """One operator at a time: the session's stops while this module's runs."""
    operator.stop()
    mine, runner = with_runner
    mine.start()
    yield mine, runner
    mine.stop()
    operator.start()


def test_cmds_and_tiltfiles_run_in_the_runner_and_start_again_after_it_crashed(
    alone: tuple[Operator, Runner], api: Api, tmp_path: Path, name: str
):
    operator, runner = alone
    tiltfile = tmp_path / "Tiltfile"
    tiltfile.write_text(f"local('echo from the runner', quiet=True)\ncmd(name='{name}', args=['sleep', '600'])\n")
    api.create("tiltfiles", obj("Tiltfile", name, {"path": str(tiltfile)}))
    try:
        eventually(lambda: ready(api.status("tiltfiles", name)) == "True", timeout=60, what="the run in the runner")
        first = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the Cmd to run")
        assert runner.process is not None
        parent = Path(f"/proc/{first}/stat").read_text().rpartition(")")[2].split()[1]
        assert int(parent) == runner.process.pid, "the runner started it"

        runner.kill()
        eventually(lambda: not alive(first), what="the Cmd's process to go with the runner")
        ended = eventually(lambda: state(api, name, "terminated"), what="the Cmd to say how it ended")
        assert ended["reason"] == "stopped with the runner"

        runner.start()
        second = eventually(lambda: (state(api, name, "running") or {}).get("pid"), timeout=60, what="a new start")
        assert second != first
        shown = subprocess.run(
            ["kubectl-tilt", "logs", f"cmd/{name}"],
            env=cli_env(operator.cluster, operator),
            capture_output=True,
            text=True,
        )
        assert shown.returncode == 0, shown.stderr
        assert "stopped with the runner" in shown.stdout
        assert "starting (the runner restarted): sleep 600" in shown.stdout
    finally:
        api.delete("tiltfiles", name)
