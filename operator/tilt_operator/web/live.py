"""The dashboard, live: every watch event reaches every open page as the resources it changed.

The kopf layer calls :meth:`Live.changed` with every event, after the cache has it; that only
marks the view stale. While pages are open, the view is rebuilt from the cache once per
:data:`COALESCE` window (however many events arrived in it) and compared with the last one, and
each page gets only the resources that differ. One computation serves every page, and no page
view makes a request to the API server: the cache is the watches'. With no page open, an event
costs nothing.

A page that cannot keep up does not queue: its pending changes are merged, newest winning.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from tilt_operator.reconcilers.cache import Cache
from tilt_operator.web import view

# How long events gather before the view is rebuilt: well inside the 200 ms a change may take to
# show, and long enough that a burst of a thousand events costs a handful of rebuilds.
COALESCE = 0.02
# Parts of the view sent whole when they change (resources are sent one by one).
_WHOLE = ("globals", "catalogue")


class Page:
    """One open page's share of the changes: what it has not been sent yet."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] = {}
        self._ready = asyncio.Event()

    def push(self, change: dict[str, Any]) -> None:
        if "resources" in change:
            self._pending.setdefault("resources", {}).update(change["resources"])
        for key in _WHOLE:
            if key in change:
                self._pending[key] = change[key]
        self._ready.set()

    async def next(self) -> dict[str, Any]:
        """The changes since the last call, waiting for one."""
        await self._ready.wait()
        self._ready.clear()
        change, self._pending = self._pending, {}
        return change


class Live:
    def __init__(self, cache: Cache, *, build: Callable[[Cache], view.View] = view.build) -> None:
        self._cache, self._build = cache, build
        self._pages: set[Page] = set()
        self._stale = True
        self._view: view.View = {"resources": {}, "globals": []}
        self._flush: asyncio.TimerHandle | None = None
        # When the last rebuild ended and how long it took: under a stream of events, rebuilds are
        # spaced so that they take at most a third of the event loop's time.
        self._rebuilt, self._cost = 0.0, 0.0

    def changed(self) -> None:
        """Something in the cache changed: the pages hear of it within :data:`COALESCE`."""
        self._stale = True
        if self._pages and self._flush is None:
            loop = asyncio.get_running_loop()
            delay = max(COALESCE, self._rebuilt + 2 * self._cost - time.monotonic())
            self._flush = loop.call_later(delay, self._rebuild)

    def _rebuild(self) -> None:
        self._flush = None
        if not self._stale:
            return
        self._stale = False
        started = time.monotonic()
        fresh, last = self._build(self._cache), self._view
        change: dict[str, Any] = {}
        resources = {
            name: resource for name, resource in fresh["resources"].items() if last["resources"].get(name) != resource
        }
        resources.update({name: None for name in last["resources"].keys() - fresh["resources"].keys()})
        if resources:
            change["resources"] = resources
        change.update({key: fresh[key] for key in _WHOLE if fresh[key] != last.get(key)})
        self._view = fresh
        if change:
            for page in self._pages:
                page.push(change)
        self._rebuilt = time.monotonic()
        self._cost = self._rebuilt - started

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[tuple[view.View, Page]]:
        """The view as it is now, and the changes after it, for as long as the ``with`` lasts."""
        if self._stale:
            self._rebuild()
        page = Page()
        self._pages.add(page)
        try:
            yield self._view, page
        finally:
            self._pages.discard(page)
            if not self._pages and self._flush is not None:
                self._flush.cancel()
                self._flush = None
