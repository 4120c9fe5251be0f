"""Run the benchmarks, print the table, and write it with the machine's description to docs/benchmarks.md.

``bash bench/run.sh`` (or ``.venv/bin/python -m bench.run`` from the repo root). Each benchmark
runs in a temp dir of its own, with a fresh local control plane where it needs one, so the
numbers of one never depend on the objects of another.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from bench import (
    dashboard,
    deploy,
    engine_overhead,
    failover,
    git_cost,
    harness,
    idle,
    in_cluster,
    latency,
    reaction,
    scale,
)
from bench.common import Row, describe_machine, load_average, render_report, render_table
from tilt_operator.devcluster.binaries import repo_root

BENCHMARKS: dict[str, ModuleType] = {
    "latency": latency,
    "scale": scale,
    "git": git_cost,
    "engine": engine_overhead,
    "idle": idle,
    "reaction": reaction,
    "dashboard": dashboard,
    "failover": failover,
    "node": in_cluster,
    "deploy": deploy,
}
DEFAULT_OUTPUT = Path("docs") / "benchmarks.md"
_PROFILING = (
    "## Profiling",
    "",
    "How the operator was profiled (`bash bench/run.sh --profile DIR` samples it with py-spy) and what was "
    "found is in [benchmarks-profiling.md](benchmarks-profiling.md).",
)
# Lets the load of one benchmark's clean-up (a cluster stopping) pass before the next starts.
_PAUSE_SECONDS = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and 50 Extensions: a smoke run")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the report (default {DEFAULT_OUTPUT} for a full run; a --quick run writes nothing)",
    )
    parser.add_argument(
        "--profile", type=Path, help="sample every operator with py-spy into this directory (pip install py-spy)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    options = _parser().parse_args(argv)
    selected = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    harness.profile_dir = options.profile
    output = options.output or (None if options.quick else repo_root() / DEFAULT_OUTPUT)
    machine = describe_machine()
    rows: list[Row] = []
    for index, name in enumerate(selected):
        if index:
            time.sleep(_PAUSE_SECONDS)
        before = load_average()
        print(f"bench: {name} (load average {before})", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"tilt-bench-{name}-") as workdir:
            rows += BENCHMARKS[name].run(Path(workdir), quick=options.quick)
        machine.load.append(f"{before} before and {load_average()} after {name}")
    table = render_table(rows)
    print(table)
    if output is not None:
        command = " ".join(["bash bench/run.sh", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_report(rows, machine, command, _PROFILING))
        print(f"bench: wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
