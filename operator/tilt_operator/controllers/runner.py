"""Run the kopf operator in this process: every tilt.dev reconciler (only while it leads, with leader election).

The tilt.dev kinds are cluster-scoped, so kopf serves them cluster-wide whatever namespaces it is
given; it is given only the operator's own, so the one namespaced kind it watches, Secrets, is
watched there alone and a Role (not a ClusterRole) is all it needs. Namespace scanning is off
(``lifecycle.py``): kopf would otherwise list every namespace of the cluster.

Called by ``tilt-operator run`` (which ``tilt-operator dev`` runs as a child); it is the one place
kopf is started, so the local and in-cluster operators behave the same.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
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
    # Importing the controllers registers them with kopf's default registry.
    import tilt_operator.controllers  # noqa: F401

    # Each running Cmd holds two pipes and a pidfd: take every file descriptor the system allows.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if sys.version_info < (3, 12):  # later Pythons watch children through pidfds by default
        # A process exit wakes the event loop through a pidfd: no thread per child blocked in waitpid.
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    # Prefix object log lines with the object's name, so a user can grep the log for their object.
    kopf.configure(log_prefix=True)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # kopf says "Handler 'observe-cmds' succeeded." for every watch event: the reconcilers log what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # The client retries a failed connection quietly; an outage is reported once (reconcilers.outage).
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    kopf.run(
        standalone=True,
        namespaces=[settings.namespace],
        liveness_endpoint=liveness_endpoint,
        memo=kopf.Memo(settings=settings),
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
