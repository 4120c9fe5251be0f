"""Run the kopf operator in this process: every tilt.dev reconciler, all namespaces, one replica.

Called by the CLI (``tilt-operator run`` and ``tilt-operator dev``); it is the one place kopf is
started, so the local and in-cluster operators behave the same.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf

from tilt_operator.config import Settings


def run_operator(
    settings: Settings,
    *,
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    """Block running the reconcilers until stopped (SIGINT/SIGTERM or ``stop_flag``)."""
    # Importing the handlers registers them with kopf's default registry.
    import tilt_operator.handlers  # noqa: F401

    # Prefix object log lines with the object's name, so a user can grep the log for their object.
    kopf.configure(log_prefix=True)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    kopf.run(
        standalone=True,
        clusterwide=True,
        liveness_endpoint=liveness_endpoint,
        memo=kopf.Memo(settings=settings),
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
