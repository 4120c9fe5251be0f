"""Shared test helpers: polling with a deadline instead of sleeping, for what must happen and what must not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Call ``check`` until it returns something truthy without raising; fail with its last word after the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except AssertionError as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}: last saw {last!r}")
        time.sleep(interval)


def holds(check: Callable[[], object], *, seconds: float, because: str, interval: float = 0.2) -> None:
    """The negative of :func:`eventually`: ``check`` stays truthy for ``seconds``, checked every
    ``interval``; ``because`` says why that long is long enough to see it fail if it were going to."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        assert result, f"no longer holds ({because}): {result!r}"
        if time.monotonic() > deadline:
            return
        time.sleep(interval)
