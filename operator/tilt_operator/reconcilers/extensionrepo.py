"""The ExtensionRepo reconciler: validate the spec, sync the checkout, list what it offers, say whether it is Ready.

A private repo's ``spec.secretRef`` names a Secret in the operator's namespace; the watch on
Secrets there keeps it in the cache, and a Secret that appears or changes makes the repos naming
it fetch at once (:meth:`ExtensionRepoReconciler.secret_changed`).

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tilt_operator import reasons, timestamps
from tilt_operator.api import ANNOTATION_REQUESTED_AT, EXTENSION_REPO
from tilt_operator.config import Settings
from tilt_operator.gitstore import catalogue
from tilt_operator.gitstore.credentials import Credentials, SecretInvalid, URLMismatch, bound_url, from_secret
from tilt_operator.gitstore.git import AuthenticationFailed, GitError, HostKeyMismatch
from tilt_operator.gitstore.store import Checkout
from tilt_operator.gitstore.urls import InvalidRef, InvalidRepoURL, parse_repo_url, validate_ref
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status, ready_of

logger = logging.getLogger(__name__)


class Store(Protocol):
    """What the reconciler needs of :class:`~tilt_operator.gitstore.store.GitStore`."""

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout: ...

    def current(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout | None: ...

    def seconds_since_check(self, url: str, ref: str, credentials: Credentials | None = None) -> float | None: ...

    def checkout_dir(self, url: str, ref: str, credentials: Credentials | None = None) -> Path: ...


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


class CredentialsUnusable(Exception):
    """The repo's secretRef cannot give credentials: what its status says instead."""

    def __init__(self, outcome: RepoOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def repo_credentials(
    spec: Mapping[str, Any], secret_data: Callable[[str], Mapping[str, str] | None], namespace: str
) -> Credentials | None:
    """The credentials ``spec.secretRef`` names, read from the Secret's data in the cache; None without one."""
    url = str(spec.get("url", ""))
    name = (spec.get("secretRef") or {}).get("name") or ""
    if not name:
        if url.startswith("ssh://"):
            raise CredentialsUnusable(
                _invalid(
                    reasons.SPEC_INVALID, "invalid spec: ssh:// urls need spec.secretRef (identity and known_hosts)"
                )
            )
        return None
    if url.startswith("file://"):
        message = "invalid spec: secretRef is not supported for file:// repos; remove it"
        raise CredentialsUnusable(_invalid(reasons.SPEC_INVALID, message))
    data = secret_data(name)
    if data is None:
        message = (
            f"Secret {namespace}/{name} not found: create it in namespace {namespace} "
            f"(kubectl tilt create secret git {name} ...)"
        )
        raise CredentialsUnusable(_invalid(reasons.SECRET_NOT_FOUND, message))
    try:
        # Which URLs the credentials are for comes first: a repo outside them learns nothing more.
        bound_url(namespace, name, data, url)
        return from_secret(namespace, name, data, ssh=url.startswith("ssh://"))
    except URLMismatch as error:
        raise CredentialsUnusable(_invalid(reasons.SECRET_URL_MISMATCH, str(error))) from None
    except SecretInvalid as error:
        raise CredentialsUnusable(_invalid(reasons.SECRET_INVALID, str(error))) from None


def _served(checkout: Checkout, spec: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    listed = (
        {key: known.get(key) for key in ("extensions", "extensionCount", "extensionsNote")}
        if known.get("checkoutRef") == checkout.commit and known.get("extensionCount") is not None
        else catalogue.scan(checkout.path, spec.get("gitSubpath") or "").status()
    )
    return {
        "path": str(checkout.path),
        "url": spec.get("url", ""),
        "checkoutRef": checkout.commit,
        "lastFetchedAt": timestamps.from_epoch(checkout.path.stat().st_mtime),
        **listed,
    }


def reconcile_repo(
    spec: Mapping[str, Any],
    store: Store,
    known: Mapping[str, Any] | None = None,
    credentials: Credentials | None = None,
    file_roots: Sequence[Path] = (),
) -> RepoOutcome:
    """Bring the checkout of ``spec`` up to date and describe the result.

    ``known`` is the status of the same spec so far: its catalogue is kept while the commit is
    the same, rather than scanned again. ``credentials`` are those of its ``secretRef``.
    ``file_roots`` are the directories a file:// repo may be under.
    """
    known = known or {}
    url, ref = spec.get("url", ""), spec.get("ref") or ""
    try:
        parsed = parse_repo_url(url)
    except InvalidRepoURL as error:
        return _invalid(reasons.URL_INVALID, f"invalid url: {error}")
    if parsed.scheme == "file":
        return _directory(spec, parsed.path, file_roots)
    try:
        validate_ref(ref)
    except InvalidRef as error:
        return _invalid(reasons.REF_INVALID, f"invalid ref: {error}")
    try:
        checkout = store.sync(url, ref, credentials)
    except AuthenticationFailed as error:
        return _invalid(reasons.AUTHENTICATION_FAILED, f"fetch: {error}")
    except HostKeyMismatch as error:
        return _invalid(reasons.HOST_KEY_MISMATCH, f"fetch: {error}")
    except GitError as error:
        return _fetch_failed(store, spec, known, f"fetch: {error}", credentials)
    message = f"checked out {checkout.commit[:12]}" + (f" of {ref}" if ref else "")
    return RepoOutcome(_served(checkout, spec, known), ready=True, reason=reasons.CHECKOUT_READY, message=message)


def _directory(spec: Mapping[str, Any], path: Path | None, file_roots: Sequence[Path]) -> RepoOutcome:
    """file:// repos are used in place (no copy, no ref), and only under the operator's ``file_roots``."""
    assert path is not None  # parse_repo_url guarantees a path for file:// urls
    if not any(path.resolve().is_relative_to(root.resolve()) for root in file_roots):
        allowed = ", ".join(map(str, file_roots)) or "none"
        message = (
            f"invalid url: file:// repos are allowed only under the operator's file roots ({allowed}), "
            f"and {path} is not (TILT_OPERATOR_FILE_ROOTS, or --file-root)"
        )
        return _invalid(reasons.URL_NOT_ALLOWED, message)
    for key in ("ref", "gitSubpath"):
        if spec.get(key):
            return _invalid(reasons.SPEC_INVALID, f"invalid spec: {key} is not supported for file:// repos; remove it")
    # A directory in place can change at any time: its catalogue is scanned on every reconcile.
    fields = {
        "path": str(path),
        "url": spec.get("url", ""),
        "lastFetchedAt": timestamps.from_epoch(path.stat().st_mtime),
        **catalogue.scan(path).status(),
    }
    return RepoOutcome(fields, ready=True, reason=reasons.DIRECTORY_READY, message=f"using {path} in place")


def _fetch_failed(
    store: Store, spec: Mapping[str, Any], known: Mapping[str, Any], message: str, credentials: Credentials | None
) -> RepoOutcome:
    """Keep serving an older checkout if there is one (stale); otherwise an error to retry."""
    older = store.current(spec.get("url", ""), spec.get("ref") or "", credentials)
    if older is None:
        return RepoOutcome({"error": message}, ready=False, reason=reasons.FETCH_FAILED, message=message, retry=True)
    fields = {**_served(older, spec, known), "staleReason": message}
    return RepoOutcome(
        fields, ready=True, reason=reasons.CHECKOUT_STALE, message=f"serving {older.commit[:12]}: {message}"
    )


# The fields that describe the checkout a repo serves: Flux's artifact.
ARTIFACT = ("path", "url", "checkoutRef", "lastFetchedAt", "extensions", "extensionCount", "extensionsNote")
# Failures that make the checkout a repo served unusable: a URL that cannot be, or may no longer be,
# used, a spec that cannot work. Any other failure (a fetch, a Secret, a ref, a reconcile that
# raised) leaves the last good checkout served, as Flux keeps a source's artifact.
_INVALIDATING = frozenset({reasons.URL_INVALID, reasons.URL_NOT_ALLOWED, reasons.SPEC_INVALID})


def repo_status(
    outcome: RepoOutcome, obj: Mapping[str, Any], current: Mapping[str, Any], requested_at: str | None
) -> dict[str, Any]:
    """The whole status of a repo after ``outcome``: every field the outcome does not set is cleared,
    but the checkout served so far (:data:`ARTIFACT`), which a failure of the same URL keeps."""
    kept = (
        {key: current.get(key) for key in ARTIFACT}
        if "path" not in outcome.fields
        and outcome.reason not in _INVALIDATING
        and current.get("path")
        and current.get("url") == obj["spec"].get("url")
        else {}
    )
    fields = {
        **dict.fromkeys(ARTIFACT),
        "error": None,
        "staleReason": None,
        "lastHandledRequest": requested_at,
        **kept,
        **outcome.fields,
    }
    return desired_status(
        fields, obj=obj, current=current, ready=outcome.ready, reason=outcome.reason, message=outcome.message
    )


def seconds_until_fetch(
    obj: Mapping[str, Any], current: Mapping[str, Any], *, since_check: float | None, interval: float, checkout: str
) -> float:
    """How long until an https repo should be fetched; 0 when it is due now.

    ``checkout`` is where the store keeps it: a status naming another place (an older version's
    layout, which the next sync moves from) is due now too.
    """
    metadata = obj["metadata"]
    requested = (metadata.get("annotations") or {}).get(ANNOTATION_REQUESTED_AT)
    ready = ready_of(current)
    due_now = (
        current.get("observedGeneration") != metadata.get("generation")
        # A reconcile that raised is retried with the queue's backoff, not after the interval.
        or (ready is not None and ready.get("reason") == reasons.RECONCILE_FAILED)
        or requested != current.get("lastHandledRequest")
        or not current.get("checkoutRef")
        or current.get("path") != checkout
        or since_check is None
    )
    return 0.0 if due_now else max(interval - (since_check or 0.0), 0.0)


# Failures that only a new spec or Secret can cure, but that are checked again every interval.
_RECHECKED = (reasons.AUTHENTICATION_FAILED, reasons.HOST_KEY_MISMATCH)


class ExtensionRepoReconciler:
    def __init__(self, *, cache: Cache, writer: StatusWriter, store: Store, settings: Settings) -> None:
        self._cache, self._writer, self._store, self._settings = cache, writer, store, settings
        # Repos whose Secret appeared or changed since their last fetch: due now, whatever the interval.
        self._new_secret: set[str] = set()

    def secret_changed(self, repo: str) -> None:
        """The Secret ``repo`` names appeared, changed or went: its next reconcile fetches."""
        self._new_secret.add(repo)

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(EXTENSION_REPO, name)
        if obj is None:
            return Result()
        spec, current = obj["spec"], self._writer.current(obj)
        url, ref = spec.get("url", ""), spec.get("ref") or ""
        remote = not str(url).startswith("file://")
        interval = parse_interval(spec.get("interval"), self._settings.default_interval)
        new_secret = name in self._new_secret
        self._new_secret.discard(name)
        try:
            credentials = repo_credentials(spec, self._cache.secret_data, self._settings.namespace)
        except CredentialsUnusable as unusable:
            return await self._report(obj, current, unusable.outcome, interval, remote=False)
        if remote and not new_secret:
            checked = current.get("checkoutRef")
            since = self._store.seconds_since_check(url, ref, credentials) if checked else None
            checkout = str(self._store.checkout_dir(url, ref, credentials))
            wait = seconds_until_fetch(obj, current, since_check=since, interval=interval, checkout=checkout)
            if wait > 0:
                return Result(requeue_after=wait)
        same_spec = current.get("observedGeneration") == obj["metadata"].get("generation")
        known = current if same_spec else None
        outcome = await asyncio.to_thread(
            reconcile_repo, spec, self._store, known, credentials, self._settings.file_roots
        )
        return await self._report(obj, current, outcome, interval, remote=remote)

    async def _report(
        self, obj: Mapping[str, Any], current: Mapping[str, Any], outcome: RepoOutcome, interval: float, *, remote: bool
    ) -> Result:
        requested = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_REQUESTED_AT)
        changed = await self._writer.write(EXTENSION_REPO, obj, repo_status(outcome, obj, current, requested))
        if changed and not outcome.ready:
            for_object(logger, obj["metadata"]["name"]).warning("%s", outcome.message)
        if outcome.retry:
            return Result(retry=True)
        recheck = remote and (outcome.ready or outcome.reason in _RECHECKED)
        return Result(requeue_after=interval if recheck else None)
