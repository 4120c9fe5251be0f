"""Status is the user interface: how every kind's status is assembled, and the one path that writes it.

Each reconciler computes the whole status it wants with a pure function that ends in
:func:`desired_status`, the one place ``observedGeneration`` and the Ready condition are built.
:class:`StatusWriter` then patches only what differs from the status as it now is, so a reconcile
that changes nothing writes nothing and a steady state keeps its resourceVersion.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tilt_operator import timestamps
from tilt_operator.api import CONDITION_READY, Kind
from tilt_operator.reconcilers.client import Client, Object

logger = logging.getLogger(__name__)

STATES = ("waiting", "running", "terminated")


def only_state(state: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Tilt's process-like status: exactly one of waiting, running and terminated is set.

    Fields whose value is None are left out, so an absent error or pid is absent, not null.
    """
    assert state in STATES
    return {name: ({k: v for k, v in fields.items() if v is not None} if name == state else None) for name in STATES}


def ready_condition(
    *,
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    previous: list[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The conditions list with Ready set; the transition time moves only when the status flips."""
    status = "True" if ready else "False"
    old = next((c for c in previous or [] if c.get("type") == CONDITION_READY), None)
    transition = old["lastTransitionTime"] if old and old.get("status") == status else timestamps.now()
    condition: dict[str, Any] = {
        "type": CONDITION_READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [dict(c) for c in previous or [] if c.get("type") != CONDITION_READY]
    return [*others, condition]


def ready_of(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Ready condition of a status, if one was written."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION_READY), None)


def desired_status(
    fields: Mapping[str, Any],
    *,
    obj: Mapping[str, Any],
    current: Mapping[str, Any],
    ready: bool,
    reason: str,
    message: str,
) -> dict[str, Any]:
    """A kind's own status fields, with ``observedGeneration`` and the Ready condition for ``obj``."""
    generation = obj["metadata"].get("generation")
    return {
        **fields,
        "observedGeneration": generation,
        "conditions": ready_condition(
            ready=ready, reason=reason, message=message, generation=generation, previous=current.get("conditions")
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


class StatusWriter:
    """The one way status reaches the API server.

    The watch delivers an object some milliseconds after a write, so the writer remembers the
    object each of its writes returned and treats the newer of the two (by resourceVersion) as
    the status that is: a diff against a lagging copy would skip a change that is still needed.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._written: dict[str, Object] = {}

    def current(self, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """The status of ``obj`` as it is now: its own, or the one last written if that is newer."""
        uid = obj["metadata"].get("uid", "")
        written = self._written.get(uid)
        if written is not None:
            if _revision(written) > _revision(obj):
                return written.get("status") or {}
            del self._written[uid]  # the watch has caught up
        return obj.get("status") or {}

    async def write(self, kind: Kind, obj: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
        """Patch the difference between the current status of ``obj`` and ``desired``; whether anything changed."""
        changes = status_patch(self.current(obj), desired)
        if not changes:
            return False
        updated = await self._client.patch_status(kind, obj["metadata"]["name"], changes)
        uid = obj["metadata"].get("uid", "")
        if updated is None:
            self._written.pop(uid, None)
        else:
            self._written[uid] = updated
        return True

    def forget(self, uid: str) -> None:
        """The object is gone: nothing of it is kept."""
        self._written.pop(uid, None)
