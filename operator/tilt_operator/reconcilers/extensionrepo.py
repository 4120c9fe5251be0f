"""The ExtensionRepo reconciler: validate the spec, sync the checkout, list what it offers, say whether it is Ready.

The fetching itself lives in :mod:`tilt_operator.gitstore`, and so does the scan for the
extensions a checkout offers (``status.extensions``, :mod:`~tilt_operator.gitstore.catalogue`),
made once per commit. Three kinds of failure, as Flux's
source-controller has them: a spec that cannot work (no retry until it is edited), a fetch that
failed with an older checkout to serve (stale, still Ready), and a fetch that failed with nothing
to serve (retried with backoff by the queue).

A reconcile goes to the network only when a fetch is due: a new spec, a new
``tilt.dev/reconcile-requested-at`` (acknowledged in ``status.lastHandledRequest``, as Flux
does), nothing served yet, or the repo's ``interval`` since the last check. Otherwise it asks the
queue to come back when the interval is up; that is the re-check schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tilt_operator import reasons, timestamps
from tilt_operator.api import ANNOTATION_REQUESTED_AT, EXTENSION_REPO
from tilt_operator.config import Settings
from tilt_operator.gitstore import catalogue
from tilt_operator.gitstore.store import Checkout, GitError
from tilt_operator.gitstore.urls import InvalidRef, InvalidRepoURL, parse_repo_url, validate_ref
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status

logger = logging.getLogger(__name__)


class Store(Protocol):
    """What the reconciler needs of :class:`~tilt_operator.gitstore.store.GitStore`."""

    def sync(self, url: str, ref: str) -> Checkout: ...

    def current(self, url: str, ref: str) -> Checkout | None: ...

    def seconds_since_check(self, url: str, ref: str) -> float | None: ...


@dataclass(frozen=True)
class RepoOutcome:
    """The status fields a reconcile settles on, and whether the failure is worth retrying."""

    fields: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    reason: str = ""
    message: str = ""
    # True for failures worth retrying on their own (the network); False when only an edit helps.
    retry: bool = False


def parse_interval(text: str | None, default: float) -> float:
    """Seconds in the repo's ``interval`` (a Go duration, validated by the CRD), or ``default``."""
    return timestamps.parse_duration(text) if text else default


def _invalid(reason: str, message: str) -> RepoOutcome:
    return RepoOutcome({"error": message}, ready=False, reason=reason, message=message)


