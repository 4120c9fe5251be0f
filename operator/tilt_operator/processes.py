"""The process runner: start a Cmd's process as a child of the operator, and stop it.

Called by the Cmd handler. Every child runs in a session of its own (so a stop reaches the
whole process group, helpers included) and dies with the operator (PR_SET_PDEATHSIG), so a
killed operator never leaves orphans. What a process prints goes to the operator's log, one line
at a time, through the logger the caller passes (kopf prefixes it with the Cmd's name).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: only a system call, nothing that takes a lock."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def child_environment(env: Sequence[str]) -> dict[str, str]:
    """The operator's environment, the Cmd's ``KEY=VALUE`` entries on top, and the operator's own
    interpreter first on PATH, so an extension's ``python3`` has the kubernetes client."""
    environment = dict(os.environ)
    tools = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([tools, environment.get("PATH", os.defpath)])
    for entry in env:
        key, _, value = entry.partition("=")
        environment[key] = value
    return environment


async def start(
    args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], logger: logging.Logger
) -> asyncio.subprocess.Process:
    """Start the process and log its output; raises OSError when it cannot start (say, no such file)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd or None,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    asyncio.get_running_loop().create_task(_log_lines(process.stdout, logger))
    return process


async def _log_lines(stream: asyncio.StreamReader, logger: logging.Logger) -> None:
    while line := await stream.readline():
        logger.info("%s", line.decode(errors="replace").rstrip("\n"))


async def stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)


def exit_reason(returncode: int) -> tuple[int, str]:
    """The exit code to report (128+N for signal N, as shells do) and a sentence saying why it ended."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return 128 - returncode, f"killed by {name}"
    return returncode, "exited successfully" if returncode == 0 else f"exited with code {returncode}"
