"""The Tiltfile worker process: ``python -m tilt_operator.engine.worker --memory-mb N``.

Started by the operator's :class:`~tilt_operator.engine.pool.WorkerPool` and never by anything
else. Once warm (starlark-go loaded, the Go runtime started, the engine imported) it says
``ready`` and then serves runs one at a time: a ``RunRequest`` per line on stdin, events per line
on stdout (``engine.protocol``), ending with ``done``. Every run gets a new Starlark interpreter
and a new session, and the process's environment and working directory are put back before it
starts, so nothing of one run reaches the next (see the engine's docstring for why that holds).

The time limit is the operator's job: a process cannot be trusted to stop itself when
starlark-go is spinning in Go code; the operator kills the worker, and it is replaced.

Memory, as measured with starlark-go 1.0.1: the Go runtime maps about 6 GB of address space
before it runs anything, and grows its heap by replacing reserved mappings, which RLIMIT_DATA does
not count. So the limit is enforced three ways: ``GOMEMLIMIT`` (set by the pool in the
environment, since Go reads it when the process starts) makes the Go heap collect garbage before it
gets near the limit; a watchdog thread reads this process's resident size every few milliseconds
while a run is in progress and exits with ``EXIT_MEMORY`` above the limit; and RLIMIT_AS, set once
Go has made its initial reservations, makes a single huge allocation (``[0] * 1000000000``) fail
at once instead of being caught by the watchdog after it has filled gigabytes. A worker that ends
a run larger than a quarter of its limit retires, so the next run starts from a small process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from tilt_operator.engine import session
from tilt_operator.engine.builtins import BuiltinSpec, builtin_specs
from tilt_operator.engine.protocol import (
    EVENT_DONE,
    EVENT_READY,
    EXIT_MEMORY,
    MAX_RUNS_PER_WORKER,
    RunRequest,
    encode_event,
)

_WATCH_INTERVAL = 0.005
# Address space allowed beyond what the warmed-up worker maps: room for Go's heap reservations
# (observed at up to twice the resident size) and new threads, far below what the machine has.
_ADDRESS_SPACE_FACTOR = 4
_ADDRESS_SPACE_MINIMUM = 1 << 30
# A worker whose resident size after a run exceeds this share of its limit retires.
_RETIRE_SHARE = 0.25


class Watchdog:
    """Ends the process when it uses more memory than allowed, checking only while a run is in progress."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._armed = threading.Event()
        threading.Thread(target=self._watch, name="memory-watchdog", daemon=True).start()

    def arm(self) -> None:
        self._armed.set()

    def disarm(self) -> None:
        self._armed.clear()

    def _watch(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm", "rb", buffering=0) as statm:
            while self._armed.wait():
                while self._armed.is_set():
                    statm.seek(0)
                    if int(statm.read().split()[1]) * page > self._limit:
                        _exit_for_memory()
                    time.sleep(_WATCH_INTERVAL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tilt_operator.engine.worker")
    parser.add_argument("--memory-mb", type=int, required=True)
    limit = parser.parse_args(argv).memory_mb << 20
    try:
        _limit_address_space(limit)
        serve(Watchdog(limit), limit)
    except MemoryError:
        _exit_for_memory()


def serve(watchdog: Watchdog, limit: int) -> None:
    """Answer requests until stdin closes, a run grows the process too much, or it has served its share."""
    environment, directory = dict(os.environ), os.getcwd()
    specs: dict[str, dict[str, BuiltinSpec]] = {}
    _emit(EVENT_READY, os.getpid())
    for runs, line in enumerate(sys.stdin, start=1):
        request = RunRequest.from_json(line)
        if request.crds:
            specs = {request.crds_digest: builtin_specs(request.crds)}
        _restore(environment, directory)
        watchdog.arm()
        try:
            objects, error = session.Session(request, specs[request.crds_digest], _emit).run()
        finally:
            watchdog.disarm()
        retire = runs >= MAX_RUNS_PER_WORKER or _resident() > limit * _RETIRE_SHARE
        _emit(EVENT_DONE, {"objects": objects, "error": error, "retire": retire})
        if retire:
            return


def _restore(environment: Mapping[str, str], directory: str) -> None:
    """The environment and working directory as they were when the worker started."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(directory)


def _emit(key: str, value: Any) -> None:
    sys.stdout.write(encode_event(key, value))
    sys.stdout.flush()


def _limit_address_space(limit: int) -> None:
    """RLIMIT_AS above the worker's current size, measured after Go has started up."""
    session.warm_up()
    headroom = max(_ADDRESS_SPACE_FACTOR * limit, _ADDRESS_SPACE_MINIMUM)
    size = _status_kib("VmSize") << 10
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, size + headroom))


def _resident() -> int:
    return _status_kib("VmRSS") << 10


def _exit_for_memory() -> None:
    """Leave at once: a process out of memory cannot be relied on to unwind (events are flushed as sent)."""
    os._exit(EXIT_MEMORY)


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == key:
                return int(value.split()[0])
    raise RuntimeError(f"/proc/self/status has no {key}")


if __name__ == "__main__":
    main()
