"""Paths from untrusted places, kept inside their root: an Extension's Tiltfile, loads, read_file.

A repo is untrusted content: its symlinks, the user's repoPath and a Tiltfile's load() or
read_file() may point anywhere, so every path is resolved first and checked after, here and
nowhere else. Called by the Extension reconciler and by the Tiltfile engine.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tilt_operator.messages import quoted


class PathError(ValueError):
    """The path cannot be used; the message says what to fix."""


class OutsideRoot(PathError):
    """The path, once its symlinks are resolved, leaves the directory it must stay in."""

    def __init__(self, path: Path, resolved: Path, root: Path) -> None:
        self.path, self.resolved, self.root = path, resolved, root
        super().__init__(f"{path} resolves to {resolved}, outside {root}")


def confine(path: Path, root: Path) -> Path:
    """``path`` with every symlink resolved; :class:`OutsideRoot` when that leaves ``root``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise OutsideRoot(path, resolved, root)
    return resolved


def resolve_tiltfile(repo_root: Path, git_subpath: str, repo_path: str) -> Path:
    """The real path of ``repo_root/git_subpath/repo_path/Tiltfile``, which must be a regular file inside the repo."""
    for label, value in (("gitSubpath", git_subpath), ("repoPath", repo_path)):
        if PurePosixPath(value).is_absolute():
            raise PathError(f"{label} {quoted(value)} must be relative to the repo")
        if ".." in PurePosixPath(value).parts:
            raise PathError(f"{label} {quoted(value)} must not contain '..'")
    candidate = repo_root.resolve() / git_subpath / repo_path / "Tiltfile"
    try:
        resolved = confine(candidate, repo_root)
    except OutsideRoot as error:
        raise PathError(
            f"repoPath {quoted(repo_path)} leads outside the repo (through a symlink) to {error.resolved}"
        ) from None
    if not resolved.exists():
        raise PathError(f"no Tiltfile at {quoted(repo_path)} in the repo: {candidate} does not exist")
    if not resolved.is_file():
        raise PathError(f"{candidate} is not a regular file")
    return resolved
