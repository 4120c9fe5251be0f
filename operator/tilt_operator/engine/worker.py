"""The Tiltfile worker process: ``python -m tilt_operator.engine.worker``.

Started by ``engine`` for every run and never by anything else. It reads one ``RunRequest`` on
stdin, holds itself to the memory limit, runs the Tiltfile (``engine.session``) and writes events
on stdout (``engine.protocol``). The time limit is the operator's job: a process cannot be trusted
to stop itself when starlark-go is spinning in Go code.

Memory, as measured with starlark-go 1.0.1: the Go runtime maps about 6 GB of address space
before it runs anything, and grows its heap by replacing reserved mappings, which RLIMIT_DATA does
not count. So the limit is enforced three ways: ``GOMEMLIMIT`` (set by ``engine`` in the
environment, since Go reads it when the process starts) makes the Go heap collect garbage before it
gets near the limit; a watchdog thread reads this process's resident size every few milliseconds
and exits with ``EXIT_MEMORY`` above the limit; and RLIMIT_AS, set once Go has made its initial
reservations, makes a single huge allocation (``[0] * 1000000000``) fail at once instead of being
caught by the watchdog after it has filled gigabytes.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time

from tilt_operator.engine import session
from tilt_operator.engine.protocol import EVENT_DONE, EXIT_MEMORY, RunRequest, encode_event

_WATCH_INTERVAL = 0.005
# Address space allowed beyond what the warmed-up worker maps: room for Go's heap reservations
# (observed at up to twice the resident size) and new threads, far below what the machine has.
_ADDRESS_SPACE_FACTOR = 4
_ADDRESS_SPACE_MINIMUM = 1 << 30


def main() -> None:
    request = RunRequest.from_json(sys.stdin.read())
    limit = request.memory_mb << 20
    try:
        _limit_address_space(limit)
        threading.Thread(target=_watch_resident_size, args=(limit,), name="memory-watchdog", daemon=True).start()
        objects, error = session.Session(request, _emit).run()
        _emit(EVENT_DONE, {"objects": objects, "error": error})
    except MemoryError:
        _exit_for_memory()


def _emit(key: str, value: object) -> None:
    sys.stdout.write(encode_event(key, value))
    sys.stdout.flush()


def _limit_address_space(limit: int) -> None:
    """RLIMIT_AS above the worker's current size, measured after Go has started up."""
    session.warm_up()
    headroom = max(_ADDRESS_SPACE_FACTOR * limit, _ADDRESS_SPACE_MINIMUM)
    size = _status_kib("VmSize") << 10
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, size + headroom))


def _watch_resident_size(limit: int) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm", "rb", buffering=0) as statm:
        while True:
            statm.seek(0)
            if int(statm.read().split()[1]) * page > limit:
                _exit_for_memory()
            time.sleep(_WATCH_INTERVAL)


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
