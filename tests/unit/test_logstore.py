"""Per-object logs on disk: lines kept in order, capped, removed with their object, never breaking on bad input."""

from __future__ import annotations

import asyncio
import errno
import io
from pathlib import Path
from typing import IO

from tilt_operator.logstore import STDERR, STDOUT, SYSTEM, Key, Line, LogStore

KEY = Key("cmds", "sleeper", "uid-1")


def write(store: LogStore, lines: list[tuple[str, str]], key: Key = KEY) -> None:
    async def scenario() -> None:
        for stream, text in lines:
            store.append(key, stream, text)
        await asyncio.sleep(0)  # the flush runs after the batch

    asyncio.run(scenario())


def test_lines_come_back_in_order_with_their_stream_and_time(tmp_path: Path):
    store = LogStore(tmp_path)
    write(store, [(STDOUT, "one"), (STDERR, "two"), (SYSTEM, "three")])
    lines = list(store.read(KEY))
    assert [(line.stream, line.text) for line in lines] == [(STDOUT, "one"), (STDERR, "two"), (SYSTEM, "three")]
    assert lines[0].time <= lines[1].time <= lines[2].time


def test_a_new_store_reads_what_an_earlier_one_wrote(tmp_path: Path):
    write(LogStore(tmp_path), [(STDOUT, "before the restart")])
    assert [line.text for line in LogStore(tmp_path).read(KEY)] == ["before the restart"]


def test_text_that_is_not_utf8_or_has_control_characters_is_stored_safely(tmp_path: Path):
    store = LogStore(tmp_path)
    binary = bytes(range(256)).decode(errors="replace")
    write(store, [(STDOUT, binary), (STDOUT, '{"not": "json"}\n\r\x00')])
    assert [line.text for line in store.read(KEY)] == [binary, '{"not": "json"}\n\r\x00']


def test_the_cap_holds_dropping_the_oldest_lines_with_a_marker(tmp_path: Path):
    store = LogStore(tmp_path, cap=64 << 10)
    write(store, [(STDOUT, f"line {index} " + "x" * 100) for index in range(5000)])
    path = tmp_path / "cmds" / "uid-1.log"
    assert path.stat().st_size <= 64 << 10
    lines = list(store.read(KEY))
    assert lines[0].stream == SYSTEM
    assert "older lines were dropped" in lines[0].text
    assert lines[-1].text.startswith("line 4999 ")
    numbers = [int(line.text.split()[1]) for line in lines[1:]]
    assert numbers == list(range(numbers[0], 5000)), "what is kept is the newest, in order, with no gap"


def test_deleting_removes_the_log(tmp_path: Path):
    store = LogStore(tmp_path)
    write(store, [(STDOUT, "x")])
    store.delete(KEY)
    assert list(store.read(KEY)) == []
    assert not (tmp_path / "cmds" / "uid-1.log").exists()


def test_logs_of_objects_that_are_gone_are_swept(tmp_path: Path):
    store = LogStore(tmp_path)
    gone, kept = Key("cmds", "a", "uid-a"), Key("cmds", "b", "uid-b")
    write(store, [(STDOUT, "x")], gone)
    write(store, [(STDOUT, "y")], kept)
    store.remove_all_but("cmds", {"uid-b"})
    assert list(store.read(gone)) == []
    assert [line.text for line in store.read(kept)] == ["y"]


class FullDisk(io.StringIO):
    """A file that takes 100 bytes, then fails as a full disk does."""

    def write(self, text: str) -> int:
        if self.tell() + len(text) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_a_full_disk_stops_the_log_and_nothing_else(tmp_path: Path):
    files: list[FullDisk] = []

    def opener(path: Path) -> IO[str]:
        files.append(FullDisk())
        return files[-1]

    store = LogStore(tmp_path, opener=opener)
    heard: list[Line] = []
    store.listen(lambda key, line: heard.append(line))
    write(store, [(STDOUT, f"line {index}") for index in range(100)])
    assert len(heard) == 100, "followers still hear every line"
    assert len(files) == 1, "a stopped log is not opened again"


def test_listeners_hear_lines_as_they_are_written(tmp_path: Path):
    store = LogStore(tmp_path)
    heard: list[tuple[Key, str]] = []
    stop = store.listen(lambda key, line: heard.append((key, line.text)))
    write(store, [(STDOUT, "a")])
    stop()
    write(store, [(STDOUT, "b")])
    assert heard == [(KEY, "a")]
