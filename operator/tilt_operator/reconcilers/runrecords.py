"""What a Tiltfile's last run saw, kept on disk so a restarted operator re-runs nothing that has not moved.

One JSON file per Tiltfile (by uid, so a re-created Tiltfile starts afresh) under the data dir,
written by the Tiltfile reconciler after each run and removed with its Tiltfile.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from tilt_operator.engine.protocol import file_signature


@dataclass(frozen=True)
class RunRecord:
    """What one finished run saw: enough to tell later whether anything it depends on moved."""

    generation: int
    started_at: str
    # Absolute path -> what the run saw of it (``engine.protocol.file_signature``).
    files: dict[str, str]
    # The commit of the extension's repo, for Tiltfiles that belong to an Extension.
    repo_commit: str | None = None
    # The ExtensionRepo the run stopped for (an ext:// load of it), not Ready then: once it is, the
    # run goes again.
    waiting_for: str | None = None


class RunRecords:
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

    def delete(self, uid: str) -> None:
        self._path(uid).unlink(missing_ok=True)

    def remove_all_but(self, uids: set[str]) -> None:
        """Delete the records of Tiltfiles that no longer exist (deleted while the operator was down)."""
        for path in self.directory.glob("*.json") if self.directory.exists() else ():
            if path.stem not in uids:
                path.unlink(missing_ok=True)


def signatures(paths: Iterable[str]) -> dict[str, str]:
    """What each file is now, as a run would see it."""
    return {path: file_signature(path) for path in paths}


def changed_files(record: RunRecord) -> list[str]:
    """The files the recorded run read that are no longer what it read."""
    return [path for path, seen in record.files.items() if file_signature(path) != seen]
