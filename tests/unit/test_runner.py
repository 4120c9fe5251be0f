"""The runner and the operator's side of it, over a real socket: `tilt-operator runner` in a process of its own."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import eventually
from tilt_operator import processes
from tilt_operator.processes import alive
from tilt_operator.runner.client import RunnerLauncher, RunnerUnavailable


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    # Deeper than AF_UNIX's 107 bytes allow an address: the socket is reached through its directory.
    socket = tmp_path / ("deep" * 15) / ("deeper" * 10) / "runner.sock"
    assert len(str(socket)) > 108
    process = subprocess.Popen(
        [sys.executable, "-m", "tilt_operator", "runner", "--socket", str(socket)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    eventually(socket.exists, timeout=30, what="the runner's socket")
    yield process, socket
    process.terminate()
    process.wait(30)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


ENV = {"PATH": os.environ["PATH"]}


def test_a_process_in_the_runner_prints_on_its_pipes_here_and_its_exit_code_comes_back(runner, tmp_path: Path):
    _, socket = runner

    async def scenario() -> None:
        launcher = RunnerLauncher(socket)
        process = await launcher.start(["sh", "-c", "pwd; echo oops >&2; exit 3"], cwd=str(tmp_path), env=ENV)
        assert process.stdout is not None
        assert process.stderr is not None
        assert (await process.stdout.read()).decode() == f"{tmp_path}\n"
        assert (await process.stderr.read()).decode() == "oops\n"
        assert await process.wait() == 3
        assert (process.returncode, process.lost) == (3, False)
        launcher.close()

    run(scenario())


def test_stdin_is_the_operators_to_write_and_the_environment_is_the_one_sent(runner):
    _, socket = runner

    async def scenario() -> None:
        launcher = RunnerLauncher(socket)
        process = await launcher.start(
            ["sh", "-c", 'echo "$GREETING"; cat'], cwd=None, env={**ENV, "GREETING": "hi"}, stdin=True
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(b"through the pipe\n")
        await process.stdin.drain()
        process.stdin.close()
        assert (await process.stdout.read()).decode() == "hi\nthrough the pipe\n"
        assert await process.wait() == 0
        launcher.close()

    run(scenario())


def test_a_signal_reaches_the_whole_process_group_and_a_missing_program_is_an_os_error(runner):
    _, socket = runner

    async def scenario() -> None:
        launcher = RunnerLauncher(socket)
        process = await launcher.start(["sh", "-c", "sleep 600 & echo $!; wait"], cwd=None, env=ENV)
        assert process.stdout is not None
        helper = int((await process.stdout.readline()).decode())
        await processes.stop(process, grace=5)
        assert process.returncode == -signal.SIGTERM
        eventually(lambda: not alive(helper), what="the helper in its group to be gone too")
        with pytest.raises(FileNotFoundError, match="No such file or directory") as missing:
            await launcher.start(["no-such-program-here"], cwd=None, env=ENV)
        assert missing.value.errno == errno.ENOENT
        launcher.close()

    run(scenario())


def test_an_operator_that_hangs_up_takes_its_processes_with_it(runner):
    _, socket = runner

    async def scenario() -> int:
        launcher = RunnerLauncher(socket)
        process = await launcher.start(["sleep", "600"], cwd=None, env=ENV)
        launcher.close()
        return process.pid

    pid = run(scenario())
    eventually(lambda: not alive(pid), what="the process of an operator that went")


def test_a_runner_that_goes_ends_its_processes_as_lost_and_starts_wait_for_it(runner, tmp_path: Path):
    process, socket = runner

    async def scenario() -> None:
        launcher = RunnerLauncher(socket, connect_timeout=1.0)
        sleeper = await launcher.start(["sleep", "600"], cwd=None, env=ENV)
        os.kill(process.pid, signal.SIGKILL)
        assert await asyncio.wait_for(sleeper.wait(), 10) == -signal.SIGKILL
        assert sleeper.lost, "ended with the runner, not by itself"
        eventually(lambda: not alive(sleeper.pid), what="the runner's children to die with it")
        with pytest.raises(RunnerUnavailable, match="no runner answers at"):
            await launcher.start(["true"], cwd=None, env=ENV)

    run(scenario())
