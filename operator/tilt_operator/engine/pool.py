"""Tiltfile hosts, the operator's side: start them warm, hand them runs, kill and replace them.

A worker is one host process (the Go program in ``engine/host/``, built by ``engine.binary``).
:class:`WorkerPool` keeps ``size`` of them warm and gives each run one; :func:`run_tiltfile` and
:func:`run_tiltfile_async` run one Tiltfile in a host of its own, for the command line and the
tests, and :func:`build_object` calls one builtin there for ``kubectl tilt create``. Either way
:meth:`Worker.run` is the one place a run happens: it sends the request, reads the events until
``done``, and enforces the time limit by killing the host. A host that was killed (time limit, a
stop button), crashed, hit its memory or step limit, or retired is never given another run: the
pool starts a new one in its place.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tilt_operator.engine.binary import ensure_host
from tilt_operator.engine.protocol import (
    EVENT_PRINT,
    EVENT_READY,
    EVENT_WARNING,
    EXIT_MEMORY,
    ExtensionRoots,
    RunRequest,
    RunResult,
    Transcript,
    crds_digest,
)
from tilt_operator.processes import Launcher, LocalLauncher, Process, ProcessLost

logger = logging.getLogger(__name__)

# How Go says it could not get memory: RLIMIT_AS stopped one huge allocation.
_GO_OUT_OF_MEMORY = (b"out of memory", b"cannot allocate memory")
# How go.starlark.net says a run used up its steps.
_TOO_MANY_STEPS = "Starlark computation cancelled: too many steps"
# Starlark steps one run may take (a step is about one bytecode instruction): far more than any
# real Tiltfile takes (a 100-line one takes thousands), 10 to 15 s of a busy loop on this
# project's 2-core machines. Unlike the time limit, it does not depend on the machine's load.
DEFAULT_MAX_STEPS = 1_000_000_000
# The longest line a host may write: the done event carries every object a run registered.
_LINE_LIMIT = 256 << 20
_STDERR_KEPT = 16 << 10
# Go's exit code for a fatal runtime error or an unrecovered panic.
_GO_FATAL = 2
# What a host's environment keeps of the operator's: nothing that could carry a credential.
_HOST_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
_START_TIMEOUT = 60.0
_RESPAWN_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# What a run prints and warns, as it happens: (EVENT_PRINT or EVENT_WARNING, the text).
Output = Callable[[str, str], None]


class Worker:
    """One host process: started warm, then given one run at a time until it is not reusable."""

    def __init__(self, process: Process, memory_mb: int) -> None:
        self.process = process
        self.memory_mb = memory_mb
        # The CRDs (by digest) this host has been sent, so they are not sent again.
        self.crds_digest = ""
        self.reusable = True
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_head = b""
        assert process.stderr is not None
        self._drain = asyncio.create_task(self._keep_stderr(process.stderr), name=f"host {process.pid} stderr")

    @classmethod
    async def start(
        cls, memory_mb: int, max_steps: int = DEFAULT_MAX_STEPS, launcher: Launcher | None = None
    ) -> Worker:
        """A new host, started by ``launcher`` (a child of this process by default), returned once it
        is warm (limits set, ready for a request). It dies with whoever started it, in a group of
        its own: stopping the host stops the commands its local() calls started."""
        binary = await asyncio.to_thread(ensure_host)
        process = await (launcher or LocalLauncher()).start(
            [str(binary), f"--memory-mb={memory_mb}", f"--max-steps={max_steps}"],
            cwd="/",
            env=host_environment(),
            stdin=True,
            limit=_LINE_LIMIT,
        )
        worker = cls(process, memory_mb)
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                assert process.stdout is not None
                line = await process.stdout.readline()
        except BaseException:
            await worker.stop()
            raise
        if EVENT_READY.encode() not in line:
            await worker.stop()
            raise RuntimeError(f"the Tiltfile host did not start: {worker.stderr_tail() or 'no output'}")
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def _keep_stderr(self, stream: asyncio.StreamReader) -> None:
        """The first few KiB (where Go says why it died) and the last few (the end of a traceback)."""
        kept = 0
        while chunk := await stream.read(4096):
            if len(self._stderr_head) < _STDERR_KEPT:
                self._stderr_head += chunk[: _STDERR_KEPT - len(self._stderr_head)]
            self._stderr.append(chunk)
            kept += len(chunk)
            while kept > _STDERR_KEPT and len(self._stderr) > 1:
                kept -= len(self._stderr.popleft())

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")[-4000:]

    async def run(self, request: RunRequest, timeout: float, output: Output | None = None) -> RunResult:
        """The run's result; never raises for anything the Tiltfile does. Cancelling it kills the host.

        ``output`` hears what the Tiltfile prints and warns as it happens.
        """
        assert self.reusable
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        transcript = Transcript()
        timed_out = False
        try:
            self.process.stdin.write(request.to_json().encode())
            async with asyncio.timeout(timeout):
                await self.process.stdin.drain()
                while transcript.done is None and (line := await self.process.stdout.readline()):
                    event = transcript.record(line)
                    if output is not None and event is not None and event[0] in (EVENT_PRINT, EVENT_WARNING):
                        output(*event)
        except TimeoutError:
            timed_out = True
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass  # the host is gone, or wrote a line beyond the limit: its fate says which
        except BaseException:  # cancelled: a stop button, or the operator stopping
            self.reusable = False
            await self.stop()
            raise
        if transcript.done is not None and not timed_out:
            # A run that used up its steps leaves its host never to be reused, like any other limit.
            error = transcript.done.get("error") or ""
            self.reusable = not transcript.done.get("retire") and _TOO_MANY_STEPS not in error
            if not self.reusable:
                await self.stop()
            return transcript.result(None)
        self.reusable = False
        # Once collected, the host's exit says whether the runner it ran in went with it: its pipes
        # may close before the runner's connection does, so this is known only after the wait.
        await self.stop()
        if self.process.lost:
            # Not the Tiltfile's doing: the run is retried.
            raise ProcessLost(f"the Tiltfile host was lost with the runner it ran in (pid {self.pid} there)")
        return transcript.result(self._fate(timed_out, timeout))

    def _fate(self, timed_out: bool, timeout: float) -> str:
        """How the host ended, as the run's error."""
        returncode = self.process.returncode
        stderr = self.stderr_tail()
        if timed_out:
            return f"Tiltfile timed out after {timeout:g}s"
        memory = returncode == _GO_FATAL and any(m in self._stderr_head for m in _GO_OUT_OF_MEMORY)
        if returncode == EXIT_MEMORY or memory:
            return f"Tiltfile exceeded its memory limit of {self.memory_mb} MiB"
        logger.warning("Tiltfile host %d ended with %s; its stderr:\n%s", self.pid, returncode, stderr)
        if returncode is not None and returncode < 0:
            return f"Tiltfile host crashed (signal {-returncode})"
        # Go's own crash report starts with "fatal error:", "panic:" or "SIGSEGV:"; say that line.
        first = next((line for line in self._stderr_head.decode(errors="replace").splitlines() if line.strip()), "")
        if returncode == _GO_FATAL and first:
            return f"Tiltfile host crashed: {first.strip()}"
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        return f"Tiltfile host failed (exit code {returncode}): {last[0]}"

    async def stop(self) -> None:
        """End the host (it is killed: whatever it was doing is abandoned) and collect it."""
        self.reusable = False
        if self.process.returncode is None:
            self.process.signal_group(signal.SIGKILL)
        await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain


