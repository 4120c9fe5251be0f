"""The Tiltfile engine: run a Tiltfile in an isolated worker with a time and a memory limit.

Called by the Tiltfile reconciler, which applies ``RunResult.objects`` with server-side apply and
watches ``RunResult.files_read``. Plain Python: no kopf, no Kubernetes client.

Each run gets a fresh worker process, ``python -m tilt_operator.engine.worker``, started with
``subprocess`` rather than ``multiprocessing``: the operator is asyncio-based and multi-threaded,
and forking such a process is unsafe, while a fresh interpreter costs a few tens of milliseconds.
starlark-go is only ever imported in the worker, so a crash in it (it can SIGSEGV in cgo) ends one
run with an error, never the operator, and a Tiltfile's memory is returned to the system when its
worker exits. The operator enforces the time limit by killing the worker; the worker enforces the
memory limit on itself (see ``engine.worker``), helped by ``GOMEMLIMIT`` set here.

What a Tiltfile can use: one builtin per tilt.dev kind generated from ``crds``
(``engine.builtins``), ``print``, ``warn(msg)``, ``fail(msg)``, ``read_file(path, default=None)``
confined to ``root``, ``tiltfile_dir()`` (the running file's directory), the run's arguments as the
frozen list ``args``, and ``load()`` of relative
files (confined to ``root``) and of ``ext://`` extensions (located through ``ext_roots``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tilt_operator.engine.protocol import EXIT_MEMORY, ExtensionRoots, RunRequest, RunResult, Transcript

__all__ = ["ExtensionRoots", "RunResult", "run_tiltfile", "run_tiltfile_async"]

logger = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "tilt_operator.engine.worker")
# GOMEMLIMIT as a share of the memory limit. Go's limit is soft (bursts of large allocations were
# measured 15-25 MiB above it), and Python and the runtime need room too, so half.
_GO_HEAP_SHARE = 0.5
_CHUNK = 1 << 16
_GO_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory")


def run_tiltfile(
    path: Path,
    *,
    crds: Sequence[Mapping[str, Any]],
    timeout: float,
    memory_mb: int,
    args: Sequence[str] = (),
    root: Path | None = None,
    ext_roots: ExtensionRoots | None = None,
) -> RunResult:
    """Run the Tiltfile at ``path``; never raises for anything the Tiltfile does.

    ``root`` (default: the Tiltfile's directory) confines ``read_file`` and relative loads;
    pass the repo's checkout to let an extension read its siblings. For callers without an
    event loop (the CLI, tests); the operator awaits :func:`run_tiltfile_async`.
    """
    return asyncio.run(
        run_tiltfile_async(
            path, crds=crds, timeout=timeout, memory_mb=memory_mb, args=args, root=root, ext_roots=ext_roots
        )
    )


async def run_tiltfile_async(
    path: Path,
    *,
    crds: Sequence[Mapping[str, Any]],
    timeout: float,
    memory_mb: int,
    args: Sequence[str] = (),
    root: Path | None = None,
    ext_roots: ExtensionRoots | None = None,
) -> RunResult:
    """``run_tiltfile`` for the event loop; cancelling the task kills the worker (a stop button)."""
    request = _request(path, crds, memory_mb, args, root, ext_roots)
    transcript = Transcript()
    worker = await asyncio.create_subprocess_exec(
        *WORKER_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_worker_env(memory_mb),
    )
    stderr = bytearray()
    try:
        await asyncio.wait_for(_converse(worker, request, transcript, stderr), timeout)
        timed_out = False
    except TimeoutError:
        timed_out = True
    finally:
        if worker.returncode is None:
            worker.kill()
        await worker.wait()
    return transcript.result(_fate(worker.returncode, bytes(stderr), timed_out, timeout, memory_mb))


async def _converse(
    worker: asyncio.subprocess.Process, request: RunRequest, transcript: Transcript, stderr: bytearray
) -> None:
    """Send the request, then record events and stderr as they come, until the worker exits."""
    assert worker.stdin is not None
    assert worker.stdout is not None
    assert worker.stderr is not None
    # A worker that died before reading its request is reported by its exit status, not here.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        worker.stdin.write(request.to_json().encode())
        await worker.stdin.drain()
        worker.stdin.close()

    async def pump(stream: asyncio.StreamReader, sink: Any) -> None:
        while chunk := await stream.read(_CHUNK):
            sink(chunk)

    await asyncio.gather(pump(worker.stdout, transcript.feed), pump(worker.stderr, stderr.extend))
    await worker.wait()


def _request(
    path: Path,
    crds: Sequence[Mapping[str, Any]],
    memory_mb: int,
    args: Sequence[str],
    root: Path | None,
    ext_roots: ExtensionRoots | None,
) -> RunRequest:
    path = path.absolute()
    return RunRequest(
        path=path,
        root=(root or path.parent).absolute(),
        args=tuple(args),
        crds=tuple(crds),
        ext_roots=ext_roots or ExtensionRoots(),
        memory_mb=memory_mb,
    )


def _worker_env(memory_mb: int) -> dict[str, str]:
    """The operator's environment plus GOMEMLIMIT, which Go only reads when the process starts."""
    return {**os.environ, "GOMEMLIMIT": f"{int(memory_mb * _GO_HEAP_SHARE)}MiB"}


def _fate(returncode: int | None, stderr: bytes, timed_out: bool, timeout: float, memory_mb: int) -> str | None:
    """How the worker ended, as the run's error; None when it finished on its own."""
    if timed_out:
        return f"Tiltfile timed out after {timeout:g}s"
    if returncode == 0:
        return None
    if returncode == EXIT_MEMORY or (returncode == -signal.SIGABRT and any(m in stderr for m in _GO_OUT_OF_MEMORY)):
        return f"Tiltfile exceeded its memory limit of {memory_mb} MiB"
    logger.warning(
        "Tiltfile worker ended with %s; its stderr:\n%s", returncode, stderr.decode(errors="replace")[-4000:]
    )
    if returncode is not None and returncode < 0:
        return f"Tiltfile worker crashed (signal {-returncode})"
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return f"Tiltfile worker failed (exit code {returncode}): {last[0]}"
