"""Operator start-up: how kopf stores its own bookkeeping and talks to the API server."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import aiohttp
import kopf

from tilt_operator.api import KOPF_PREFIX
from tilt_operator.config import Settings
from tilt_operator.gitstore import GitStore
from tilt_operator.tiltfiles import RunRecords

# kopf's own HTTP session has no connection limit: a burst of a thousand new objects opened
# ~260 TLS connections at once, each with a 256 KiB read buffer (docs/benchmarks-profiling.md).
# The limit stays well above the watch streams, which each hold one connection.
API_CONNECTIONS = 32


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """Keep kopf's state in annotations: the CRDs declare every status field, so status.kopf would be pruned.

    Under a prefix of its own: kopf ignores every annotation under its storage prefix, and the
    tilt.dev/ annotations users set (reconcile-requested-at) must reach the handlers.
    """
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    config: Settings = memo.settings
    config.data_dir.mkdir(parents=True, exist_ok=True)
    memo.git_store = GitStore(config)
    memo.run_records = RunRecords(config.data_dir / "tiltfiles")
    # Tiltfile workers running at once: each is a process, and a burst of 500 must not start 500.
    memo.tiltfile_slots = asyncio.Semaphore(max(2, 2 * (os.cpu_count() or 1)))
    logger.info("data dir %s, process execution %s", config.data_dir, "on" if config.exec_enabled else "off")


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
