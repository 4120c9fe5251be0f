"""Benchmark 5: what the operator costs while nothing changes, with 10 Cmds and with 1,000 Cmds and 500 Tiltfiles.

An event-driven operator does nothing when nothing happens, however many objects it watches:
no tick per object, no polling of files or processes. The benchmark brings the operator to rest
with the objects below, then reads its CPU time from /proc over a quiet window. The Cmds sleep
for an hour (running processes, each with its output pipes and exit watched); the Tiltfiles ran
once and read a file each (watched for edits).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import Row
from bench.harness import (
    Milestones,
    cpu_seconds,
    custom_api,
    kubectl_apply,
    manifest,
    obj,
    running,
    running_cluster,
    running_operator,
    terminated,
)

IDLE_TARGET = 0.01  # of one core
WINDOW_SECONDS = 60.0
QUICK_WINDOW_SECONDS = 10.0
SETTLE_SECONDS = 10.0


def _idle_share(pid: int, window: float) -> float:
    """The operator's CPU time over ``window`` seconds of quiet, as a share of one core."""
    before, _ = cpu_seconds(pid)
    start = time.monotonic()
    time.sleep(window)
    after, _ = cpu_seconds(pid)
    return (after - before) / (time.monotonic() - start)


def _create(cluster, cmds: range, tiltfiles: range, workdir: Path) -> None:
    objects = [obj("Cmd", f"sleeper-{i}", {"args": ["sleep", "3600"]}) for i in cmds]
    for i in tiltfiles:
        path = workdir / "tiltfiles" / f"t{i}" / "Tiltfile"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"print('tiltfile {i}')\n")
        objects.append(obj("Tiltfile", f"tiltfile-{i}", {"path": str(path)}))
    for start in range(0, len(objects), 250):
        kubectl_apply(cluster, manifest(objects[start : start + 250]), "--server-side")


def run(workdir: Path, *, quick: bool) -> list[Row]:
    window = QUICK_WINDOW_SECONDS if quick else WINDOW_SECONDS
    many_cmds, many_tiltfiles = (200, 100) if quick else (1000, 500)
    shares: dict[str, float] = {}
    with (
        running_cluster(workdir / "cluster") as cluster,
        running_operator(cluster, workdir / "operator", exec_enabled=True) as operator,
    ):
        assert operator.process is not None
        api = custom_api(cluster)
        cmds = Milestones(api, "cmds", {"running": running})
        tiltfiles = Milestones(api, "tiltfiles", {"terminated": terminated})
        try:
            _create(cluster, range(10), range(0), workdir)
            cmds.wait("running", [f"sleeper-{i}" for i in range(10)], timeout=120)
            time.sleep(SETTLE_SECONDS)
            shares["10"] = _idle_share(operator.process.pid, window)

            _create(cluster, range(10, many_cmds), range(many_tiltfiles), workdir)
            cmds.wait("running", [f"sleeper-{i}" for i in range(many_cmds)], timeout=600)
            tiltfiles.wait("terminated", [f"tiltfile-{i}" for i in range(many_tiltfiles)], timeout=600)
            time.sleep(SETTLE_SECONDS)
            shares["many"] = _idle_share(operator.process.pid, window)
        finally:
            cmds.stop()
            tiltfiles.stop()
    name = "5 idle"
    note = (
        f"CPU time (user + system, from /proc/<pid>/stat) of the operator process over {window:.0f} s with nothing "
        f"changing, {SETTLE_SECONDS:.0f} s after the last object settled, as a share of one core. Cmds run "
        "`sleep 3600`; each Tiltfile ran once, printing a line from a file of its own (watched for edits)."
    )
    return [
        Row(name, "operator CPU while idle, 10 running Cmds", f"{shares['10']:.2%}", note=note),
        Row(
            name,
            f"operator CPU while idle, {many_cmds} running Cmds and {many_tiltfiles} finished Tiltfiles",
            f"{shares['many']:.2%}",
            target=f"≤ {IDLE_TARGET:.0%} of one core",
            met=shares["many"] <= IDLE_TARGET,
        ),
    ]
