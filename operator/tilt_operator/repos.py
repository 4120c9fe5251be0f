"""What an ExtensionRepo's status should be: validate the spec, sync the checkout, decide Ready.

Called by the ExtensionRepo handler; the fetching itself lives in :mod:`tilt_operator.gitstore`.
Three kinds of failure, as Flux's source-controller has them: a spec that cannot work (no retry
until it is edited), a fetch that failed with an older checkout to serve (stale, still Ready),
and a fetch that failed with nothing to serve (retried with backoff).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilt_operator.gitstore import Checkout, GitError, GitStore
from tilt_operator.repourl import InvalidRef, InvalidRepoURL, parse_repo_url, validate_ref

# Ready condition reasons.
URL_INVALID = "URLInvalid"
REF_INVALID = "RefInvalid"
SPEC_INVALID = "SpecInvalid"
FETCH_FAILED = "FetchFailed"
FETCH_FAILED_SERVING_STALE = "FetchFailedServingStale"
CHECKOUT_READY = "CheckoutReady"
DIRECTORY_READY = "DirectoryReady"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RepoOutcome:
    """The status fields a reconcile settles on, and what the handler should do next."""

    fields: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    reason: str = ""
    message: str = ""
    # True for failures worth retrying on their own (the network); False when only an edit helps.
    retry: bool = False


def parse_interval(text: str | None, default: float) -> float:
    """Seconds in a Go-style duration (``5m``, ``1h30m``, ``250ms``); the CRD has validated the form."""
    if not text:
        return default
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


def _mtime(path: Path) -> str:
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _invalid(reason: str, message: str) -> RepoOutcome:
    return RepoOutcome({"error": message}, ready=False, reason=reason, message=message)


def _served(checkout: Checkout) -> dict[str, Any]:
    return {"path": str(checkout.path), "checkoutRef": checkout.commit, "lastFetchedAt": _mtime(checkout.path)}


def reconcile_repo(spec: Mapping[str, Any], store: GitStore) -> RepoOutcome:
    """Bring the checkout of ``spec`` up to date and describe the result."""
    url, ref = spec.get("url", ""), spec.get("ref") or ""
    try:
        parsed = parse_repo_url(url)
    except InvalidRepoURL as error:
        return _invalid(URL_INVALID, f"invalid url: {error}")
    if parsed.scheme == "file":
        return _directory(spec, parsed.path)
    try:
        validate_ref(ref)
    except InvalidRef as error:
        return _invalid(REF_INVALID, f"invalid ref: {error}")
    try:
        checkout = store.sync(url, ref)
    except GitError as error:
        return _fetch_failed(store, url, ref, f"fetch: {error}")
    message = f"checked out {checkout.commit[:12]}" + (f" of {ref}" if ref else "")
    return RepoOutcome(_served(checkout), ready=True, reason=CHECKOUT_READY, message=message)


def _directory(spec: Mapping[str, Any], path: Path | None) -> RepoOutcome:
    """file:// repos are used in place: no copy, no ref."""
    assert path is not None  # parse_repo_url guarantees a path for file:// urls
    for key in ("ref", "gitSubpath"):
        if spec.get(key):
            return _invalid(SPEC_INVALID, f"invalid spec: {key} is not supported for file:// repos; remove it")
    fields = {"path": str(path), "lastFetchedAt": _mtime(path)}
    return RepoOutcome(fields, ready=True, reason=DIRECTORY_READY, message=f"using {path} in place")


def _fetch_failed(store: GitStore, url: str, ref: str, message: str) -> RepoOutcome:
    """Keep serving an older checkout if there is one (stale); otherwise an error to retry."""
    older = store.current(url, ref)
    if older is None:
        return RepoOutcome({"error": message}, ready=False, reason=FETCH_FAILED, message=message, retry=True)
    fields = {**_served(older), "staleReason": message}
    return RepoOutcome(
        fields, ready=True, reason=FETCH_FAILED_SERVING_STALE, message=f"serving {older.commit[:12]}: {message}"
    )
