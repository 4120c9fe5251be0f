"""The FileWatch reconciler: Tilt's FileWatch kind, what ``local_resource(deps=...)`` registers.

A FileWatch names paths; a directory counts with everything below it. Its status says when a
change was seen (``lastEventTime``) and which files changed (``fileEvents``, the last
:data:`MAX_EVENTS`), as Tilt's does; a Cmd that names it under ``restartOn.fileWatches`` runs again
on each event (``reconcilers/cmd.py``). This is the kind's own watcher; ``filewatch.py`` is the
Tiltfile reconciler's, for the files a run read.

inotify, one descriptor for every FileWatch: a directory is watched with each directory below
it (new ones as they appear), a file or a path that does not exist yet through its nearest existing
directory. Changes a spec ignores (``ignores``, as in Tilt: ``.dockerignore`` patterns relative to
a base path, or a whole base path) and anything under a ``.git`` directory are not events.
Changes that arrive together are one event: the first queues a reconcile, which writes them all.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncinotify import Inotify, Mask, Watch

from tilt_operator import reasons, timestamps
from tilt_operator.api import FILE_WATCH
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.filewatch import MASK, watched_dir
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status

logger = logging.getLogger(__name__)

# The changes a status keeps, and the directories one FileWatch may watch: a tree larger than
# that is an error in its status rather than a flood of watches.
MAX_EVENTS = 20
MAX_DIRECTORIES = 10_000


class TooManyDirectories(Exception):
    pass


def ignored(path: Path, ignores: list[Mapping[str, Any]]) -> bool:
    """Whether a change at ``path`` is one the spec's ``ignores`` (or Tilt's own, ``.git``) leave out."""
    if ".git" in path.parts:
        return True
    for ignore in ignores:
        base = Path(str(ignore.get("basePath", "/")))
        if not path.is_relative_to(base):
            continue
        patterns = [str(pattern) for pattern in ignore.get("patterns") or []]
        if not patterns:
            return True
        parts = path.relative_to(base).parts
        if any(_matches(parts, tuple(filter(None, pattern.split("/")))) for pattern in patterns):
            return True
    return False


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether ``parts`` (a relative path) or a directory above it matches ``pattern``, segment by
    segment as ``.dockerignore`` reads it: ``*`` stays within a segment, ``**`` spans any number."""
    if not pattern:
        return True  # the pattern matched a directory above: everything below it is matched too
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:])


@dataclass
class _Watched:
    uid: str
    generation: int
    roots: list[Path]
    ignores: list[Mapping[str, Any]]
    directories: set[Path] = field(default_factory=set)
    started: str = field(default_factory=timestamps.now)
    error: str = ""
    # Changes seen since the status last said so.
    pending: set[str] = field(default_factory=set)


