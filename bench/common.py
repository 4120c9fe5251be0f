"""What every benchmark shares that needs no cluster: statistics, result rows, the Markdown report, the machine.

Each benchmark module returns a list of :class:`Row`; ``bench.run`` renders them with
:func:`render_report` into the table that is printed and committed as ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tilt_operator.devcluster import pinned_versions

T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks, as numpy's default does."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(call: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``call`` took (monotonic clock), and what it returned."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def seconds(value: float) -> str:
    """A duration in the unit a reader compares it with: ms below 10 s, s above."""
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


@dataclass
class Row:
    """One line of the table: a measurement, its target, whether it was met, and what it measured."""

    benchmark: str
    measure: str
    median: str
    p95: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: ""}[self.met]


@dataclass
class Machine:
    """Where the numbers come from: the same code is several times slower on a loaded small VM."""

    cpu: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    kubernetes: str
    etcd: str
    git: str
    load: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"- CPU: {self.cpu}, {self.cores} cores; memory {self.memory_gib:.1f} GiB",
            f"- Linux {self.kernel}; Python {self.python}; {self.git}",
            f"- Kubernetes {self.kubernetes} and etcd {self.etcd} (the local control plane, built from Go modules)",
            *(f"- load average (1, 5, 15 min) {entry}" for entry in self.load),
        ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1 << 20)
    return 0.0


def _git_version() -> str:
    import subprocess

    return subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()


def describe_machine() -> Machine:
    versions = pinned_versions()
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        kernel=platform.release(),
        python=platform.python_version(),
        kubernetes=versions["k8s.io/kubernetes"],
        etcd=versions["go.etcd.io/etcd/server/v3"],
        git=_git_version(),
    )


def load_average() -> str:
    """The machine's load right now: other developers' test suites share these cores."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def render_table(rows: Sequence[Row]) -> str:
    lines = [
        "| benchmark | measure | median | p95 | target | result |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.benchmark} | {r.measure} | {r.median} | {r.p95} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def render_report(rows: Sequence[Row], machine: Machine, command: str, extra: Sequence[str] = ()) -> str:
    """The whole docs/benchmarks.md: date, machine, command, the table, then a note per row."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = [
        f"- **{r.benchmark}, {r.measure}**: {r.note}"
        + (" Target missed: see Profiling below." if r.met is False else "")
        for r in rows
        if r.note
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Measured {today} against the real local control plane, with:",
            "",
            "```sh",
            command,
            "```",
            "",
            "## Machine",
            "",
            *machine.lines(),
            "",
            "## Results",
            "",
            render_table(rows),
            "",
            "## What each row measures",
            "",
            *notes,
            *(["", *extra] if extra else []),
            "",
        ]
    )
