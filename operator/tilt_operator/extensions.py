"""What an Extension should be: its Tiltfile's path, its status, and the Tiltfile object it owns.

Pure functions, called by the Extension handler with the repo as the operator last saw it;
the handler does the I/O (apply or delete the Tiltfile, write status).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilt_operator.api import API_VERSION, CONDITION_READY, LABEL_EXTENSION, TILTFILE
from tilt_operator.paths import PathError, resolve_tiltfile

# Ready condition reasons.
REPO_NOT_FOUND = "RepoNotFound"
REPO_NOT_READY = "RepoNotReady"
PATH_INVALID = "PathInvalid"
TILTFILE_CREATED = "TiltfileCreated"


@dataclass(frozen=True)
class RepoView:
    """The parts of an ExtensionRepo an Extension depends on (what the handler's index keeps)."""

    name: str
    ready: bool
    path: str | None
    git_subpath: str
    checkout_ref: str | None
    error: str | None
    load_host: str = ""

    @classmethod
    def from_object(cls, name: str, spec: Mapping[str, Any], status: Mapping[str, Any]) -> RepoView:
        conditions = status.get("conditions") or []
        ready = any(c.get("type") == CONDITION_READY and c.get("status") == "True" for c in conditions)
        return cls(
            name=name,
            ready=ready and bool(status.get("path")),
            path=status.get("path"),
            git_subpath=spec.get("gitSubpath") or "",
            checkout_ref=status.get("checkoutRef"),
            error=status.get("error"),
            load_host=spec.get("loadHost") or "",
        )

    @property
    def extensions_dir(self) -> Path | None:
        """Where this repo's extensions live: its checkout joined with its gitSubpath."""
        return Path(self.path) / self.git_subpath if self.ready and self.path else None

    def revision(self) -> str:
        """A short digest that changes whenever anything an Extension reads from the repo changes."""
        text = "\n".join(str(v) for v in (self.ready, self.path, self.git_subpath, self.checkout_ref))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ExtensionOutcome:
    path: Path | None
    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.path is not None


def resolve_extension(spec: Mapping[str, Any], repo: RepoView | None) -> ExtensionOutcome:
    """Find the Extension's Tiltfile, or say which step failed and how to fix it."""
    repo_name = spec.get("repoName", "")
    if repo is None:
        return ExtensionOutcome(None, REPO_NOT_FOUND, f"extension repo not found: {repo_name}")
    if not repo.ready or repo.path is None:
        detail = f" ({repo.error})" if repo.error else ""
        return ExtensionOutcome(None, REPO_NOT_READY, f"extension repo not ready: {repo_name}{detail}")
    try:
        path = resolve_tiltfile(Path(repo.path), repo.git_subpath, spec.get("repoPath", ""))
    except PathError as error:
        return ExtensionOutcome(None, PATH_INVALID, f"path: {error}")
    return ExtensionOutcome(path, TILTFILE_CREATED, f"Tiltfile {path}")


def build_tiltfile(extension: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The Tiltfile object an Extension owns: same name, labelled, controller-owned, path and args."""
    name = extension["metadata"]["name"]
    owner = {
        "apiVersion": API_VERSION,
        "kind": extension.get("kind", "Extension"),
        "name": name,
        "uid": extension["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": TILTFILE.kind,
        "metadata": {"name": name, "labels": {LABEL_EXTENSION: name}, "ownerReferences": [owner]},
        "spec": {
            "path": str(path),
            "args": list(extension.get("spec", {}).get("args") or []),
            # Everything the extension's Tiltfile registers says which extension it came from.
            "labels": {LABEL_EXTENSION: name},
        },
    }
