"""Status is the user interface: how every kind's status is assembled, and the one path that writes it.

Each reconciler computes the whole status it wants with a pure function that ends in
:func:`desired_status` (or :func:`in_progress_status` while a run is in flight), the one place
``observedGeneration`` and the conditions are built: Ready, and kstatus's Reconciling or Stalled
when the Ready reason says so (``reasons.RECONCILING``, ``reasons.STALLED``). A reconcile that
raises ends in :func:`failed_status` instead (the Controller writes it), so the status never
hides a failure. :class:`StatusWriter` then patches only what differs from the status as read,
with that resourceVersion as a precondition: a reconcile that changes nothing writes nothing, and a
steady state keeps its resourceVersion. On a conflict it merges its change onto what another
writer wrote (three-way, conditions by type), or, where both changed the same field, runs the
reconcile again against the fresh object: no write is lost to another (docs/design.md, "Status").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from tilt_operator import reasons, timestamps
from tilt_operator.api import CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, Kind
from tilt_operator.kube import ApiError, Fenced
from tilt_operator.messages import clip
from tilt_operator.reconcilers.client import Client, Object
from tilt_operator.reconcilers.queue import Reconcile, Result

logger = logging.getLogger(__name__)

STATES = ("waiting", "running", "terminated")


def only_state(state: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Tilt's process-like status: exactly one of waiting, running and terminated is set.

    Fields whose value is None are left out, so an absent error or pid is absent, not null.
    """
    assert state in STATES
    return {name: ({k: v for k, v in fields.items() if v is not None} if name == state else None) for name in STATES}


Progress = tuple[str, str, str]  # (Reconciling or Stalled, reason, message)
# How much of an error a failed reconcile's condition quotes: the API server's refusals run long.
_FAILURE_LIMIT = 1000


