"""Warm hosts keep the isolation of a process per run: one test for each way a run could reach the next."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.unit.test_engine import CRDS, _cpu_seconds, _until, _write
from tilt_operator.engine import RunResult
from tilt_operator.engine.pool import WorkerPool

T = TypeVar("T")


def with_pool(
    scenario: Callable[[WorkerPool], Awaitable[T]], *, size: int = 1, memory_mb: int = 256, max_steps: int = 10**9
) -> T:
    async def run() -> T:
        pool = WorkerPool(size=size, memory_mb=memory_mb, max_steps=max_steps)
        pool.start()
        try:
            return await scenario(pool)
        finally:
            await pool.stop()

    return asyncio.run(run())


async def run(pool: WorkerPool, path: Path, **options: Any) -> tuple[RunResult, list[int]]:
    """The run's result and the pids of the pool's workers while it ran."""
    pids: list[int] = []
    result = await pool.run(
        path, crds=CRDS, timeout=options.pop("timeout", 30), started=lambda: pids.extend(pool.pids())
    )
    return result, pids


def test_runs_share_a_host_but_not_its_globals(tmp_path: Path):
    _write(tmp_path, {"a/Tiltfile": "leftover = 'from a'\nprint(leftover)\n", "b/Tiltfile": "print(leftover)\n"})

    async def scenario(pool: WorkerPool) -> tuple[RunResult, RunResult, list[int], list[int]]:
        first, before = await run(pool, tmp_path / "a" / "Tiltfile")
        second, after = await run(pool, tmp_path / "b" / "Tiltfile")
        return first, second, before, after

    first, second, before, after = with_pool(scenario)
    assert first.output == "from a\n"
    assert before == after, "the same warm host served both runs"
    assert second.error is not None
    assert "undefined: leftover" in second.error


def test_a_run_sees_files_and_loads_as_they_are_now_not_as_an_earlier_run_saw_them(tmp_path: Path):
    _write(tmp_path, {"Tiltfile": "load('./lib.star', 'x')\nprint(x, read_file('data.txt'))\n"})

    async def scenario(pool: WorkerPool) -> list[str]:
        outputs = []
        for version in ("1", "2"):
            _write(tmp_path, {"lib.star": f"x = {version}\n", "data.txt": f"data {version}"})
            result, _ = await run(pool, tmp_path / "Tiltfile")
            assert result.error is None, result.error
            outputs.append(result.output)
        return outputs

    assert with_pool(scenario) == ["1 data 1\n", "2 data 2\n"]


def test_each_run_knows_only_its_own_directory(tmp_path: Path):
    _write(tmp_path, {"a/Tiltfile": "print(os.getcwd())\n", "b/Tiltfile": "print(os.getcwd())\n"})

    async def scenario(pool: WorkerPool) -> list[str]:
        return [(await run(pool, tmp_path / name / "Tiltfile"))[0].output for name in ("a", "b")]

    assert with_pool(scenario) == [f"{tmp_path / 'a'}\n", f"{tmp_path / 'b'}\n"]


@pytest.mark.parametrize(
    ("source", "options", "max_steps", "error"),
    [
        ("while True:\n    print(1)\n", {"timeout": 0.5}, 0, "Tiltfile timed out after 0.5s"),
        ("x = [0] * 1000000000\n", {}, 0, "Tiltfile exceeded its memory limit of 128 MiB"),
        ("l = ['a']\nwhile True:\n    l = l + l\n", {}, 0, "Tiltfile exceeded its memory limit of 128 MiB"),
        ("i = 0\nwhile True:\n    i += 1\n", {}, 1_000_000, ":3:7: Starlark computation cancelled: too many steps"),
    ],
    ids=["time", "allocation", "growth", "steps"],
)
def test_a_host_that_hit_a_limit_is_never_given_another_run(
    tmp_path: Path, source: str, options: dict[str, Any], max_steps: int, error: str
):
    """Each limit on its own (0: no step limit), so the one under test is the one that ends the run."""
    _write(tmp_path, {"runaway/Tiltfile": source, "ok/Tiltfile": "print('fine')\n"})

    async def scenario(pool: WorkerPool) -> tuple[RunResult, RunResult, list[int], list[int]]:
        runaway, before = await run(pool, tmp_path / "runaway" / "Tiltfile", **options)
        ok, after = await run(pool, tmp_path / "ok" / "Tiltfile")
        return runaway, ok, before, after

    runaway, ok, before, after = with_pool(scenario, memory_mb=128, max_steps=max_steps)
    assert runaway.error is not None
    assert runaway.error.endswith(error)
    assert ok.error is None
    assert ok.output == "fine\n"
    assert not set(before) & set(after), "the host that hit the limit is gone, a new one ran the next"


def test_a_stop_cancels_a_run_at_once_and_its_host_is_replaced(tmp_path: Path):
    _write(tmp_path, {"loop/Tiltfile": "while True:\n    pass\n", "ok/Tiltfile": "print('fine')\n"})

    async def scenario(pool: WorkerPool) -> tuple[float, int, RunResult, list[int]]:
        [pid] = await _until(pool.pids)
        idle = _cpu_seconds(pid)
        task = asyncio.create_task(pool.run(tmp_path / "loop" / "Tiltfile", crds=CRDS, timeout=60))
        await _until(lambda: _cpu_seconds(pid) > idle + 0.3)
        cancelled = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.monotonic() - cancelled
        ok, after = await run(pool, tmp_path / "ok" / "Tiltfile")
        return took, pid, ok, after

    took, pid, ok, after = with_pool(scenario)
    assert took < 1, f"the stop took {took:.2f} s"
    assert not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert ok.error is None
    assert pid not in after


def test_runs_wait_for_a_free_host_and_the_pool_size_bounds_the_processes(tmp_path: Path):
    _write(tmp_path, {f"t{i}/Tiltfile": f"print({i})\n" for i in range(6)})

    async def scenario(pool: WorkerPool) -> tuple[list[RunResult], int]:
        most = 0

        def note() -> None:
            nonlocal most
            most = max(most, len(pool.pids()))

        results = await asyncio.gather(
            *(pool.run(tmp_path / f"t{i}" / "Tiltfile", crds=CRDS, timeout=30, started=note) for i in range(6))
        )
        return list(results), most

    results, most = with_pool(scenario, size=2)
    assert [result.output for result in results] == [f"{i}\n" for i in range(6)]
    assert most <= 2
