"""``tilt-operator runner``: start the processes extensions supply, in a place of their own.

In a cluster it is the second container of the operator's pod (manifests/deployment.yaml): another
uid, no token of the operator's mounted, the operator's state read-only. The operator drives it
over a local socket (:mod:`~tilt_operator.runner.protocol`): each process it starts gets the pipes
the operator sent, a session of its own, and the environment the operator built for its
extension's ServiceAccount; it dies with the runner (PR_SET_PDEATHSIG), and the runner kills the
processes of an operator whose connection ends. Every process shares the runner's process
namespace, so an extension that kills a Cmd by the pid in its status kills that Cmd, as in Tilt.

As the first process of its container it reaps every child that ends, its own and the orphans
that the kernel hands it, so none is left a zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tilt_operator.processes import die_with_parent
from tilt_operator.runner.protocol import FDS_PER_START, Channel, Message, address, close_all

logger = logging.getLogger(__name__)

# How long the processes of a runner that is told to stop get before SIGKILL.
STOP_GRACE = 5.0


@dataclass
class _Job:
    id: int
    process: subprocess.Popen[bytes]
    channel: Channel


@dataclass
class Runner:
    """The processes started for each connected operator, by pid."""

    jobs: dict[int, _Job] = field(default_factory=dict)
    # Set whenever the last job has been collected.
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def connected(self, sock: socket.socket) -> None:
        made: list[Channel] = []  # the callbacks run only once the channel exists
        made.append(
            Channel(sock, lambda message, fds: self._handle(made[0], message, fds), lambda: self._disconnected(made[0]))
        )

    def _handle(self, channel: Channel, message: Message, fds: list[int]) -> None:
        op = message.get("op")
        if op == "start" and len(fds) == FDS_PER_START:
            self._start(channel, message, fds)
            return
        close_all(fds)
        if op == "signal":
            for job in self.jobs.values():
                if job.channel is channel and job.id == message.get("id"):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(job.process.pid, int(message["signal"]))

    def _start(self, channel: Channel, message: Message, fds: list[int]) -> None:
        try:
            home = (message.get("env") or {}).get("HOME")
            if home:  # the account's HOME is the runner's to keep
                Path(home).mkdir(mode=0o700, parents=True, exist_ok=True)
            process = subprocess.Popen(
                [str(arg) for arg in message["args"]],
                stdin=fds[0],
                stdout=fds[1],
                stderr=fds[2],
                cwd=message.get("cwd") or None,
                env={str(key): str(value) for key, value in (message.get("env") or {}).items()},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            channel.send({"op": "failed", "id": message["id"], "errno": error.errno or errno.EIO, "error": reason})
            return
        except (KeyError, TypeError, ValueError) as error:
            channel.send({"op": "failed", "id": message.get("id"), "errno": errno.EINVAL, "error": str(error)})
            return
        finally:
            close_all(fds)
        self.jobs[process.pid] = _Job(message["id"], process, channel)
        self.idle.clear()
        channel.send({"op": "started", "id": message["id"], "pid": process.pid})

    def reap(self) -> None:
        """Collect every child that ended (SIGCHLD), and tell its operator about the ones it started."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is not None:
                job.process.returncode = os.waitstatus_to_exitcode(status)
                job.channel.send({"op": "exited", "id": job.id, "returncode": job.process.returncode})
            if not self.jobs:
                self.idle.set()

    def _disconnected(self, channel: Channel) -> None:
        """An operator went: what it started goes too, as its own children would."""
        for job in list(self.jobs.values()):
            if job.channel is channel:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(job.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM every process group, SIGKILL after a grace period, and collect them."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for job in list(self.jobs.values()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(job.process.pid, sig)
            if not self.jobs:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), STOP_GRACE)


def listen(path: Path) -> socket.socket:
    """The socket the operator connects to, at ``path``, readable and writable by the runner's group too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with address(path) as bound:
        server.bind(bound)
    path.chmod(0o660)
    server.listen()
    server.setblocking(False)
    return server


async def serve(path: Path) -> None:
    """Run until SIGTERM or SIGINT; then stop every process and return."""
    loop = asyncio.get_running_loop()
    runner = Runner()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGCHLD, runner.reap)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = listen(path)

    def accept() -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            connection, _ = server.accept()
            logger.info("an operator connected")
            runner.connected(connection)

    loop.add_reader(server.fileno(), accept)
    logger.info("runner listening at %s", path)
    await stopping.wait()
    loop.remove_reader(server.fileno())
    server.close()
    path.unlink(missing_ok=True)
    await runner.stop()


def main(path: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(path))
