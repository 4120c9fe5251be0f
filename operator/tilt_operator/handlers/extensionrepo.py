"""ExtensionRepo handlers: fetch on create, edit, resume and request; re-check on the repo's interval."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from tilt_operator import repos
from tilt_operator.api import EXTENSION_REPO
from tilt_operator.config import Settings
from tilt_operator.gitstore import GitStore
from tilt_operator.status import ready_condition, write_status

# How often each https repo's timer wakes to see whether its interval has passed.
RECHECK_TICK = 1.0
_MAX_BACKOFF = 300.0


def _apply(outcome: repos.RepoOutcome, body: kopf.Body, patch: kopf.Patch) -> None:
    status = body.get("status", {})
    desired = {
        "path": None,
        "checkoutRef": None,
        "lastFetchedAt": None,
        "error": None,
        "staleReason": None,
        **outcome.fields,
        "observedGeneration": body.metadata.get("generation"),
    }
    desired["conditions"] = ready_condition(
        ready=outcome.ready,
        reason=outcome.reason,
        message=outcome.message,
        generation=body.metadata.get("generation"),
        previous=status.get("conditions"),
    )
    write_status(patch, status, desired)


@kopf.on.resume(EXTENSION_REPO.resource)
@kopf.on.create(EXTENSION_REPO.resource)
@kopf.on.update(EXTENSION_REPO.resource)
def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, logger: logging.Logger, **_: Any
) -> None:
    """Also runs when the tilt.dev/reconcile-requested-at annotation changes: kopf sees every metadata edit."""
    outcome = repos.reconcile_repo(body.spec, memo.git_store)
    _apply(outcome, body, patch)
    if outcome.retry:
        delay = min(_MAX_BACKOFF, 2.0 ** min(retry + 1, 9))
        logger.warning("%s; retrying in %.0fs", outcome.message, delay)
        raise kopf.TemporaryError(outcome.message, delay=delay)


def _has_https_checkout(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return str(spec.get("url", "")).startswith("https://") and bool(status.get("checkoutRef"))


@kopf.timer(EXTENSION_REPO.resource, interval=RECHECK_TICK, when=_has_https_checkout)
async def recheck(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Re-check a served https repo once its interval has passed; an unchanged remote costs one ls-remote."""
    settings: Settings = memo.settings
    store: GitStore = memo.git_store
    url, ref = body.spec["url"], body.spec.get("ref") or ""
    interval = repos.parse_interval(body.spec.get("interval"), settings.default_interval)
    since = store.seconds_since_check(url, ref)
    if since is not None and since < interval:
        return
    outcome = await asyncio.to_thread(repos.reconcile_repo, body.spec, store)
    _apply(outcome, body, patch)
