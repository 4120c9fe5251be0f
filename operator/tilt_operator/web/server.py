"""The operator's HTTP server: the dashboard and the logs, on a loopback address, for this machine's eyes.

In a cluster it listens on the pod's loopback, reached only through ``kubectl port-forward``, so
the API server's authentication and RBAC (``pods/portforward``) decide who may look. Who it
answers and which requests may change anything is :mod:`~tilt_operator.web.security`.

Routes:
- ``GET /``: the dashboard, a page and a small script (``web/static/``).
- ``GET /api/events``: the dashboard's data as server-sent events: a ``snapshot`` (with the
  page's session token), then a ``change`` with the resources that changed, as they change.
- ``POST /api/buttons/NAME/click``: click a UIButton, with ``{"inputs": {"name": value}}``
  and the session token in the ``X-Tilt-Operator-Token`` header; writes what
  ``kubectl tilt click`` writes.
- ``POST /api/extensions`` with ``{"repo": R, "path": P}``: install an extension of the catalogue,
  named as ``kubectl tilt create ext R/P`` names it; ``DELETE /api/extensions/NAME``: uninstall
  one. Both with the session token, as clicks.
- ``GET /api/catalogue/readme?repo=R&path=P``: an extension's README and its directory on disk,
  for ``kubectl tilt show``.
- ``GET /api/logs?name=N&tail=T&since=TIME&follow=1``: the logs of the named resources (all when
  none is named) as one JSON line each, oldest first, then live with ``follow``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tilt_operator import clicks, timestamps
from tilt_operator.api import API_VERSION, CMD, EXTENSION, EXTENSION_REPO, TILTFILE, UI_BUTTON, Kind
from tilt_operator.gitstore import catalogue
from tilt_operator.kube import ApiError
from tilt_operator.logstore import Key, Line, LogStore
from tilt_operator.paths import OutsideRoot, confine
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.web import resources, security
from tilt_operator.web.live import Live

logger = logging.getLogger(__name__)

_SHORT = {CMD.plural: "cmd", TILTFILE.plural: "tf"}
STATIC = Path(str(package_files.files("tilt_operator.web") / "static"))
# A comment line on an idle event stream, so a page (and a proxy) sees the connection is alive.
_KEEPALIVE = 15.0
# Who created an Extension installed from the dashboard, in its managedFields.
FIELD_MANAGER = "tilt-operator-dashboard"


def _record(key: Key, resource: str, line: Line) -> bytes:
    entry = {**asdict(line), "resource": resource, "object": f"{_SHORT.get(key.kind, key.kind)}/{key.name}"}
    return (json.dumps(entry, ensure_ascii=False) + "\n").encode()


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _readme(directory: Path, root: Path) -> str | None:
    """The README of an extension's directory, read under the catalogue's rules: nothing outside its repo."""
    try:
        found = catalogue.find_readme(confine(directory, root), root)
    except (OutsideRoot, OSError):
        return None
    return catalogue.read_readme(found) if found else None


class WebServer:
    def __init__(self, *, host: str, port: int, cache: Cache, logs: LogStore, client: Client) -> None:
        security.check_loopback(host)
        self._host, self._port, self._cache, self._logs, self._client = host, port, cache, logs, client
        self.live = Live(cache)
        self._tokens = security.Tokens()
        self._app = web.Application(middlewares=[security.guard])
        self._app.on_response_prepare.append(security.secure_headers)
        self._app.router.add_get("/", self._serve_page)
        self._app.router.add_static("/static", STATIC)
        self._app.router.add_get("/api/events", self._serve_events)
        self._app.router.add_post("/api/buttons/{name}/click", self._click)
        self._app.router.add_post("/api/extensions", self._install)
        self._app.router.add_delete("/api/extensions/{name}", self._uninstall)
        self._app.router.add_get("/api/catalogue/readme", self._serve_readme)
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

    async def _serve_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _serve_events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        try:
            with self.live.subscribe() as (snapshot, page):
                # retry: a page that loses the server tries again every second.
                await response.write(b"retry: 1000\n" + _event("snapshot", {"token": self._tokens.issue(), **snapshot}))
                while not self._closing.is_set():
                    try:
                        change = await asyncio.wait_for(page.next(), _KEEPALIVE)
                    except TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    await response.write(_event("change", change))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self._tokens.valid(request.headers.get(security.TOKEN_HEADER)):
            return None
        return _error(403, "refused: the request carries no valid session token (reload the page)")

    async def _click(self, request: web.Request) -> web.StreamResponse:
        if refused := self._unauthorized(request):
            return refused
        name = request.match_info["name"]
        try:
            body = await request.json()
            given = body.get("inputs") or {}
            if not isinstance(given, dict) or not all(isinstance(value, str | bool) for value in given.values()):
                raise ValueError("inputs must map names to strings or booleans")
        except (ValueError, AttributeError) as error:
            return _error(400, f"bad request: {error}")
        button = self._cache.get(UI_BUTTON, name)
        if button is None:
            return _error(404, f'{UI_BUTTON.resource} "{name}" not found')
        try:
            status = clicks.status(button, given, timestamps.now())
        except clicks.Disabled:
            return _error(409, f'{UI_BUTTON.resource} "{name}" is disabled')
        except clicks.InvalidInput as error:
            return _error(400, str(error))
        try:
            await self._client.patch_status(UI_BUTTON, name, status)
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            return _error(502, f"the API server refused the click: {error}")
        logger.info("button %s clicked in the dashboard", name)
        return web.json_response({"lastClickedAt": status["lastClickedAt"]})

    def _offered(self, repo_name: str, path: str) -> tuple[dict[str, Any], Path, Path] | web.Response:
        """The catalogue entry of ``path`` in ``repo_name``, its directory and the repo's, or the error to answer."""
        repo = self._cache.get(EXTENSION_REPO, repo_name)
        if repo is None:
            return _error(404, f'{EXTENSION_REPO.resource} "{repo_name}" not found')
        status = repo.get("status") or {}
        entry = next((e for e in status.get("extensions") or [] if e.get("path") == path), None)
        if entry is None or not status.get("path"):
            return _error(404, f"repo {repo_name} offers no extension at {path!r}: `kubectl tilt search` lists them")
        subpath = (repo.get("spec") or {}).get("gitSubpath") or ""
        root = Path(status["path"])
        return dict(entry), root / subpath / path, root

    async def _install(self, request: web.Request) -> web.StreamResponse:
        if refused := self._unauthorized(request):
            return refused
        try:
            body = await request.json()
            repo_name, path = str(body["repo"]), str(body["path"])
        except (ValueError, KeyError, TypeError) as error:
            return _error(400, f"bad request: give repo and path ({error})")
        offered = self._offered(repo_name, path)
        if isinstance(offered, web.Response):
            return offered
        name = offered[0]["name"]
        existing = self._cache.get(EXTENSION, name)
        if existing is not None:
            spec = existing.get("spec") or {}
            where = f"{spec.get('repoName')}/{spec.get('repoPath')}"
            return _error(409, f'an Extension "{name}" exists already (from {where}): uninstall it first')
        extension = {
            "apiVersion": API_VERSION,
            "kind": EXTENSION.kind,
            "metadata": {"name": name},
            "spec": {"repoName": repo_name, "repoPath": path},
        }
        try:
            await self._client.create(EXTENSION, extension, FIELD_MANAGER)
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            return _error(502, f"the API server refused the Extension: {error}")
        logger.info("extension %s/%s installed from the dashboard as %s", repo_name, path, name)
        return web.json_response({"name": name}, status=201)

    async def _uninstall(self, request: web.Request) -> web.StreamResponse:
        if refused := self._unauthorized(request):
            return refused
        name = request.match_info["name"]
        if self._cache.get(EXTENSION, name) is None:
            return _error(404, f'{EXTENSION.resource} "{name}" not found')
        try:
            await self._client.delete(EXTENSION, name)
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            return _error(502, f"the API server refused the deletion: {error}")
        logger.info("extension %s uninstalled from the dashboard", name)
        return web.json_response({"name": name})

    async def _serve_readme(self, request: web.Request) -> web.StreamResponse:
        offered = self._offered(request.query.get("repo", ""), request.query.get("path", ""))
        if isinstance(offered, web.Response):
            return offered
        _, directory, root = offered
        readme = await asyncio.to_thread(_readme, directory, root)
        return web.json_response({"directory": str(directory), "readme": readme})

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
        kind = next(kind for kind in resources.LOGGED if kind.plural == key.kind)
        obj = self._cache.get(kind, key.name)
        if obj is not None and selection.wants(kind, obj):
            live.put_nowait(_record(key, resources.resource_of(kind, obj), line))
