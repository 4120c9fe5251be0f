"""Status is the user interface: conditions and status writes for every kind, in one place.

Reconcilers compute the whole status they want; ``write_status`` turns it into the smallest
patch (kopf applies the patch after the handler), so a reconcile that changes nothing writes
nothing and a steady state keeps its resourceVersion.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import kopf

from tilt_operator.api import CONDITION_READY


def now() -> str:
    """The current time as Kubernetes' MicroTime: RFC 3339 in UTC with microseconds."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


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
    transition = old["lastTransitionTime"] if old and old.get("status") == status else now()
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


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from ``current`` to ``desired``: only what differs, None where a field goes.

    Nested objects are diffed too, because a merge patch merges them: sending a whole new
    ``terminated`` would keep the old one's ``error``.
    """
    patch: dict[str, Any] = {}
    for key in set(current) | set(desired):
        old, new = current.get(key), desired.get(key)
        if key == "kopf" or old == new:
            continue
        both_objects = isinstance(old, Mapping) and isinstance(new, Mapping)
        patch[key] = status_patch(old, new) if both_objects else new
    return patch


def write_status(patch: kopf.Patch, current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Put the smallest status change into kopf's patch; returns whether anything changes."""
    changes = status_patch(current, desired)
    for key, value in changes.items():
        patch.status[key] = value
    return bool(changes)
