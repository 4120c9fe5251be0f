"""The work queue: which objects to reconcile next, and the operator's one scheduler.

One queue per kind, as controller-runtime has them. A key (an object's name) is in a queue at most
once however many events name it, and is never reconciled by two workers at once: an event that
arrives during a reconcile queues it again for after. A reconcile that wants to run again later
(a repo's interval) or that failed (with exponential backoff per key) is put on one heap with one
timer task per queue; nothing else in the operator wakes on a clock.

Failures are reported to the operator's :class:`~tilt_operator.reconcilers.outage.Outage`, which
says each one once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tilt_operator.kube import Fenced
from tilt_operator.reconcilers.outage import Outage

BASE_DELAY = 0.5
MAX_DELAY = 300.0


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the queue afterwards."""

    # Reconcile again after this many seconds (a repo's next re-check).
    requeue_after: float | None = None
    # An expected failure the status already reports (a fetch that failed): try again with backoff.
    retry: bool = False


Reconcile = Callable[[str], Awaitable[Result | None]]


class WorkQueue:
    """Keys to reconcile with ``reconcile``, by up to ``workers`` workers at once."""

    def __init__(self, name: str, reconcile: Reconcile, *, workers: int, failures: Outage) -> None:
        self.name = name
        self._reconcile = reconcile
        self._workers = workers
        self._failures = failures
        self._pending: dict[str, None] = {}  # an ordered set
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._work = asyncio.Event()
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._timer = asyncio.Event()
        self._order = itertools.count()
        self._attempts: dict[str, int] = {}

    def add(self, key: str) -> None:
        """Reconcile ``key`` soon (after the reconcile in progress, if there is one)."""
        if key in self._active:
            self._again.add(key)
        elif key not in self._pending:
            self._pending[key] = None
            self._work.set()

    def add_after(self, key: str, delay: float) -> None:
        """Reconcile ``key`` in ``delay`` seconds, unless it is already due sooner."""
        if delay <= 0:
            self.add(key)
            return
        due = asyncio.get_running_loop().time() + delay
        if self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        if self._heap[0][2] == key:
            self._timer.set()

    def idle(self) -> bool:
        """Nothing queued and nothing being reconciled (delayed keys do not count)."""
        return not self._pending and not self._active

    async def run(self) -> None:
        """Work until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._schedule(), name=f"{self.name} scheduler")
            for index in range(self._workers):
                group.create_task(self._work_loop(), name=f"{self.name} worker {index}")

    async def _work_loop(self) -> None:
        while True:
            while not self._pending:
                self._work.clear()
                await self._work.wait()
            key = next(iter(self._pending))
            del self._pending[key]
            self._active.add(key)
            try:
                await self._one(key)
            finally:
                self._active.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)

    async def _one(self, key: str) -> None:
        try:
            result = await self._reconcile(key) or Result()
        except asyncio.CancelledError:
            raise
        except Fenced:
            return  # this process lost the Lease and is stopping: the new leader reconciles it
        except Exception as error:
            self._failures.failed(self.name, key, error)
            self.add_after(key, self._backoff(key))
            return
        self._failures.succeeded(self.name, key)
        if result.retry:
            self.add_after(key, self._backoff(key))
            return
        self._attempts.pop(key, None)
        if result.requeue_after is not None:
            self.add_after(key, result.requeue_after)

    def _backoff(self, key: str) -> float:
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        return min(BASE_DELAY * 2.0 ** min(attempt - 1, 20), MAX_DELAY)

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._heap and self._heap[0][0] <= now:
                due, _, key = heapq.heappop(self._heap)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            self._timer.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer.wait(), timeout)

    def forget(self, key: str) -> None:
        """The object is gone: drop its backoff (a delayed entry that fires finds nothing to do)."""
        self._attempts.pop(key, None)
