"""Operator start-up: how kopf stores its own bookkeeping and talks to the API server."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from tilt_operator.api import KOPF_PREFIX
from tilt_operator.config import Settings
from tilt_operator.gitstore import GitStore
from tilt_operator.tiltfiles import RunRecords


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
