"""The operator's HTTP server: aiohttp, on a loopback address only, for this machine's eyes.

It answers nothing that does not name a loopback host in its Host header, so a web page of
another site that resolves its own name to 127.0.0.1 (DNS rebinding) is refused. In a cluster it
listens on the pod's loopback, reached only through ``kubectl port-forward``, so the API server's
authentication and RBAC (``pods/portforward``) decide who may read.

Routes:
- ``GET /api/logs?name=N&tail=T&since=TIME&follow=1``: the logs of the named resources (all when
  none is named) as one JSON line each, oldest first, then live with ``follow``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from tilt_operator import timestamps
from tilt_operator.api import CMD, TILTFILE, Kind
from tilt_operator.logstore import Key, Line, LogStore
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.web import resources

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_SHORT = {CMD.plural: "cmd", TILTFILE.plural: "tf"}


class NotLoopback(ValueError):
    """The server may only listen on a loopback address."""


def check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(
            f"the web server listens on loopback only (127.0.0.1 or ::1), not {host!r}: "
            "reach it from elsewhere with kubectl port-forward"
        )


def _host_allowed(header: str | None) -> bool:
    """Whether the Host header names this machine: 127.0.0.1:10350, localhost, [::1]:8080…"""
    if not header:
        return False
    host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return host.strip("[]").lower() in _LOOPBACK_NAMES


@web.middleware
async def _only_loopback_hosts(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _host_allowed(request.headers.get("Host")):
        return web.json_response({"error": "this server answers only requests for a loopback host"}, status=403)
    return await handler(request)


def _record(key: Key, resource: str, line: Line) -> bytes:
    entry = {**asdict(line), "resource": resource, "object": f"{_SHORT.get(key.kind, key.kind)}/{key.name}"}
    return (json.dumps(entry, ensure_ascii=False) + "\n").encode()


class WebServer:
    def __init__(self, *, host: str, port: int, cache: Cache, logs: LogStore) -> None:
        check_loopback(host)
        self._host, self._port, self._cache, self._logs = host, port, cache, logs
        self._app = web.Application(middlewares=[_only_loopback_hosts])
        self._app.router.add_get("/api/logs", self._serve_logs)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        # The file that tells the command line on this machine where this server is.
        self.advertised: Path | None = None

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        # handler_cancellation: a follower that goes away ends its handler (and its listener) at once.
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        if self._port == 0:  # a free port, picked by the system
            self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _lines(self, kind: Kind, obj: dict, since: str) -> list[tuple[str, bytes]]:  # type: ignore[type-arg]
        key, resource = resources.key_of(kind, obj), resources.resource_of(kind, obj)
        return [(line.time, _record(key, resource, line)) for line in self._logs.read(key) if line.time >= since]

    async def _serve_logs(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            selection = resources.select(self._cache, query.getall("name", []))
            tail = int(query.get("tail", "-1"))
            since = timestamps.parse(query["since"]).strftime(timestamps.FORMAT) if "since" in query else ""
        except resources.UnknownName as error:
            return web.json_response({"error": str(error)}, status=404)
        except ValueError as error:
            return web.json_response({"error": f"bad request: {error}"}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson; charset=utf-8"})
        await response.prepare(request)
        # Read what is on disk and start listening in one step of the event loop: no line written
        # in between can be missed or sent twice.
        existing = [
            entry
            for kind in resources.LOGGED
            for obj in self._cache.objects(kind)
            if selection.wants(kind, obj)
            for entry in self._lines(kind, dict(obj), since)
        ]
        live: asyncio.Queue[bytes] = asyncio.Queue()
        stop_listening = self._logs.listen(lambda key, line: self._forward(selection, key, line, live))
        try:
            existing.sort(key=lambda entry: entry[0])
            for _, record in existing[-tail:] if tail >= 0 else existing:
                await response.write(record)
            if query.get("follow") not in ("1", "true"):
                return response
            while not self._closing.is_set():
                await response.write(await live.get())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stop_listening()
        return response

    def _forward(self, selection: resources.Selection, key: Key, line: Line, live: asyncio.Queue[bytes]) -> None:
        kind = CMD if key.kind == CMD.plural else TILTFILE
        obj = self._cache.get(kind, key.name)
        if obj is not None and selection.wants(kind, obj):
            live.put_nowait(_record(key, resources.resource_of(kind, obj), line))
