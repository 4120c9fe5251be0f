"""The file watcher with real inotify: a Tiltfile that watched a directory runs again when anything
inside it changes, .git aside, within the cap on what a directory covers.

inotify reports events in the order they happened, so "this change did not notify" is shown by
a later change of a file watched for another owner: once that one is reported, the first would
have been too.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tilt_operator.engine import protocol
from tilt_operator.reconcilers.filewatch import FileWatcher


class Watching:
    """A running FileWatcher and the owners it said changed, in order."""

    def __init__(self) -> None:
        self.changed: list[str] = []
        self._woken = asyncio.Event()
        self.watcher = FileWatcher(self._record)

    def _record(self, owner: str) -> None:
        self.changed.append(owner)
        self._woken.set()

    async def notified(self, owner: str) -> None:
        """Wait (at most 10 s) until ``owner`` is said to have changed, and forget what was said."""
        async with asyncio.timeout(10):
            while owner not in self.changed:
                self._woken.clear()
                await self._woken.wait()
        self.changed.clear()


def scenario(body: Callable[[Watching], Awaitable[None]]) -> None:
    async def main() -> None:
        watching = Watching()
        task = asyncio.create_task(watching.watcher.run())
        try:
            await body(watching)
        finally:
            task.cancel()

    asyncio.run(main())


def tree(root: Path, *files: str) -> None:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_a_change_anywhere_below_a_watched_directory_notifies(tmp_path: Path) -> None:
    tree(tmp_path, "conf/a.yaml", "conf/sub/deeper/b.yaml")

    async def body(watching: Watching) -> None:
        watching.watcher.watch("t", [str(tmp_path / "conf")])
        (tmp_path / "conf" / "sub" / "deeper" / "b.yaml").write_text("changed")
        await watching.notified("t")
        (tmp_path / "conf" / "a.yaml").unlink()
        await watching.notified("t")

    scenario(body)


def test_a_directory_made_inside_a_watched_one_is_watched_too(tmp_path: Path) -> None:
    tree(tmp_path, "conf/a.yaml")

    async def body(watching: Watching) -> None:
        watching.watcher.watch("t", [str(tmp_path / "conf")])
        (tmp_path / "conf" / "new").mkdir()
        await watching.notified("t")
        (tmp_path / "conf" / "new" / "c.yaml").write_text("in the new directory")
        await watching.notified("t")

    scenario(body)


def test_a_watched_directory_made_again_is_watched_again(tmp_path: Path) -> None:
    tree(tmp_path, "conf/a.yaml")

    async def body(watching: Watching) -> None:
        watching.watcher.watch("t", [str(tmp_path / "conf")])
        shutil.rmtree(tmp_path / "conf")
        await watching.notified("t")
        (tmp_path / "conf").mkdir()
        await watching.notified("t")
        (tmp_path / "conf" / "b.yaml").write_text("in the new one")
        await watching.notified("t")

    scenario(body)


def test_git_inside_a_watched_directory_is_no_change(tmp_path: Path) -> None:
    tree(tmp_path, "conf/a.yaml", "other.txt")

    async def body(watching: Watching) -> None:
        watching.watcher.watch("tree", [str(tmp_path / "conf")])
        watching.watcher.watch("file", [str(tmp_path / "other.txt")])
        (tmp_path / "conf" / ".git").mkdir()
        (tmp_path / "conf" / ".git" / "index").write_text("x")
        (tmp_path / "other.txt").write_text("later")
        await watching.notified("file")
        assert "tree" not in watching.changed

    scenario(body)


def test_a_tree_is_watched_only_as_far_as_its_signature_covers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, "conf/a/1", "conf/b/2", "conf/c/3", "other.txt")
    monkeypatch.setattr(protocol, "MAX_TREE_ENTRIES", 3)  # a, a/1, b: c is past the cap

    async def body(watching: Watching) -> None:
        watching.watcher.watch("tree", [str(tmp_path / "conf")])
        watching.watcher.watch("file", [str(tmp_path / "other.txt")])
        (tmp_path / "conf" / "c" / "3").write_text("past the cap")
        (tmp_path / "other.txt").write_text("later")
        await watching.notified("file")
        assert "tree" not in watching.changed
        (tmp_path / "conf" / "b" / "2").write_text("covered")
        await watching.notified("tree")

    scenario(body)


def test_an_unwatched_directory_notifies_no_more(tmp_path: Path) -> None:
    tree(tmp_path, "conf/sub/a.yaml", "other.txt")

    async def body(watching: Watching) -> None:
        watching.watcher.watch("tree", [str(tmp_path / "conf")])
        watching.watcher.watch("file", [str(tmp_path / "other.txt")])
        watching.watcher.unwatch("tree")
        (tmp_path / "conf" / "sub" / "a.yaml").write_text("changed")
        (tmp_path / "other.txt").write_text("later")
        await watching.notified("file")
        assert "tree" not in watching.changed

    scenario(body)