def host_environment() -> dict[str, str]:
    """The host's environment: a few harmless variables of the operator's, never its credentials."""
    return {name: os.environ[name] for name in _HOST_ENVIRONMENT if name in os.environ}


def _request(
    path: Path,
    crds: Sequence[Mapping[str, Any]],
    worker: Worker,
    args: Sequence[str],
    root: Path | None,
    ext_roots: ExtensionRoots | None,
    call: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    exec_enabled: bool = False,
) -> RunRequest:
    """The request for ``worker``, with the CRDs only if it does not have them yet."""
    path = path.absolute()
    digest = crds_digest(crds)
    known, worker.crds_digest = worker.crds_digest == digest, digest
    return RunRequest(
        path=path,
        root=(root or path.parent).absolute(),
        args=tuple(args),
        crds_digest=digest,
        crds=() if known else tuple(crds),
        ext_roots=ext_roots or ExtensionRoots(),
        call=call,
        env=dict(env or {}),
        exec_enabled=exec_enabled,
    )


class WorkerPool:
    """``size`` warm hosts with a memory and a step limit each; a run waits for one when all are busy."""

    def __init__(
        self, *, size: int, memory_mb: int, max_steps: int = DEFAULT_MAX_STEPS, launcher: Launcher | None = None
    ) -> None:
        self.size = size
        self.memory_mb = memory_mb
        self.max_steps = max_steps
        # Where hosts run: children of the operator, or in its runner.
        self.launcher = launcher or LocalLauncher()
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        self._workers: set[Worker] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._stopped = False

    def start(self) -> None:
        """Start every worker in the background; runs wait for the first to be warm."""
        for _ in range(self.size):
            self._replace()

    def _replace(self) -> None:
        if self._stopped:
            return
        task = asyncio.create_task(self._start_one(), name="start a Tiltfile host")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start_one(self) -> None:
        """Start one host, trying again (every 30 s at last) for as long as it takes: a runner away
        for a while is back some time, and runs wait for it meanwhile."""
        delays = itertools.chain((0.0, *_RESPAWN_DELAYS), itertools.repeat(_RESPAWN_DELAYS[-1]))
        for attempt, delay in enumerate(delays):
            await asyncio.sleep(delay)
            try:
                worker = await Worker.start(self.memory_mb, self.max_steps, self.launcher)
            except Exception as error:
                if attempt == 0:
                    logger.error("cannot start a Tiltfile host (%s); retrying until one starts", error)
                continue
            if attempt:
                logger.info("a Tiltfile host started after %d attempts", attempt + 1)
            self._workers.add(worker)
            self._idle.put_nowait(worker)
            return

    @contextlib.asynccontextmanager
    async def _borrow(self) -> AsyncIterator[Worker]:
        while True:
            worker = await self._idle.get()
            if worker.alive:
                break
            await self._retire(worker)  # died while idle (killed from outside, say)
        try:
            yield worker
        finally:
            if worker.reusable:
                self._idle.put_nowait(worker)
            else:
                await self._retire(worker)

    async def _retire(self, worker: Worker) -> None:
        self._workers.discard(worker)
        await worker.stop()
        self._replace()

    async def run(
        self,
        path: Path,
        *,
        crds: Sequence[Mapping[str, Any]],
        timeout: float,
        args: Sequence[str] = (),
        root: Path | None = None,
        ext_roots: ExtensionRoots | None = None,
        started: Callable[[], None] | None = None,
        output: Output | None = None,
        env: Mapping[str, str] | None = None,
        exec_enabled: bool = False,
    ) -> RunResult:
        """Run the Tiltfile in the next free host; ``started`` is called once it has one, ``output``
        with each ``print`` and ``warn`` (``EVENT_PRINT``, ``EVENT_WARNING``) as it happens.

        ``env`` is the environment the run sees, and ``exec_enabled`` whether ``local()`` may run.
        """
        async with self._borrow() as worker:
            if started is not None:
                started()
            request = _request(path, crds, worker, args, root, ext_roots, env=env, exec_enabled=exec_enabled)
            return await worker.run(request, timeout, output)

    def pids(self) -> list[int]:
        """The pids of the hosts alive now (idle or busy)."""
        return sorted(worker.pid for worker in self._workers if worker.alive)

    async def stop(self) -> None:
        self._stopped = True
        starting = list(self._starting)
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        workers, self._workers = self._workers, set()
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)


