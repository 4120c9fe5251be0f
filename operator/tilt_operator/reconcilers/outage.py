"""Failures, said once: an API server outage is one line when it starts and one when it ends.

Every request the operator makes may fail while the API server is away: the reconcilers' writes
(retried with backoff by their queues) and kopf's watches (retried by kopf). Rather than a line
per attempt, :class:`Outage` says "unreachable" once, then asks the server every few seconds
(backing off) until it answers, and says so. The probe alone decides that the outage is over: a
reconcile that succeeds may not have needed the server at all. Any other failure of a reconcile is said once per
object, with its traceback, until that object reconciles again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tilt_operator.reconcilers.objectlog import for_object

logger = logging.getLogger(__name__)

_PROBE_FIRST, _PROBE_MAX = 1.0, 30.0


def summary(error: BaseException) -> str:
    """One line about an error, whatever its message looks like."""
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Outage:
    """The operator's one view of whether the API server answers, and its one log of failures."""

    def __init__(self, *, unreachable: Callable[[BaseException], bool], ping: Callable[[], Awaitable[object]]) -> None:
        self._unreachable = unreachable
        self._ping = ping
        self._probe: asyncio.Task[None] | None = None
        self._failing: dict[tuple[str, str], str] = {}

    @property
    def down(self) -> bool:
        return self._probe is not None

    def unreachable(self, reason: str) -> None:
        """A request could not reach the API server: the first of an outage is logged and starts a probe."""
        if self._probe is None:
            logger.warning("the API server is unreachable (%s); retrying with backoff", reason)
            self._probe = asyncio.get_running_loop().create_task(self._wait_for_server(), name="API server probe")

    def answered(self) -> None:
        """The probe got an answer: the outage, if there was one, is over."""
        if self._probe is not None:
            probe, self._probe = self._probe, None
            if probe is not asyncio.current_task():
                probe.cancel()
            logger.info("the API server answers again")

    async def _wait_for_server(self) -> None:
        delay = _PROBE_FIRST
        while True:
            await asyncio.sleep(delay)
            try:
                await self._ping()
            except Exception as error:
                if not self._unreachable(error):
                    logger.warning("asking the API server whether it is back failed: %s", summary(error))
                delay = min(delay * 2, _PROBE_MAX)
            else:
                self.answered()
                return

    def failed(self, kind: str, name: str, error: BaseException) -> None:
        """A reconcile of ``kind`` ``name`` raised ``error``."""
        if self._unreachable(error):
            self.unreachable(summary(error))
            return
        said = summary(error)
        if self._failing.get((kind, name)) == said:
            return
        first = (kind, name) not in self._failing
        self._failing[(kind, name)] = said
        log = for_object(logger, name)
        if first:
            log.error("reconciling the %s failed; retrying with backoff", kind, exc_info=error)
        else:
            log.error("reconciling the %s failed again: %s", kind, said)

    def succeeded(self, kind: str, name: str) -> None:
        if self._failing.pop((kind, name), None) is not None:
            for_object(logger, name).info("reconciling the %s works again", kind)

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
