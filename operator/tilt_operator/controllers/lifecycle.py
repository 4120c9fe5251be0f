"""Operator start-up and clean-up: how kopf stores its bookkeeping, talks to the API server, and
creates and stops the reconcilers' Controller."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
from collections.abc import Iterable, Iterator
from typing import Any

import aiohttp
import kopf

from tilt_operator import kube, localserver
from tilt_operator.api import KOPF_PREFIX
from tilt_operator.config import Settings
from tilt_operator.controllers.indexes import NAMES
from tilt_operator.reconcilers.controller import Controller
from tilt_operator.reconcilers.leadership import Elector, LeaseSettings
from tilt_operator.web.server import WebServer

# kopf's own HTTP session has no connection limit: a burst of a thousand new objects opened
# ~260 TLS connections at once, each with a 256 KiB read buffer (docs/benchmarks-profiling.md).
# The limit stays well above the watch streams, which each hold one connection.
API_CONNECTIONS = 32


@kopf.on.startup()
async def start(*, settings: kopf.OperatorSettings, memo: Any, logger: kopf.Logger, **kwargs: Any) -> None:
    """Configure kopf, then create the Controller over kopf's indexes (still empty: kopf fills them next).

    kopf's state would stay in annotations under a prefix of its own: the CRDs declare every
    status field, so status.kopf would be pruned, and kopf ignores every annotation under its
    storage prefix, which must not swallow the tilt.dev/ annotations users set. Only event
    handlers are registered, so kopf writes nothing of its own; the finalizer name lets it remove
    the finalizer that earlier versions of this operator put on Cmds and Tiltfiles.
    """
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    settings.networking.error_backoffs = _Backoff()
    # Only the operator's own namespace is watched (Secrets): no need to list the cluster's namespaces.
    settings.scanning.disabled = True
    config: Settings = memo.settings
    # Private when the operator makes it; an existing directory keeps its mode, and the git store
    # makes its own part (checkouts, credentials while git runs) private whatever the parent's.
    config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    memo.client = client = kube.Client()
    memo.controller = Controller(
        settings=config,
        client=client,
        indexes={name: kwargs[name] for name in NAMES},
        unreachable=kube.is_unreachable,
        ping=client.ping,
        access=kube.cluster_access(),
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_KopfRetries(memo.controller))
    logger.info("data dir %s, process execution %s", config.data_dir, "on" if config.exec_enabled else "off")
    memo.web = memo.elector = memo.leading = None
    if not config.leader_elect:
        await _work(memo, config)
        return
    lease = LeaseSettings(
        namespace=config.namespace,
        identity=config.identity,
        duration=config.lease_duration,
        renew_deadline=config.renew_deadline,
        retry_period=config.retry_period,
    )
    memo.elector = Elector(client, lease)
    client.fence = memo.elector.is_leader  # no write leaves this process unless it leads
    memo.leading = asyncio.create_task(_lead(memo, config))


async def _work(memo: Any, settings: Settings) -> None:
    """Reconcile, run Tiltfiles and Cmds, and serve the logs and the dashboard."""
    memo.controller.start()
    memo.web = await _serve(settings, memo.controller, memo.client)


async def _lead(memo: Any, settings: Settings) -> None:
    """Wait for the Lease, work while it is held, and stop everything when it is lost.

    A standby keeps kopf's caches warm and writes nothing. A leader that could not renew in time
    stops its work and ends this process (a pod restarts as a standby; see ``leadership.py``).
    """
    log = logging.getLogger(__name__)
    elector: Elector = memo.elector
    where = elector.where
    try:
        log.info("standby as %s: waiting for the lease %s", settings.identity, where)
        await elector.acquire()
        previous = elector.previous_holder
        log.info(
            "leading as %s: holding the lease %s%s", settings.identity, where, f", from {previous}" if previous else ""
        )
        if previous:
            memo.controller.took_over(previous)
        await _work(memo, settings)
        await elector.keep()
        log.error("lost the lease %s (not renewed for %g s): stopping all work", where, settings.renew_deadline)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("leader election failed: stopping")
    await memo.controller.stop()
    os.kill(os.getpid(), signal.SIGTERM)  # kopf shuts down in order; a pod starts again as a standby


async def _serve(settings: Settings, controller: Controller, client: kube.Client) -> WebServer | None:
    """Start the web server and say where it is, for the command line on this machine."""
    if settings.serve is None:
        return None
    host, _, port = settings.serve.rpartition(":")
    server = WebServer(
        host=host.strip("[]") or "127.0.0.1",
        port=int(port),
        cache=controller.cache,
        logs=controller.logs,
        client=client,
    )
    try:
        await server.start()
    except OSError as error:
        logging.getLogger(__name__).error("cannot serve at %s (%s): no logs or dashboard", settings.serve, error)
        return None
    if "KUBERNETES_SERVICE_HOST" not in os.environ:  # in a pod, kubectl port-forward finds it instead
        server.advertised = localserver.advertise(kube.api_client().configuration.host, server.url)
    logging.getLogger(__name__).info("dashboard and logs at %s/", server.url)
    return server


@kopf.on.cleanup()
async def stop(*, memo: Any, **_: Any) -> None:
    """Stop reconciling, then the processes and runs this operator started (their status says so);
    a leader then hands its Lease over at once."""
    leading: asyncio.Task[None] | None = memo.leading
    if leading is not None and leading is not asyncio.current_task():
        leading.cancel()
    web: WebServer | None = memo.web
    if web is not None:
        localserver.withdraw(web.advertised)
        await web.stop()
    controller: Controller = memo.controller
    await controller.stop()
    elector: Elector | None = memo.elector
    if elector is not None:
        await elector.release()
    client: kube.Client = memo.client
    await client.close()


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """Log in as kopf does (in-cluster, else the kubeconfig), through a bounded connection pool.

    Async because an aiohttp session belongs to the event loop it is made in.
    """
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=API_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        priority=info.priority,
        aiohttp_session=session,
    )


class _KopfRetries(logging.Filter):
    """kopf logs every retry of every watch while the API server is away; the Outage says it once instead.

    kopf's records carry no structure, so this reads its message: a retry of its API client
    ("Request attempt #3/… failed; will retry: GET … -> ClientConnectorError(…)") that found no
    server serving. Any other failure (a 403, say) is logged as kopf logs it.
    """

    # Cannot connect, or connected to a server that is not serving yet (5xx, 429 while its storage starts).
    _CONNECTION_ERRORS = (
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "TimeoutError",
        "APIServerError",
        "APITooManyRequestsError",
    )

    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self._controller = controller

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf._cogs.clients"):
            return True
        message = record.getMessage()
        error = message.rpartition(" -> ")[2]
        if message.startswith("Request attempt") and error.startswith(self._CONNECTION_ERRORS):
            self._controller.outage.unreachable(error[:300])
            return False
        return True


class _NoDiffBase(kopf.DiffBaseStorage):
    """No last-handled state: kopf keeps one to find what changed for its change handlers, and this
    operator has none (the Controller decides what an event changed). Without this kopf deep-copies
    every object on every event to build a state nobody reads."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        pass


class _Backoff:
    """kopf's retries of a request: 1, 2, 4, 8, 16 s, then every 30 s for as long as it takes.

    kopf gives up after its default ten retries and stops the operator; an outage of the API
    server should not end the operator, only wait for it.
    """

    def __iter__(self) -> Iterator[float]:
        return itertools.chain((1.0, 2.0, 4.0, 8.0, 16.0), itertools.repeat(30.0))
