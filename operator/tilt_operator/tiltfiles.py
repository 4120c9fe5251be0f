"""When a Tiltfile runs, why, and what its status says: the Tiltfile reconciler's plain logic.

The reconciler (``handlers/tiltfile.py``) asks :func:`due_reasons` about once a second; a run
is due when the spec changed, a file the last run read changed (its repo moving to a new commit
included), a ``restartOn`` button was clicked, or the operator stopped in the middle of a run.
What the last run saw is kept on disk (:class:`RunRecords`), not in memory, so a restarted
operator re-runs nothing that has not changed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tilt_operator.status import only_state, parse_time

INITIAL = "initial"
SPEC_CHANGED = "spec changed"
INTERRUPTED = "operator restarted during a run"
_MAX_FILE_REASONS = 5

# Ready condition reasons.
RUN_SUCCEEDED = "RunSucceeded"
RUN_FAILED = "RunFailed"


@dataclass(frozen=True)
class RunRecord:
    """What one finished run saw: enough to tell later whether anything it depends on moved."""

    generation: int
    started_at: str
    # Absolute path -> stat signature (see :func:`signature`).
    files: dict[str, str]
    # The commit of the extension's repo, for Tiltfiles that belong to an Extension.
    repo_commit: str | None = None


class RunRecords:
    """One JSON file per Tiltfile (by uid, so a re-created Tiltfile starts afresh) under the data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, uid: str) -> Path:
        return self.directory / f"{uid}.json"

    def load(self, uid: str) -> RunRecord | None:
        try:
            return RunRecord(**json.loads(self._path(uid).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save(self, uid: str, record: RunRecord) -> None:
        """Written to a temp file and renamed, so a crash leaves the old record or the new one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.directory, delete=False, suffix=".tmp") as tmp:
            json.dump(asdict(record), tmp)
        os.replace(tmp.name, self._path(uid))


def signature(path: str) -> str:
    """Changes whenever the file is rewritten or replaced (a checkout swapped in is a new inode)."""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"


def signatures(paths: Iterable[str]) -> dict[str, str]:
    return {path: signature(path) for path in paths}


def due_reasons(
    *,
    generation: int,
    status: Mapping[str, Any],
    record: RunRecord | None,
    repo_commit: str | None,
    restart_clicks: Mapping[str, str | None],
) -> list[str]:
    """Why the Tiltfile should run now; empty when nothing it depends on has moved."""
    if record is None:
        return [INITIAL]
    reasons = []
    running = status.get("running")
    if running and running.get("startedAt") != record.started_at:
        reasons.append(INTERRUPTED)
    if generation != record.generation:
        reasons.append(SPEC_CHANGED)
    if repo_commit and record.repo_commit and repo_commit != record.repo_commit:
        reasons.append(f"repo updated: {repo_commit[:12]}")
    else:
        changed = [path for path, sig in record.files.items() if signature(path) != sig]
        reasons += [f"file changed: {path}" for path in changed[:_MAX_FILE_REASONS]]
    started = parse_time(record.started_at)
    reasons += [
        f"button clicked: {button}"
        for button, clicked in sorted(restart_clicks.items())
        if clicked and parse_time(clicked) > started
    ]
    return reasons


def clicked_since(clicks: Mapping[str, str | None], since: str) -> str | None:
    """The first button of ``clicks`` clicked after ``since``, if any."""
    start = parse_time(since)
    return next((button for button, at in sorted(clicks.items()) if at and parse_time(at) > start), None)


def running_status(reasons: list[str], started_at: str) -> dict[str, Any]:
    return only_state("running", {"reasons": reasons, "startedAt": started_at})


def waiting_status(reason: str) -> dict[str, Any]:
    return only_state("waiting", {"reason": reason})


def terminated_status(
    reasons: list[str], error: str | None, started_at: str, finished_at: str, warning_count: int
) -> dict[str, Any]:
    fields = {
        "reasons": reasons,
        "error": error or None,
        "startedAt": started_at,
        "finishedAt": finished_at,
        "warningCount": warning_count,
    }
    return only_state("terminated", fields)
