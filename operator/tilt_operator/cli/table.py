"""The table ``kubectl tilt get`` prints: repos, extensions and Tiltfiles, ready or not and why, at a glance.

``kubectl get tilt`` shows each kind in its own table with its own columns; this one puts the three
kinds a user installs extensions with side by side, so a failure anywhere along repo -> extension
-> Tiltfile is one look away. Pure functions over plain objects; the CLI does the listing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tilt_operator.api import CONDITION_READY, EXTENSION, EXTENSION_REPO, TILTFILE

HEADER = ("KIND", "NAME", "READY", "DETAIL", "ERROR")
# kubectl's tabwriter padding between columns.
_GAP = "   "


def ready(obj: Mapping[str, Any]) -> str:
    """The Ready condition's status, or Unknown before the operator has written one."""
    conditions = obj.get("status", {}).get("conditions") or []
    return next((c.get("status", "Unknown") for c in conditions if c.get("type") == CONDITION_READY), "Unknown")


def _repo_detail(obj: Mapping[str, Any]) -> str:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    ref = f"@{spec['ref']}" if spec.get("ref") else ""
    commit = f" ({status['checkoutRef'][:12]})" if status.get("checkoutRef") else ""
    return f"{spec.get('url', '')}{ref}{commit}"


def _repo_error(obj: Mapping[str, Any]) -> str:
    status = obj.get("status", {})
    return status.get("error") or (f"stale: {status['staleReason']}" if status.get("staleReason") else "")


def _extension_detail(obj: Mapping[str, Any]) -> str:
    """REPO/PATH: the short form ``kubectl tilt create ext`` takes."""
    spec = obj.get("spec", {})
    return f"{spec.get('repoName', '')}/{spec.get('repoPath', '')}"


def _tiltfile_error(obj: Mapping[str, Any]) -> str:
    return str((obj.get("status", {}).get("terminated") or {}).get("error", ""))


_COLUMNS: dict[str, tuple[Callable[[Mapping[str, Any]], str], Callable[[Mapping[str, Any]], str]]] = {
    EXTENSION_REPO.kind: (_repo_detail, _repo_error),
    EXTENSION.kind: (_extension_detail, lambda obj: obj.get("status", {}).get("error", "")),
    TILTFILE.kind: (lambda obj: obj.get("spec", {}).get("path", ""), _tiltfile_error),
}
KINDS = (EXTENSION_REPO, EXTENSION, TILTFILE)


def row(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """One object as a table row; an error message's line breaks are folded so a row stays one line."""
    detail, error = _COLUMNS[obj["kind"]]
    return (obj["kind"], obj["metadata"]["name"], ready(obj), detail(obj), " ".join(error(obj).split()))


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    """Left-aligned columns under ``header``, as kubectl prints them; the last column is never padded."""
    lines = [header, *rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header) - 1)]
    formatted = [
        _GAP.join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]]) for line in lines
    ]
    return "\n".join(text.rstrip() for text in formatted)
