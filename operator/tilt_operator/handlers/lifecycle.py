"""Operator start-up: how kopf stores its own bookkeeping and talks to the API server."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from tilt_operator.api import GROUP
from tilt_operator.config import Settings


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """Keep kopf's state in annotations: the CRDs declare every status field, so status.kopf would be pruned."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    config: Settings = memo.settings
    config.data_dir.mkdir(parents=True, exist_ok=True)
    logger.info("data dir %s, process execution %s", config.data_dir, "on" if config.exec_enabled else "off")
