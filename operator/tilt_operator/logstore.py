"""Every Cmd's, Tiltfile's and KubernetesApply's own log, line by line, on disk under the data dir.

The Cmd reconciler writes what a process prints (and when it starts and ends), the Tiltfile
reconciler what a run printed, warned and failed with, the KubernetesApply reconciler what it
applied and how it fares; the web server reads them for ``kubectl
tilt logs`` and the dashboard, and follows them live. A log is kept per object (by uid, so a
re-created object starts a new one), survives an operator restart, and is removed with its object.

Each line is one JSON document: ``{"time", "stream", "text"}`` with the stream ``stdout``,
``stderr`` or ``system``. Text is stored as UTF-8 with undecodable bytes replaced, so binary
output never breaks a log; the process runner already splits lines longer than 64 KiB. A log is
capped (1 MiB by default): when it grows past the cap, its oldest lines are dropped down to half
and a line says so. A write that fails (a full disk) stops that log with a last line saying why;
whatever is being logged carries on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO

from tilt_operator import timestamps

logger = logging.getLogger(__name__)

STDOUT, STDERR, SYSTEM = "stdout", "stderr", "system"
DEFAULT_CAP = 1 << 20
TRIMMED = "[older lines were dropped: this log keeps its last {kib} KiB]"
STOPPED = "[this log stopped: {reason}]"


@dataclass(frozen=True)
class Line:
    time: str
    stream: str
    text: str


@dataclass(frozen=True)
class Key:
    """Which log: the object's kind (plural), name and uid."""

    kind: str
    name: str
    uid: str


Listener = Callable[[Key, Line], None]


def encode(time: str, stream: str, text: str) -> str:
    """One line as stored: a JSON object on a line of its own (json's C encoder for the text)."""
    return f'{{"time": "{time}", "stream": "{stream}", "text": {encode_basestring(text)}}}\n'


Opener = Callable[[Path], IO[str]]


def _open_for_append(path: Path) -> IO[str]:
    return path.open("a", encoding="utf-8")


class _Log:
    """One object's log file, appended to a line at a time; open only until the batch is flushed."""

    def __init__(self, path: Path, cap: int, opener: Opener) -> None:
        self.path, self.cap, self._opener = path, cap, opener
        self._file: IO[str] | None = None
        self._size = path.stat().st_size if path.exists() else 0
        self.stopped = False

    def write(self, record: str) -> None:
        """Append ``record``: one or more encoded lines (see :func:`encode`)."""
        if self.stopped:
            return
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self._opener(self.path)
            self._file.write(record)
            self._size += len(record.encode())
            if self._size > self.cap:
                self._trim()
        except OSError as error:
            self._stop(error)

    def flush(self) -> None:
        if self._file is not None and not self.stopped:
            try:
                self._file.close()
            except OSError as error:
                self._stop(error)
        self._file = None

    def _trim(self) -> None:
        """Keep the newest lines that fit in half the cap, after a line that says the rest were dropped."""
        assert self._file is not None
        self._file.close()
        self._file = None
        keep = self.cap // 2
        with self.path.open("rb") as old:
            old.seek(max(self._size - keep, 0))
            tail = old.read()
        tail = tail[tail.find(b"\n") + 1 :]  # from the first whole line
        try:  # the marker takes the time of the first line kept, so it stays first when logs are merged
            first = str(json.loads(tail[: tail.find(b"\n")])["time"])
        except (ValueError, KeyError, TypeError):
            first = timestamps.now()
        head = encode(first, SYSTEM, TRIMMED.format(kib=keep >> 10)).encode()
        with tempfile.NamedTemporaryFile(dir=self.path.parent, delete=False, prefix=".trim-") as new:
            new.write(head + tail)
        os.replace(new.name, self.path)
        self._size = len(head) + len(tail)

    def _stop(self, error: OSError) -> None:
        """Stop this log for good, saying why if there is room to say it."""
        self.stopped = True
        reason = error.strerror or str(error)
        logger.warning("the log %s stopped: %s", self.path, reason)
        try:
            if self._file is not None:
                self._file.write(encode(timestamps.now(), SYSTEM, STOPPED.format(reason=reason)))
                self._file.close()
        except OSError:
            pass
        self._file = None


class LogStore:
    """The logs of one operator, under ``directory``; listeners hear every line as it is written."""

    def __init__(self, directory: Path, *, cap: int = DEFAULT_CAP, opener: Opener = _open_for_append) -> None:
        self.directory = directory
        self._cap, self._opener = cap, opener
        self._logs: dict[str, _Log] = {}
        self._listeners: set[Listener] = set()
        self._dirty: set[str] = set()
        self._flush_scheduled = False

    def _path(self, key: Key) -> Path:
        return self.directory / key.kind / f"{key.uid}.log"

    def append(self, key: Key, stream: str, text: str) -> None:
        """One line of ``key``'s log, now; written at once, flushed when the current batch is over."""
        self.append_many(key, stream, [text])

    def append_many(self, key: Key, stream: str, texts: list[str]) -> None:
        """Lines of ``key``'s log that came together (a chunk a process printed), with one time."""
        now = timestamps.now()
        log = self._logs.get(key.uid)
        if log is None:
            log = self._logs[key.uid] = _Log(self._path(key), self._cap, self._opener)
        log.write("".join(encode(now, stream, text) for text in texts))
        self._dirty.add(key.uid)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        for listener in list(self._listeners):
            for text in texts:
                listener(key, Line(now, stream, text))

    def _flush(self) -> None:
        self._flush_scheduled = False
        for uid in self._dirty:
            if uid in self._logs:
                self._logs[uid].flush()
        self._dirty.clear()

    def delete(self, key: Key) -> None:
        """The object is gone: so is its log."""
        log = self._logs.pop(key.uid, None)
        if log is not None:
            log.flush()
        self._path(key).unlink(missing_ok=True)

    def read(self, key: Key) -> Iterator[Line]:
        """The lines of ``key``'s log as they are on disk now, oldest first."""
        log = self._logs.get(key.uid)
        if log is not None:
            log.flush()
        try:
            with self._path(key).open(encoding="utf-8", errors="replace") as lines:
                for raw in lines:
                    try:
                        yield Line(**json.loads(raw))
                    except (ValueError, TypeError):
                        continue  # a line cut short by a crash or a full disk
        except FileNotFoundError:
            return

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every line written from now on; returns how to stop."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def remove_all_but(self, kind: str, uids: set[str]) -> None:
        """Delete the logs of ``kind`` whose objects no longer exist (deleted while the operator was down)."""
        directory = self.directory / kind
        for path in directory.glob("*.log") if directory.exists() else ():
            if path.stem not in uids:
                path.unlink(missing_ok=True)

    def usage(self) -> int:
        """Bytes on disk, every log together."""
        return sum(path.stat().st_size for path in self.directory.rglob("*.log")) if self.directory.exists() else 0
