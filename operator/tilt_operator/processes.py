"""Starting and stopping the processes extensions supply: Cmds, and the Tiltfile hosts their local() runs in.

A :class:`Launcher` starts them: :class:`LocalLauncher` as children of the operator, or the
runner's client (:mod:`tilt_operator.runner.client`) in a runner of their own, the operator's
second container in a cluster. Either way every process runs in a session of its own (so a stop
reaches the whole process group, helpers included), dies with whoever started it
(PR_SET_PDEATHSIG), and gets the environment :func:`child_environment` builds. The Cmd reconciler
calls :func:`start` and :func:`stop`; what a process prints on each stream is handed to it one
line at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

STDOUT, STDERR = "stdout", "stderr"
# What a process printed, a chunk at a time: (stream, the lines' bytes without their newlines).
Output = Callable[[str, list[bytes]], None]
# Longer lines are delivered in pieces of this size.
MAX_LINE = 64 * 1024
_CHUNK = 16 * 1024
_PR_SET_PDEATHSIG = 1
# Loaded here, once: between fork and exec a child may only make system calls, and loading a
# library takes locks another thread of the parent may have held at the fork.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """A ``preexec_fn``: the kernel SIGKILLs the child when the process that started it dies.

    Runs in the child between fork and exec: only a system call, nothing that takes a lock.
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


# What a child keeps of the operator's environment: nothing that could carry a credential or a
# setting of the operator's (no KUBECONFIG, no TILT_OPERATOR_*, no cloud or proxy credentials).
_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "USER", "LOGNAME", "SHELL", "TMPDIR")


def child_environment(env: Sequence[str], *, kubeconfig: Path, home: Path) -> dict[str, str]:
    """The environment of a process an extension supplies, built from nothing: a few harmless
    variables of the operator's, the kubeconfig and HOME of the extension's ServiceAccount, the
    Cmd's ``KEY=VALUE`` entries on top, and the operator's own interpreter first on PATH, so an
    extension's ``python3`` has the kubernetes client and its ``tilt`` is this package's."""
    environment = {key: os.environ[key] for key in _KEPT if key in os.environ}
    tools = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([tools, environment.get("PATH", os.defpath)])
    environment["KUBECONFIG"] = str(kubeconfig)
    environment["HOME"] = str(home)
    for entry in env:
        key, _, value = entry.partition("=")
        environment[key] = value
    return environment


class ProcessLost(Exception):
    """A process ended because the place it ran in went (the runner), not by itself: retried, never
    blamed on what it was running."""


class Process(Protocol):
    """A started process, wherever it runs: its pid there, its pipes here, its exit."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def stdin(self) -> asyncio.StreamWriter | None: ...

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    @property
    def stderr(self) -> asyncio.StreamReader | None: ...

    @property
    def lost(self) -> bool:
        """Whether it ended because the place it ran in went (a runner that crashed), not by itself."""
        ...

    async def wait(self) -> int: ...

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process's group (its session): it and every helper it started."""
        ...


class Launcher(Protocol):
    async def start(
        self, args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], stdin: bool = False, limit: int = 1 << 16
    ) -> Process:
        """Start ``args`` with pipes for stdout and stderr (and stdin when asked; else /dev/null), in a
        session of its own; OSError when it cannot start (no such file). ``limit`` bounds a line read."""
        ...

    def close(self) -> None:
        """The operator stops: whatever still runs of what it started ends."""
        ...


class LocalProcess:
    """A child of this process."""

    # A child ends with this process, never before it for want of a place to run.
    lost = False

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid, self.stdin, self.stdout, self.stderr = process.pid, process.stdin, process.stdout, process.stderr

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    def signal_group(self, sig: int) -> None:
        # os.killpg, not Process.kill: that polls the child first and may reap it under the child
        # watcher's feet, which then reports exit code 255 instead of how it ended.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)


class LocalLauncher:
    """Starts processes as children of this one, dying with it."""

    async def start(
        self, args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], stdin: bool = False, limit: int = 1 << 16
    ) -> LocalProcess:
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd or None,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=limit,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        return LocalProcess(process)

    def close(self) -> None:
        """Nothing to do: the children die with this process (and the Cmd reconciler stops them first)."""


@dataclass(frozen=True)
class Child:
    """A started process and the tasks that read what it prints (they end when its pipes close)."""

    process: Process
    readers: tuple[asyncio.Task[None], ...]


async def start(
    launcher: Launcher, args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], output: Output
) -> Child:
    """Start the process, handing the lines it prints to ``output``; OSError when it cannot start (no such file)."""
    process = await launcher.start(args, cwd=cwd, env=env)
    assert process.stdout is not None
    assert process.stderr is not None
    readers = (
        asyncio.create_task(_pump(process.stdout, STDOUT, output), name=f"pid {process.pid} stdout"),
        asyncio.create_task(_pump(process.stderr, STDERR, output), name=f"pid {process.pid} stderr"),
    )
    return Child(process, readers)


@dataclass(frozen=True)
class Finished:
    """A command run to its end: how it ended, and what it printed (each stream up to ``OUTPUT_LIMIT``)."""

    returncode: int
    stdout: bytes
    stderr: bytes


# What a command run to its end may print on each stream before the rest is dropped.
OUTPUT_LIMIT = 8 << 20


async def run(
    launcher: Launcher, args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], timeout: float
) -> Finished:
    """Run a command to its end (a KubernetesApply's applyCmd): OSError when it cannot start,
    TimeoutError (its group stopped) when it takes longer than ``timeout`` seconds."""
    printed: dict[str, list[bytes]] = {STDOUT: [], STDERR: []}
    sizes = {STDOUT: 0, STDERR: 0}

    def keep(stream: str, lines: list[bytes]) -> None:
        for line in lines:
            if sizes[stream] + len(line) < OUTPUT_LIMIT:
                printed[stream].append(line)
                sizes[stream] += len(line) + 1

    child = await start(launcher, args, cwd=cwd, env=env, output=keep)
    try:
        returncode = await asyncio.wait_for(child.process.wait(), timeout)
    except TimeoutError:
        await stop(child.process, grace=1.0)
        raise
    await asyncio.gather(*child.readers)
    return Finished(returncode, b"\n".join(printed[STDOUT]), b"\n".join(printed[STDERR]))


async def _pump(stream: asyncio.StreamReader, name: str, output: Output) -> None:
    """Lines as they come, without their newline, a chunk's worth at a time; a line longer than
    ``MAX_LINE`` bytes comes in pieces.

    Reading chunks, not lines, keeps the pipe drained whatever the process prints: a 10 MB line
    or binary output never stalls it. After each chunk the pump lets the event loop run everything
    else that is ready: a read of a full buffer does not wait, so a process that prints as fast
    as it can would otherwise keep the loop to itself.
    """
    pending = b""
    while chunk := await stream.read(_CHUNK):
        *lines, pending = (pending + chunk).split(b"\n")
        pieces = [line[start : start + MAX_LINE] for line in lines for start in range(0, max(len(line), 1), MAX_LINE)]
        while len(pending) > MAX_LINE:
            pieces.append(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
        output(name, pieces)
        await asyncio.sleep(0)
    if pending:
        output(name, [pending])


async def stop(process: Process, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.returncode is not None:
            return
        process.signal_group(sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)


def exit_reason(returncode: int) -> tuple[int, str]:
    """The exit code to report (128+N for signal N, as shells do) and a sentence saying why it ended."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return 128 - returncode, f"killed by {name}"
    return returncode, "exited successfully" if returncode == 0 else f"exited with code {returncode}"
