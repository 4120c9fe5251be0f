"""Which Tiltfiles read a file that just changed: inotify events, no stat loop.

The Tiltfile reconciler registers the files each run read; this module watches their directories
with inotify (through asyncinotify, which waits on the inotify descriptor in the event loop, so an
idle operator does no work at all) and names the Tiltfiles whose files an event touched. Whether a
file really changed is then decided by the reconciler, from the signatures its run record holds.

A directory that does not exist yet is watched through its nearest existing ancestor, so a file
that appears later is noticed too. A registered directory (``watch_file`` of one, a recursive
``listdir``) is watched with everything below it that its signature covers
(:func:`~tilt_operator.engine.protocol.tree_entries`: at most ``MAX_TREE_ENTRIES`` entries, so a
huge tree cannot take every inotify watch of the machine), and a directory made inside it later is
watched too. Checkouts the git store manages are not watched: a new commit
swaps the whole tree, and that reaches the Tiltfiles through the repo's status instead
(:meth:`FileWatcher.readers_under` names the Tiltfiles that read from a checkout).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from asyncinotify import Inotify, Mask, Watch

from tilt_operator.engine.protocol import tree_entries

logger = logging.getLogger(__name__)

MASK = (
    Mask.CLOSE_WRITE
    | Mask.MOVED_TO
    | Mask.MOVED_FROM
    | Mask.CREATE
    | Mask.DELETE
    | Mask.ATTRIB
    | Mask.DELETE_SELF
    | Mask.MOVE_SELF
    | Mask.ONLYDIR
)


def watched_dir(path: Path) -> Path:
    """The directory to watch for ``path``: its parent, or the nearest ancestor that exists."""
    directory = path.parent
    while not directory.is_dir() and directory != directory.parent:
        directory = directory.parent
    return directory


class FileWatcher:
    """Calls ``changed(owner)`` when a file registered for ``owner`` may have changed."""

    def __init__(self, changed: Callable[[str], None], *, ignore_under: Iterable[Path] = ()) -> None:
        self._changed = changed
        self._ignored = [path.resolve() for path in ignore_under]
        self._inotify = Inotify()
        self._files: dict[str, set[Path]] = {}  # owner -> files
        self._readers: dict[Path, set[str]] = {}  # file -> owners
        self._dirs: dict[Path, Watch] = {}
        self._dir_files: dict[Path, set[Path]] = {}  # watched dir -> files watched through it
        self._tree_roots: dict[Path, set[Path]] = {}  # watched dir -> registered directories it is below
        self._trees: dict[Path, set[Path]] = {}  # registered directory -> dirs watched for it
        self._full = False

    def watch(self, owner: str, files: Iterable[str]) -> None:
        """Watch exactly ``files`` for ``owner`` from now on."""
        wanted = {Path(file) for file in files}
        before = self._files.get(owner, set())
        for file in before - wanted:
            self._drop(owner, file)
        for file in wanted - before:
            self._readers.setdefault(file, set()).add(owner)
            if len(self._readers[file]) == 1:
                self._add(file)
        self._files[owner] = wanted

    def unwatch(self, owner: str) -> None:
        for file in self._files.pop(owner, set()):
            self._drop(owner, file)

    def _drop(self, owner: str, file: Path) -> None:
        readers = self._readers.get(file, set())
        readers.discard(owner)
        if not readers:
            self._readers.pop(file, None)
            self._remove(file)

    def _is_ignored(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self._ignored)

    def readers_under(self, directory: Path) -> set[str]:
        """The owners of every registered file inside ``directory``."""
        return {owner for file, owners in self._readers.items() if file.is_relative_to(directory) for owner in owners}

    def _add(self, file: Path) -> None:
        if self._is_ignored(file):
            return
        directory = watched_dir(file)
        if self._watch_dir(directory):
            self._dir_files.setdefault(directory, set()).add(file)
        if file.is_dir():
            self._add_tree(file)

    def _add_tree(self, root: Path) -> None:
        """Watch ``root`` and each directory below it that its signature covers."""
        dirs = self._trees.setdefault(root, set())
        below = (root / os.fsdecode(relative) for relative, _, is_dir in tree_entries(str(root)) if is_dir)
        for directory in [root, *below]:
            if directory not in dirs and self._watch_dir(directory):
                dirs.add(directory)
                self._tree_roots.setdefault(directory, set()).add(root)

    def _watch_dir(self, directory: Path) -> bool:
        if directory not in self._dirs:
            try:
                self._dirs[directory] = self._inotify.add_watch(directory, MASK)
            except OSError as error:
                if not self._full:
                    self._full = True
                    logger.warning("cannot watch %s (%s): edits there will not re-run Tiltfiles", directory, error)
                return False
        return True

    def _remove(self, file: Path) -> None:
        for directory, files in list(self._dir_files.items()):
            if file in files:
                files.discard(file)
                if not files:
                    del self._dir_files[directory]
                    self._release(directory)
        for directory in self._trees.pop(file, set()):
            roots = self._tree_roots.get(directory, set())
            roots.discard(file)
            if not roots:
                self._tree_roots.pop(directory, None)
                self._release(directory)

    def _release(self, directory: Path) -> None:
        """Stop watching ``directory`` once no file and no tree needs it."""
        if directory in self._dir_files or directory in self._tree_roots:
            return
        watch = self._dirs.pop(directory, None)
        if watch is not None:
            # OSError: the directory went, and its watch with it.
            with contextlib.suppress(OSError):
                self._inotify.rm_watch(watch)

    async def run(self) -> None:
        """Deliver events until cancelled."""
        with self._inotify:
            async for event in self._inotify:
                self._deliver(event.path, event.mask)

    def _deliver(self, path: Path | None, mask: Mask) -> None:
        if path is None:
            return
        if mask & (Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.IGNORED):
            # The directory itself went (a folder removed or moved): every file watched through it may have changed.
            self._dirs.pop(path, None)
            touched = self._dir_files.pop(path, set())
            roots = self._tree_roots.pop(path, set())
            for root in roots:
                self._trees.get(root, set()).discard(path)
        else:
            touched = {f for f in self._dir_files.get(path.parent, ()) if f == path or f.is_relative_to(path)}
            roots = set() if path.name == ".git" else self._tree_roots.get(path.parent, set())
            if mask & Mask.ISDIR and mask & (Mask.CREATE | Mask.MOVED_TO):
                # A directory made inside a tree is part of it; a watched directory made again is watched again.
                made_again = {path} if path in self._readers and not self._is_ignored(path) else set()
                for root in [*roots, *made_again]:
                    self._add_tree(root)
        owners = {owner for file in touched | roots for owner in self._readers.get(file, ())}
        for owner in sorted(owners):
            self._changed(owner)
