"""Operator start-up: how kopf stores its own bookkeeping and talks to the API server."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from tilt_operator.api import KOPF_PREFIX
from tilt_operator.config import Settings
from tilt_operator.gitstore import GitStore


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
    logger.info("data dir %s, process execution %s", config.data_dir, "on" if config.exec_enabled else "off")