class FileWatchReconciler:
    def __init__(self, *, cache: Cache, writer: StatusWriter, requeue: Callable[[str], None]) -> None:
        self._cache, self._writer, self._requeue = cache, writer, requeue
        self._inotify = Inotify()
        self._watched: dict[str, _Watched] = {}
        self._watches: dict[Path, Watch] = {}
        self._watchers: dict[Path, set[str]] = {}  # directory -> FileWatches watching through it

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(FILE_WATCH, name)
        watched = self._watched.get(name)
        generation = (obj or {}).get("metadata", {}).get("generation") or 0
        if watched is not None and (
            obj is None or obj["metadata"]["uid"] != watched.uid or watched.generation != generation
        ):
            self._unwatch(name)
            watched = None
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return Result()
        if watched is None:
            watched = self._watch(name, obj)
        current = self._writer.current(obj)
        fields: dict[str, Any] = {"monitorStartTime": watched.started, "error": watched.error or None}
        events = list(current.get("fileEvents") or [])
        if watched.pending:
            now = timestamps.now()
            events = [*events, {"time": now, "seenFiles": sorted(watched.pending)}][-MAX_EVENTS:]
            fields["lastEventTime"] = now
            watched.pending = set()
        else:
            fields["lastEventTime"] = current.get("lastEventTime")
        fields["fileEvents"] = events or None
        message = watched.error or f"watching {', '.join(str(root) for root in watched.roots)}"
        reason = reasons.WATCH_FAILED if watched.error else reasons.WATCHING
        await self._writer.write(
            FILE_WATCH,
            obj,
            desired_status(fields, obj=obj, current=current, ready=not watched.error, reason=reason, message=message),
        )
        return Result()

    def _watch(self, name: str, obj: Mapping[str, Any]) -> _Watched:
        spec = obj.get("spec") or {}
        watched = _Watched(
            uid=obj["metadata"]["uid"],
            generation=obj["metadata"].get("generation") or 0,
            roots=[Path(str(path)) for path in spec.get("watchedPaths") or []],
            ignores=list(spec.get("ignores") or []),
        )
        self._watched[name] = watched
        relative = [str(root) for root in watched.roots if not root.is_absolute()]
        if relative:
            watched.error = f"watchedPaths must be absolute paths, not {', '.join(relative)}"
            return watched
        try:
            for root in watched.roots:
                self._add_tree(name, watched, root)
        except TooManyDirectories:
            watched.error = f"more than {MAX_DIRECTORIES} directories to watch: watch fewer paths, or ignore some"
        except OSError as error:
            watched.error = f"cannot watch: {error.strerror or error}"
        return watched

    def _add_tree(self, name: str, watched: _Watched, root: Path) -> None:
        """Watch ``root``: every directory in it, or its nearest existing directory."""
        if not root.is_dir():
            self._add_directory(name, watched, watched_dir(root))
            return
        for walked, subdirectories, _ in os.walk(root):
            path = Path(walked)
            subdirectories[:] = [d for d in subdirectories if not ignored(path / d, watched.ignores)]
            self._add_directory(name, watched, path)

    def _add_directory(self, name: str, watched: _Watched, directory: Path) -> None:
        if directory in watched.directories:
            return
        if len(watched.directories) >= MAX_DIRECTORIES:
            raise TooManyDirectories
        if directory not in self._watches:
            self._watches[directory] = self._inotify.add_watch(directory, MASK)
        self._watchers.setdefault(directory, set()).add(name)
        watched.directories.add(directory)

    def _unwatch(self, name: str) -> None:
        watched = self._watched.pop(name)
        for directory in watched.directories:
            names = self._watchers.get(directory, set())
            names.discard(name)
            if not names:
                self._watchers.pop(directory, None)
                watch = self._watches.pop(directory, None)
                if watch is not None:
                    # OSError: the directory went, and its watch with it.
                    with contextlib.suppress(OSError):
                        self._inotify.rm_watch(watch)

    def deleted(self, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if name in self._watched and self._watched[name].uid == obj["metadata"]["uid"]:
            self._unwatch(name)
        self._writer.forget(obj["metadata"]["uid"])

    async def run(self) -> None:
        """Deliver events until cancelled."""
        with self._inotify:
            async for event in self._inotify:
                if event.path is not None:
                    self._deliver(event.path, event.mask)

    def _deliver(self, path: Path, mask: Mask) -> None:
        directory = path if mask & (Mask.DELETE_SELF | Mask.MOVE_SELF) else path.parent
        for name in sorted(self._watchers.get(directory, ())):
            watched = self._watched[name]
            if not any(path == root or path.is_relative_to(root) for root in watched.roots):
                continue
            if ignored(path, watched.ignores):
                continue
            if mask & Mask.ISDIR and mask & (Mask.CREATE | Mask.MOVED_TO):
                # A new directory: watch it (and what it already holds) too.
                with contextlib.suppress(OSError, TooManyDirectories):
                    self._add_tree(name, watched, path)
            if not watched.pending:
                self._requeue(name)
            watched.pending.add(str(path))
