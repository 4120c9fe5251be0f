"""Where an Extension's Tiltfile is: resolved with symlinks, confined to its repo.

Called by the Extension reconciler. A repo is untrusted content: its symlinks and the user's
repoPath may point anywhere, so every path is resolved first and checked after.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class PathError(ValueError):
    """The Extension's path cannot be used; the message says what to fix."""


def resolve_tiltfile(repo_root: Path, git_subpath: str, repo_path: str) -> Path:
    """The real path of ``repo_root/git_subpath/repo_path/Tiltfile``, which must be a regular file inside the repo."""
    for label, value in (("gitSubpath", git_subpath), ("repoPath", repo_path)):
        if PurePosixPath(value).is_absolute():
            raise PathError(f"{label} {value!r} must be relative to the repo")
        if ".." in PurePosixPath(value).parts:
            raise PathError(f"{label} {value!r} must not contain '..'")
    root = repo_root.resolve()
    candidate = root / git_subpath / repo_path / "Tiltfile"
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise PathError(f"repoPath {repo_path!r} leads outside the repo (through a symlink) to {resolved}")
    if not resolved.exists():
        raise PathError(f"no Tiltfile at {repo_path!r} in the repo: {candidate} does not exist")
    if not resolved.is_file():
        raise PathError(f"{candidate} is not a regular file")
    return resolved
