"""How the operator and a runner talk: one JSON message per packet of a local SOCK_SEQPACKET socket.

A packet keeps its boundaries and carries the file descriptors sent with it (SCM_RIGHTS), so a
``start`` hands the runner the three pipe ends the new process uses as stdin, stdout and stderr:
the operator reads and writes the other ends itself, as it would a child of its own, and no byte
of a process's output passes through the runner. The messages:

- operator → runner: ``{"op": "start", "id", "args", "cwd", "env"}`` with three descriptors;
  ``{"op": "signal", "id", "signal"}``, for the process group of that process.
- runner → operator: ``{"op": "started", "id", "pid"}`` (the pid in the runner's process namespace,
  the one a Cmd's status shows and an extension kills), ``{"op": "failed", "id", "errno",
  "error"}``, and ``{"op": "exited", "id", "returncode"}`` (negative: killed by that signal).

When the operator's connection ends, the runner kills what it started for it; when the runner goes,
the operator counts every process it had there as ended with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

# The largest message: a start with a Cmd's whole environment and arguments.
MAX_MESSAGE = 1 << 20
# stdin, stdout, stderr.
FDS_PER_START = 3

Message = dict[str, Any]


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """An address for the socket at ``path`` that fits AF_UNIX's 107 bytes however deep ``path`` is:
    the socket's name under its directory, reached through a descriptor of that directory."""
    directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


class Channel:
    """One connected socket in the running event loop: messages in through ``received``, out in order."""

    def __init__(
        self, sock: socket.socket, received: Callable[[Message, list[int]], None], closed: Callable[[], None]
    ) -> None:
        sock.setblocking(False)
        self._sock, self._received, self._closed = sock, received, closed
        self._loop = asyncio.get_running_loop()
        self._outbox: deque[tuple[bytes, list[int]]] = deque()
        self.open = True
        self._loop.add_reader(sock.fileno(), self._read)

    def send(self, message: Message, fds: Sequence[int] = ()) -> None:
        """Queue ``message`` (the descriptors are duplicated as it is sent; the caller keeps its own)."""
        if not self.open:
            return
        self._outbox.append((json.dumps(message).encode(), [os.dup(fd) for fd in fds]))
        self._flush()

    def _flush(self) -> None:
        while self._outbox:
            data, fds = self._outbox[0]
            try:
                socket.send_fds(self._sock, [data], fds) if fds else self._sock.send(data)
            except BlockingIOError:
                self._loop.add_writer(self._sock.fileno(), self._writable)
                return
            except OSError:
                self.close()
                return
            self._outbox.popleft()
            close_all(fds)

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._flush()

    def _read(self) -> None:
        while self.open:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE, FDS_PER_START)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                close_all(fds)
                self.close()
                return
            try:
                message = json.loads(data)
            except ValueError:
                close_all(fds)
                continue
            self._received(message, fds)

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
        while self._outbox:
            close_all(self._outbox.popleft()[1])
        self._sock.close()
        self._closed()


def close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