async def run_tiltfile_async(
    path: Path,
    *,
    crds: Sequence[Mapping[str, Any]],
    timeout: float,
    memory_mb: int,
    args: Sequence[str] = (),
    root: Path | None = None,
    ext_roots: ExtensionRoots | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: Mapping[str, str] | None = None,
    exec_enabled: bool = False,
) -> RunResult:
    """Run the Tiltfile at ``path`` in a host of its own; never raises for anything the Tiltfile does.

    ``root`` (default: the Tiltfile's directory) confines ``read_file`` and relative loads; pass
    the repo's checkout to let an extension read its siblings. Cancelling it kills the host.
    """
    worker = await Worker.start(memory_mb, max_steps)
    try:
        request = _request(path, crds, worker, args, root, ext_roots, env=env, exec_enabled=exec_enabled)
        return await worker.run(request, timeout)
    finally:
        await worker.stop()


def run_tiltfile(
    path: Path,
    *,
    crds: Sequence[Mapping[str, Any]],
    timeout: float,
    memory_mb: int,
    args: Sequence[str] = (),
    root: Path | None = None,
    ext_roots: ExtensionRoots | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: Mapping[str, str] | None = None,
    exec_enabled: bool = False,
) -> RunResult:
    """:func:`run_tiltfile_async` for callers without an event loop (the command line, tests)."""
    return asyncio.run(
        run_tiltfile_async(
            path,
            crds=crds,
            timeout=timeout,
            memory_mb=memory_mb,
            args=args,
            root=root,
            ext_roots=ext_roots,
            max_steps=max_steps,
            env=env,
            exec_enabled=exec_enabled,
        )
    )


class BuildError(ValueError):
    """A builtin call that does not fit its kind's schema; the message starts with the builtin."""


def build_object(
    kind: str, kwargs: Mapping[str, Any], *, crds: Sequence[Mapping[str, Any]], memory_mb: int, timeout: float
) -> dict[str, Any]:
    """The object the Tiltfile call ``<kind in snake_case>(**kwargs)`` registers, built by the host's
    own builtin (so a command-line object cannot differ from a Tiltfile one); :class:`BuildError`
    says what is wrong with the arguments."""

    async def call() -> RunResult:
        worker = await Worker.start(memory_mb)
        try:
            request = _request(Path("/"), crds, worker, (), None, None, {"kind": kind, "kwargs": dict(kwargs)})
            return await worker.run(request, timeout)
        finally:
            await worker.stop()

    result = asyncio.run(call())
    if result.error is not None:
        raise BuildError(result.error)
    return result.objects[0]