def _condition(
    kind: str, *, true: bool, reason: str, message: str, generation: int | None, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One condition; its transition time moves only when its status flips."""
    status = "True" if true else "False"
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == status else timestamps.now()
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def conditions(
    *,
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    previous: list[Mapping[str, Any]] | None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Ready first, then kstatus's Reconciling or Stalled when ``progress`` names one, then any
    condition someone else wrote. Reconciling and Stalled are present only while true."""
    old = {c.get("type"): c for c in previous or []}
    result = [
        _condition(
            CONDITION_READY,
            true=ready,
            reason=reason,
            message=message,
            generation=generation,
            previous=old.get(CONDITION_READY),
        )
    ]
    if progress is not None:
        kind, why, what = progress
        result.append(
            _condition(kind, true=True, reason=why, message=what, generation=generation, previous=old.get(kind))
        )
    ours = {CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED}
    return [*result, *(dict(c) for c in previous or [] if c.get("type") not in ours)]


def progress_of(reason: str, message: str) -> Progress | None:
    """What a Ready reason says of progress (``reasons.RECONCILING``, ``reasons.STALLED``)."""
    if reason in reasons.RECONCILING:
        return CONDITION_RECONCILING, reason, message
    if reason in reasons.STALLED:
        return CONDITION_STALLED, reason, message
    return None


def ready_of(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Ready condition of a status, if one was written."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION_READY), None)


def current_ready(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Ready condition of ``obj`` if it answers for its spec as it is now (its generation)."""
    condition = ready_of(obj.get("status") or {})
    if condition is None or condition.get("observedGeneration") != obj["metadata"].get("generation"):
        return None
    return condition


def desired_status(
    fields: Mapping[str, Any],
    *,
    obj: Mapping[str, Any],
    current: Mapping[str, Any],
    ready: bool,
    reason: str,
    message: str,
    generation: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """A kind's own status fields with ``observedGeneration`` and the conditions: the one place both are built.

    ``generation`` is the spec the status answers for: ``obj``'s own unless given (a Tiltfile run
    answers for the spec it ran, which may have changed since it started). ``progress`` is
    kstatus's condition when the Ready reason alone does not say it (:func:`retrying`).
    """
    observed = obj["metadata"].get("generation") if generation is None else generation
    return {
        **fields,
        "observedGeneration": observed,
        "conditions": conditions(
            ready=ready,
            reason=reason,
            message=message,
            generation=observed,
            previous=current.get("conditions"),
            progress=progress or progress_of(reason, message),
        ),
    }


def in_progress_status(fields: Mapping[str, Any], *, current: Mapping[str, Any], message: str) -> dict[str, Any]:
    """Work in flight (a Tiltfile run): ``fields``, Ready as the last finished work left it, Reconciling."""
    ready = ready_of(current)
    generation = current.get("observedGeneration")
    return {
        **fields,
        "observedGeneration": generation,
        "conditions": conditions(
            ready=bool(ready and ready.get("status") == "True"),
            reason=str(ready.get("reason", reasons.RUN_IN_PROGRESS)) if ready else reasons.RUN_IN_PROGRESS,
            message=str(ready.get("message", message)) if ready else message,
            generation=generation,
            previous=current.get("conditions"),
            progress=(CONDITION_RECONCILING, reasons.RUN_IN_PROGRESS, message),
        ),
    }


def retrying(error: BaseException | str) -> tuple[str, Progress]:
    """What a failure the queue retries says: its Ready message, and kstatus's Reconciling
    (``ProgressingWithRetry``), never Stalled: a retry may well fix it."""
    text = error if isinstance(error, str) else str(error) or type(error).__name__
    message = f"reconcile failed, retrying: {clip(text, _FAILURE_LIMIT)}"
    return message, (CONDITION_RECONCILING, reasons.PROGRESSING_WITH_RETRY, message)


def failed_status(current: Mapping[str, Any], error: BaseException) -> dict[str, Any]:
    """The status after a reconcile that raised: what it said before, Ready False and Reconciling
    (the queue retries it), each with the error, so ``kubectl get`` and ``kubectl wait`` never show
    a stale truth. A kind's own ``ready`` field (a Cmd's) agrees with the Ready condition."""
    message, progress = retrying(error)
    return {
        **current,
        **({"ready": False} if "ready" in current else {}),
        "conditions": conditions(
            ready=False,
            reason=reasons.RECONCILE_FAILED,
            message=message,
            generation=current.get("observedGeneration"),
            previous=current.get("conditions"),
            progress=progress,
        ),
    }


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from ``current`` to ``desired``: only what differs, None where a field goes.

    Nested objects are diffed too, because a merge patch merges them: sending a whole new
    ``terminated`` would keep the old one's ``error``.
    """
    patch: dict[str, Any] = {}
    for key in set(current) | set(desired):
        old, new = current.get(key), desired.get(key)
        if old == new:
            continue
        patch[key] = status_patch(old, new) if isinstance(old, Mapping) and isinstance(new, Mapping) else new
    return patch


def _revision(obj: Mapping[str, Any]) -> int:
    """The resourceVersion as a number: the API server's are etcd revisions, which only grow."""
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return -1


class StaleStatus(Exception):
    """Another writer changed a field this write changes too, since the object it was computed from.

    Neither overwrites the other unseen: the one that saw the latest object decides, and the
    stale reconcile runs again against the object as it now is (:func:`summarizing` queues it).
    """

    def __init__(self, kind: str, name: str, field: str) -> None:
        super().__init__(f"{kind} {name}: status.{field} was changed by another writer; reconciling again")
        self.field = field


class _Clash(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


_CONDITIONS = "conditions"


def merged(before: Any, mine: Any, theirs: Any, field: str = "") -> Any:
    """The three-way merge of this writer's change (``before`` → ``mine``) onto another's (``before`` → ``theirs``).

    What only one side changed is taken from that side; maps are merged key by key, and the
    conditions by type, so each writer's own condition types are kept. A value both changed to
    different things is a clash (:class:`_Clash`, naming the field): nothing decides it but a
    reconcile that has seen the other change.
    """
    if mine == before or theirs == mine:
        return theirs
    if theirs == before:
        return mine
    if field == _CONDITIONS and all(isinstance(v, list | None) for v in (before, mine, theirs)):
        return _merged_conditions(before or [], mine or [], theirs or [])
    if isinstance(before, Mapping | None) and isinstance(mine, Mapping) and isinstance(theirs, Mapping):
        before = before or {}
        result = {}
        for key in dict.fromkeys([*mine, *theirs, *before]):
            value = merged(before.get(key), mine.get(key), theirs.get(key), f"{field}.{key}" if field else key)
            if value is not None:
                result[key] = value
        return result
    raise _Clash(field)


def _merged_conditions(before: list[Any], mine: list[Any], theirs: list[Any]) -> list[Any]:
    by_type = [{c.get("type"): c for c in side} for side in (before, mine, theirs)]
    order = [*by_type[1], *(t for t in by_type[2] if t not in by_type[1])]
    result = []
    for kind in order:
        old, ours, other = (side.get(kind) for side in by_type)
        if ours == old or other == ours:
            chosen = other
        elif other == old:
            chosen = ours
        else:
            raise _Clash(f"conditions[{kind}]")
        if chosen is not None:
            result.append(chosen)
    return result


# How many times a write is tried again after a conflict (someone wrote in between).
_CONFLICT_ATTEMPTS = 5
_CONFLICT = 409


class StatusWriter:
    """The one way status reaches the API server, as Flux's patch helper writes it.

    The watch delivers an object some milliseconds after a write, so the writer remembers the
    object each of its writes returned and treats the newer of the two (by resourceVersion) as
    the object as read: a diff against a lagging copy would skip a change that is still needed.

    A write is the patch from the status as read to the desired one, with that object's
    resourceVersion as a precondition, so nothing written in between (by a click, a user, another
    writer) is overwritten unseen. On a conflict (409) the writer reads the object again and makes
    a three-way merge (:func:`merged`): its own changes go on top of the other's, fields and
    condition types the other changed are kept. Where both changed the same field, the write
    raises :class:`StaleStatus` and the reconcile runs again against the fresh object: the writer
    that saw the latest object decides, the stale one recomputes, and no write is lost.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._written: dict[str, Object] = {}

    def _base(self, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """The object as it now is: the watch's copy, or the one the last write returned if newer."""
        uid = obj["metadata"].get("uid", "")
        written = self._written.get(uid)
        if written is not None:
            if _revision(written) > _revision(obj):
                return written
            del self._written[uid]  # the watch has caught up
        return obj

    def current(self, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """The status of ``obj`` as it is now: its own, or the one last written if that is newer."""
        return self._base(obj).get("status") or {}

    async def write(self, kind: Kind, obj: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
        """Patch the status of ``obj`` from what it is to ``desired``; whether anything changed.

        Raises :class:`StaleStatus` when another writer changed a field this write changes too.
        """
        name, uid = obj["metadata"]["name"], obj["metadata"].get("uid", "")
        base = self._base(obj)
        before, target = base.get("status") or {}, dict(desired)
        for attempt in range(_CONFLICT_ATTEMPTS):
            changes = status_patch(base.get("status") or {}, target)
            if not changes:
                return attempt > 0
            version = (base.get("metadata") or {}).get("resourceVersion")
            try:
                updated = await self._client.patch_status(kind, name, changes, resource_version=version)
            except ApiError as error:
                if error.status != _CONFLICT or attempt == _CONFLICT_ATTEMPTS - 1:
                    raise
                fresh = await self._client.get(kind, name)
                if fresh is None or fresh["metadata"].get("uid") != uid:
                    self._written.pop(uid, None)
                    return False
                self._written[uid] = base = fresh  # what the reconcile reads if it has to run again
                try:
                    target = merged(before, desired, fresh.get("status") or {})
                except _Clash as clash:
                    raise StaleStatus(kind.kind, name, clash.field) from None
                continue
            if updated is None:
                self._written.pop(uid, None)
            else:
                self._written[uid] = updated
            return True
        return False  # not reached: the last attempt returns or raises

    def forget(self, uid: str) -> None:
        """The object is gone: nothing of it is kept."""
        self._written.pop(uid, None)


def summarizing(
    kind: Kind, reconcile: Reconcile, *, writer: StatusWriter, get: Callable[[str], Mapping[str, Any] | None]
) -> Reconcile:
    """``reconcile``, with the deferred summary of Flux's reconcilers: whatever happens in it, the
    object's status says. A reconcile that raises leaves :func:`failed_status` behind (Ready False,
    ``ReconcileFailed``, Reconciling while the queue retries), then the error goes on to the queue's
    backoff; the next reconcile that gets through writes the status it computes, as always. A
    write that met another writer's change of the same field (:class:`StaleStatus`) is no
    failure: the reconcile runs again at once. ``get`` finds the object in the cache."""

    async def summarized(name: str) -> Result | None:
        try:
            return await reconcile(name)
        except (asyncio.CancelledError, Fenced):
            raise
        except StaleStatus as stale:
            # Not a failure: another writer was first, and this reconcile runs again on what it wrote.
            logger.debug("%s", stale)
            return Result(requeue_after=0.0)
        except Exception as error:
            obj = get(name)
            if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                try:
                    await writer.write(kind, obj, failed_status(writer.current(obj), error))
                except Exception as unwritten:  # the API server itself may be what failed
                    logger.debug("cannot say in %s %s's status that it failed: %s", kind.kind, name, unwritten)
            raise

    return summarized
