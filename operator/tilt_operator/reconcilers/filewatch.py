"""Which Tiltfiles read a file that just changed: inotify events, no stat loop.

The Tiltfile reconciler registers the files each run read; this module watches their directories
with inotify (through asyncinotify, which waits on the inotify descriptor in the event loop, so an
idle operator does no work at all) and names the Tiltfiles whose files an event touched. Whether a
file really changed is then decided by the reconciler, from the signatures its run record holds.

A directory that does not exist yet is watched through its nearest existing ancestor, so a file
that appears later is noticed too. Checkouts the git store manages are not watched: a new commit
swaps the whole tree, and that reaches the Tiltfiles through the repo's status instead
(:meth:`FileWatcher.readers_under` names the Tiltfiles that read from a checkout).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from asyncinotify import Inotify, Mask, Watch

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
        if directory not in self._dirs:
            try:
                self._dirs[directory] = self._inotify.add_watch(directory, MASK)
            except OSError as error:
                if not self._full:
                    self._full = True
                    logger.warning("cannot watch %s (%s): edits there will not re-run Tiltfiles", directory, error)
                return
        self._dir_files.setdefault(directory, set()).add(file)

    def _remove(self, file: Path) -> None:
        for directory, files in list(self._dir_files.items()):
            if file in files:
                files.discard(file)
                if not files:
                    del self._dir_files[directory]
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
        else:
            touched = {f for f in self._dir_files.get(path.parent, ()) if f == path or f.is_relative_to(path)}
        owners = {owner for file in touched for owner in self._readers.get(file, ())}
        for owner in sorted(owners):
            self._changed(owner)
