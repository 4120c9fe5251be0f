"""When a Cmd's process should start, and what its status says: the Cmd reconciler's plain logic.

Tilt's rules: a Cmd without ``startOn`` runs as soon as it exists (and again after an operator
restart, since its process died with the operator); one with ``startOn`` waits for a click on
one of its buttons after ``startAfter``; a click on a ``restartOn`` button, or a new spec,
restarts it. A process that ends is not started again until one of those happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator.status import only_state, parse_time

# The terminated reason of a process stopped because the operator stopped, not because the Cmd ended:
# the next operator starts it again, as Tilt starts every Cmd again when it starts.
STOPPED_WITH_OPERATOR = "stopped with the operator"
EXEC_DISABLED = (
    "process execution is disabled on this operator: start it with --exec (or TILT_OPERATOR_EXEC=1) to run Cmds"
)


def _buttons(spec: Mapping[str, Any], key: str) -> list[str]:
    return list((spec.get(key) or {}).get("uiButtons") or [])


def _clicked_after(clicks: Mapping[str, str | None], moment: str | None) -> str | None:
    after = parse_time(moment) if moment else None
    return next(
        (b for b, at in sorted(clicks.items()) if at and (after is None or parse_time(at) > after)),
        None,
    )


def start_reason(
    spec: Mapping[str, Any],
    *,
    last_started: str | None,
    spec_changed: bool,
    clicks: Mapping[str, str | None],
    lost_process: bool = False,
) -> str | None:
    """Why the process should (re)start now, or None to leave things as they are.

    ``last_started`` is when this Cmd's process last started (from its status), ``clicks`` the
    last click of every button its spec names, ``spec_changed`` whether the spec moved since,
    ``lost_process`` whether the status says running but this operator has no such process.
    """
    start_on = spec.get("startOn")
    if spec_changed and not start_on:
        return "spec changed"
    if lost_process and not start_on:
        return "the operator restarted"
    restart = _clicked_after({b: clicks.get(b) for b in _buttons(spec, "restartOn")}, last_started)
    if restart and last_started:
        return f"button clicked: {restart}"
    if not start_on:
        return None if last_started else "created"
    # A new spec waits for a new click, as a new Cmd would: only startAfter counts then.
    since = [start_on.get("startAfter")] + ([] if spec_changed else [last_started])
    newest = max(filter(None, since), key=parse_time, default=None)
    start = _clicked_after({b: clicks.get(b) for b in _buttons(spec, "startOn")}, newest)
    return f"button clicked: {start}" if start else None


def waiting_reason(spec: Mapping[str, Any]) -> str:
    buttons = _buttons(spec, "startOn")
    return f"waiting for a click on {', '.join(buttons)}" if buttons else "waiting"


def running_status(pid: int, started_at: str) -> dict[str, Any]:
    return {**only_state("running", {"pid": pid, "startedAt": started_at}), "ready": True}


def waiting_status(reason: str) -> dict[str, Any]:
    return {**only_state("waiting", {"reason": reason}), "ready": False}


def terminated_status(
    *, pid: int | None, exit_code: int, started_at: str, finished_at: str, reason: str
) -> dict[str, Any]:
    fields = {"pid": pid, "exitCode": exit_code, "startedAt": started_at, "finishedAt": finished_at, "reason": reason}
    return {**only_state("terminated", fields), "ready": False}


def lost_with_operator(status: Mapping[str, Any]) -> bool:
    """Whether the status describes a process that an operator stop (or crash) ended."""
    terminated = status.get("terminated") or {}
    return bool(status.get("running")) or terminated.get("reason") == STOPPED_WITH_OPERATOR


def last_started(status: Mapping[str, Any]) -> str | None:
    """When the process last started, as the status records it (across operator restarts)."""
    for state in ("running", "terminated"):
        started = (status.get(state) or {}).get("startedAt")
        if started:
            return started
    return None