def _served(checkout: Checkout, spec: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    listed = (
        {key: known.get(key) for key in ("extensions", "extensionCount", "extensionsNote")}
        if known.get("checkoutRef") == checkout.commit and known.get("extensionCount") is not None
        else catalogue.scan(checkout.path, spec.get("gitSubpath") or "").status()
    )
    return {
        "path": str(checkout.path),
        "checkoutRef": checkout.commit,
        "lastFetchedAt": timestamps.from_epoch(checkout.path.stat().st_mtime),
        **listed,
    }


def reconcile_repo(spec: Mapping[str, Any], store: Store, known: Mapping[str, Any] | None = None) -> RepoOutcome:
    """Bring the checkout of ``spec`` up to date and describe the result.

    ``known`` is the status of the same spec so far: its catalogue is kept while the commit is
    the same, rather than scanned again.
    """
    known = known or {}
    url, ref = spec.get("url", ""), spec.get("ref") or ""
    try:
        parsed = parse_repo_url(url)
    except InvalidRepoURL as error:
        return _invalid(reasons.URL_INVALID, f"invalid url: {error}")
    if parsed.scheme == "file":
        return _directory(spec, parsed.path)
    try:
        validate_ref(ref)
    except InvalidRef as error:
        return _invalid(reasons.REF_INVALID, f"invalid ref: {error}")
    try:
        checkout = store.sync(url, ref)
    except GitError as error:
        return _fetch_failed(store, spec, known, f"fetch: {error}")
    message = f"checked out {checkout.commit[:12]}" + (f" of {ref}" if ref else "")
    return RepoOutcome(_served(checkout, spec, known), ready=True, reason=reasons.CHECKOUT_READY, message=message)


def _directory(spec: Mapping[str, Any], path: Path | None) -> RepoOutcome:
    """file:// repos are used in place: no copy, no ref."""
    assert path is not None  # parse_repo_url guarantees a path for file:// urls
    for key in ("ref", "gitSubpath"):
        if spec.get(key):
            return _invalid(reasons.SPEC_INVALID, f"invalid spec: {key} is not supported for file:// repos; remove it")
    # A directory in place can change at any time: its catalogue is scanned on every reconcile.
    fields = {
        "path": str(path),
        "lastFetchedAt": timestamps.from_epoch(path.stat().st_mtime),
        **catalogue.scan(path).status(),
    }
    return RepoOutcome(fields, ready=True, reason=reasons.DIRECTORY_READY, message=f"using {path} in place")


def _fetch_failed(store: Store, spec: Mapping[str, Any], known: Mapping[str, Any], message: str) -> RepoOutcome:
    """Keep serving an older checkout if there is one (stale); otherwise an error to retry."""
    older = store.current(spec.get("url", ""), spec.get("ref") or "")
    if older is None:
        return RepoOutcome({"error": message}, ready=False, reason=reasons.FETCH_FAILED, message=message, retry=True)
    fields = {**_served(older, spec, known), "staleReason": message}
    return RepoOutcome(
        fields, ready=True, reason=reasons.CHECKOUT_STALE, message=f"serving {older.commit[:12]}: {message}"
    )


def repo_status(
    outcome: RepoOutcome, obj: Mapping[str, Any], current: Mapping[str, Any], requested_at: str | None
) -> dict[str, Any]:
    """The whole status of a repo after ``outcome``: every field the outcome does not set is cleared."""
    fields = {
        "path": None,
        "checkoutRef": None,
        "lastFetchedAt": None,
        "error": None,
        "staleReason": None,
        "lastHandledRequest": requested_at,
        "extensions": None,
        "extensionCount": None,
        "extensionsNote": None,
        **outcome.fields,
    }
    return desired_status(
        fields, obj=obj, current=current, ready=outcome.ready, reason=outcome.reason, message=outcome.message
    )


def seconds_until_fetch(
    obj: Mapping[str, Any], current: Mapping[str, Any], *, since_check: float | None, interval: float
) -> float:
    """How long until an https repo should be fetched; 0 when it is due now."""
    metadata = obj["metadata"]
    requested = (metadata.get("annotations") or {}).get(ANNOTATION_REQUESTED_AT)
    due_now = (
        current.get("observedGeneration") != metadata.get("generation")
        or requested != current.get("lastHandledRequest")
        or not current.get("checkoutRef")
        or since_check is None
    )
    return 0.0 if due_now else max(interval - (since_check or 0.0), 0.0)


class ExtensionRepoReconciler:
    def __init__(self, *, cache: Cache, writer: StatusWriter, store: Store, settings: Settings) -> None:
        self._cache, self._writer, self._store, self._settings = cache, writer, store, settings

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(EXTENSION_REPO, name)
        if obj is None:
            return Result()
        spec, current = obj["spec"], self._writer.current(obj)
        url, ref = spec.get("url", ""), spec.get("ref") or ""
        https = str(url).startswith("https://")
        interval = parse_interval(spec.get("interval"), self._settings.default_interval)
        if https:
            since = self._store.seconds_since_check(url, ref) if current.get("checkoutRef") else None
            wait = seconds_until_fetch(obj, current, since_check=since, interval=interval)
            if wait > 0:
                return Result(requeue_after=wait)
        same_spec = current.get("observedGeneration") == obj["metadata"].get("generation")
        outcome = await asyncio.to_thread(reconcile_repo, spec, self._store, current if same_spec else None)
        requested = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_REQUESTED_AT)
        changed = await self._writer.write(EXTENSION_REPO, obj, repo_status(outcome, obj, current, requested))
        if changed and not outcome.ready:
            for_object(logger, name).warning("%s", outcome.message)
        if outcome.retry:
            return Result(retry=True)
        return Result(requeue_after=interval if https and outcome.ready else None)
