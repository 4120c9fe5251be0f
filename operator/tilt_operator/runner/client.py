"""The operator's side of a runner: a :class:`~tilt_operator.processes.Launcher` whose processes run there.

The operator makes each process's pipes itself and sends the child's ends with the ``start``
(:mod:`~tilt_operator.runner.protocol`), so it reads a remote process's output exactly as a local
one's. The connection is made on first use and again after the runner went (a crash, a restart of
its container): until it is back, a start waits for it, up to ``connect_timeout``, then raises
:class:`RunnerUnavailable`, which the reconcilers leave to the queue's retry. Every process the
runner had when it went counts as ended with it (:attr:`RemoteProcess.lost`), so its Cmd is
reported and started again, as after an operator restart.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from tilt_operator.runner.protocol import Channel, Message, address, close_all

# Where each account's HOME is in the runner (its own temp dir), which the runner makes when missing.
RUNNER_HOMES = Path("/tmp/tilt-extensions")
# How often a start looks for the runner's socket while it is away.
_RECONNECT_SECONDS = 0.2


class RunnerUnavailable(Exception):
    """The runner could not be reached in time: nothing was started (an infrastructure failure, retried)."""


class RemoteProcess:
    """A process the runner started: its pid there, the operator's ends of its pipes, its exit."""

    def __init__(
        self,
        channel: Channel,
        id: int,
        pid: int,
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self._channel, self._id = channel, id
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        # Ended because the runner went, not by itself.
        self.lost = False
        self._exited = asyncio.get_running_loop().create_future()

    def exited(self, returncode: int, *, lost: bool = False) -> None:
        if self.returncode is None:
            self.returncode, self.lost = returncode, lost
            self._exited.set_result(returncode)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def signal_group(self, sig: int) -> None:
        if self.returncode is None:
            self._channel.send({"op": "signal", "id": self._id, "signal": int(sig)})


class _Connection:
    """One connection to the runner: the starts waiting for an answer, and the processes it runs."""

    def __init__(self, sock: socket.socket) -> None:
        self.starts: dict[int, asyncio.Future[Message]] = {}
        self.processes: dict[int, RemoteProcess] = {}
        # Exits that came before their process was handed out (a process that ends at once).
        self.early_exits: dict[int, int] = {}
        self.channel = Channel(sock, self._received, self._closed)

    def _received(self, message: Message, fds: list[int]) -> None:
        close_all(fds)
        op, id = message.get("op"), message.get("id")
        if op in ("started", "failed") and id in self.starts:
            future = self.starts.pop(id)
            if not future.done():
                future.set_result(message)
        elif op == "exited" and id in self.processes:
            self.processes.pop(id).exited(int(message["returncode"]))
        elif op == "exited" and isinstance(id, int):
            self.early_exits[id] = int(message["returncode"])

    def add(self, id: int, process: RemoteProcess) -> None:
        if id in self.early_exits:
            process.exited(self.early_exits.pop(id))
        elif not self.channel.open:
            process.exited(-signal.SIGKILL, lost=True)
        else:
            self.processes[id] = process

    def _closed(self) -> None:
        for future in self.starts.values():
            if not future.done():
                future.set_exception(RunnerUnavailable("the runner went away while starting a process"))
        self.starts.clear()
        for process in self.processes.values():
            process.exited(-signal.SIGKILL, lost=True)
        self.processes.clear()


class RunnerLauncher:
    """Starts processes in the runner listening at ``path``."""

    def __init__(self, path: Path, *, connect_timeout: float = 30.0) -> None:
        self.path, self._timeout = path, connect_timeout
        self._connection: _Connection | None = None
        self._ids = itertools.count(1)

    async def _connected(self) -> _Connection:
        if self._connection is not None and self._connection.channel.open:
            return self._connection
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    try:
                        with address(self.path) as runner:
                            sock.connect(runner)
                        break
                    except OSError:
                        sock.close()
                        await asyncio.sleep(_RECONNECT_SECONDS)
        except TimeoutError:
            raise RunnerUnavailable(f"no runner answers at {self.path} (waited {self._timeout:g}s)") from None
        self._connection = _Connection(sock)
        return self._connection

    async def start(
        self, args: Sequence[str], *, cwd: str | None, env: Mapping[str, str], stdin: bool = False, limit: int = 1 << 16
    ) -> RemoteProcess:
        """Start ``args`` in the runner; OSError as a local start raises it when it cannot (no such file)."""
        connection = await self._connected()
        loop = asyncio.get_running_loop()
        in_read, in_write = os.pipe2(os.O_CLOEXEC) if stdin else (os.open(os.devnull, os.O_RDONLY), -1)
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        err_read, err_write = os.pipe2(os.O_CLOEXEC)
        id = next(self._ids)
        answer = connection.starts[id] = loop.create_future()
        connection.channel.send(
            {"op": "start", "id": id, "args": list(args), "cwd": cwd, "env": dict(env)},
            [in_read, out_write, err_write],
        )
        close_all([in_read, out_write, err_write])  # the runner holds its own copies now
        try:
            message = await answer
        except BaseException:
            close_all([fd for fd in (in_write, out_read, err_read) if fd >= 0])
            raise
        if message["op"] == "failed":
            close_all([fd for fd in (in_write, out_read, err_read) if fd >= 0])
            raise OSError(int(message["errno"]), str(message["error"]))
        stdout, stderr = await _reader(out_read, limit), await _reader(err_read, limit)
        writer = await _writer(in_write) if stdin else None
        process = RemoteProcess(connection.channel, id, int(message["pid"]), writer, stdout, stderr)
        connection.add(id, process)
        return process

    def close(self) -> None:
        """Hang up: the runner kills what it started for this operator."""
        if self._connection is not None:
            self._connection.channel.close()


async def _reader(fd: int, limit: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    pipe = open(fd, "rb", buffering=0)  # noqa: SIM115 - the transport owns and closes it
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
    return reader


async def _writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    pipe = open(fd, "wb", buffering=0)  # noqa: SIM115 - the transport owns and closes it
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
    return asyncio.StreamWriter(transport, protocol, None, loop)
