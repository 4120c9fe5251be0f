"""Benchmark 6: how soon the operator reacts to a click and to an edit, the two things people do by hand.

- A click on a Cmd's ``restartOn`` button (a write of the button's ``status.lastClickedAt``, as
  ``kubectl tilt click`` makes it) until the Cmd's process receives its SIGTERM: the process
  writes the moment it gets the signal.
- An edit of a file a Tiltfile read until the Tiltfile's re-run has finished (its
  ``status.terminated`` as a watch delivers it).
- The clicks again while another Cmd prints as fast as it can, and how many lines a second the
  operator stores from such a Cmd.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.common import Row, median, percentile, seconds
from bench.harness import Milestones, custom_api, kubectl_apply, manifest, obj, running_cluster, running_operator
from tilt_operator import timestamps

GROUP, VERSION = "tilt.dev", "v1alpha1"
CLICK_TARGET, EDIT_TARGET = 0.2, 1.0
# Says when it is ready and when SIGTERM arrives, each in a file of its own.
SIGNALLED = """\
import pathlib, signal, sys, time
here = pathlib.Path(sys.argv[1])
def stop(*_):
    # Written whole, then renamed: the benchmark never reads a half-written file.
    (here / "signalled.tmp").write_text(repr(time.time()))
    (here / "signalled.tmp").replace(here / "signalled")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
(here / "ready").write_text("")
while True:
    time.sleep(60)
"""


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)


FLOOD_LINES = 100_000


def _flood_rate(cluster, api, operator_data: Path) -> float:
    """Lines a second the operator stores from a Cmd printing 100,000 lines as fast as it can."""
    kubectl_apply(cluster, manifest([obj("Cmd", "flood-once", {"args": ["seq", "1", str(FLOOD_LINES)]})]))
    cmds = Milestones(api, "cmds", {})
    try:
        started = cmds.until("flood-once", lambda item: bool(item.get("status", {}).get("running")), 60)
        uid = cmds.latest["flood-once"]["metadata"]["uid"]
    finally:
        cmds.stop()
    log = operator_data / "logs" / "cmds" / f"{uid}.log"
    last = f'"text": "{FLOOD_LINES}"'
    deadline = time.monotonic() + 120
    while not (log.exists() and last in log.read_text()[-4096:]):
        if time.monotonic() > deadline:
            raise TimeoutError("the flood's last line never reached its log")
        time.sleep(0.005)
    return FLOOD_LINES / (time.monotonic() - started)


def _clicks(cluster, api, workdir: Path, rounds: int) -> list[float]:
    here = workdir / f"signalled-{len(list(workdir.glob('signalled-*')))}"
    here.mkdir()
    (here / "process.py").write_text(SIGNALLED)
    spec = {
        "args": [sys.executable, str(here / "process.py"), str(here)],
        "restartOn": {"uiButtons": [f"restart-{here.name}"]},
    }
    button = {"text": "Restart", "location": {"componentType": "Global", "componentID": "bench"}}
    cmd = f"signalled-{here.name}"
    kubectl_apply(cluster, manifest([obj("UIButton", f"restart-{here.name}", button), obj("Cmd", cmd, spec)]))
    delays = []
    for _ in range(rounds + 1):
        _wait_for(here / "ready")
        (here / "ready").unlink()
        (here / "signalled").unlink(missing_ok=True)
        clicked = time.time()
        api.patch_cluster_custom_object_status(
            GROUP, VERSION, "uibuttons", f"restart-{here.name}", {"status": {"lastClickedAt": timestamps.now()}}
        )
        _wait_for(here / "signalled")
        delays.append(float((here / "signalled").read_text()) - clicked)
    return delays[1:]  # the first round warms up


def _edits(cluster, api, workdir: Path, rounds: int) -> list[float]:
    here = workdir / "edited"
    here.mkdir()
    (here / "Tiltfile").write_text("print(read_file('value.txt'))\n")
    (here / "value.txt").write_text("0\n")
    kubectl_apply(cluster, manifest([obj("Tiltfile", "edited", {"path": str(here / "Tiltfile")})]))
    tiltfiles = Milestones(api, "tiltfiles", {})
    delays = []
    try:
        last = tiltfiles.until("edited", lambda item: bool(item.get("status", {}).get("terminated")), 60)
        for round_ in range(1, rounds + 2):
            previous = tiltfiles.latest["edited"]["status"]["terminated"]["startedAt"]
            time.sleep(0.3)  # let the file's time stamp move on from the previous write
            edited = time.monotonic()
            (here / "value.txt").write_text(f"{round_}\n")
            last = tiltfiles.until(
                "edited",
                lambda item, previous=previous: (
                    (item.get("status", {}).get("terminated") or {}).get("startedAt", previous) > previous
                ),
                30,
            )
            delays.append(last - edited)
    finally:
        tiltfiles.stop()
    return delays[1:]


def run(workdir: Path, *, quick: bool) -> list[Row]:
    rounds = 5 if quick else 20
    with (
        running_cluster(workdir / "cluster") as cluster,
        running_operator(cluster, workdir / "operator", exec_enabled=True) as operator,
    ):
        api = custom_api(cluster)
        clicks = _clicks(cluster, api, workdir, rounds)
        edits = _edits(cluster, api, workdir, rounds)
        rate = _flood_rate(cluster, api, operator.data_dir)
        flood = ["sh", "-c", f"while :; do seq 1 {FLOOD_LINES}; done"]
        kubectl_apply(cluster, manifest([obj("Cmd", "flood", {"args": flood})]))
        flooded = _clicks(cluster, api, workdir, rounds)
    name = "6 reaction"
    return [
        Row(
            name,
            "button click → the Cmd's process is signalled",
            seconds(median(clicks)),
            seconds(percentile(clicks, 95)),
            f"p95 < {CLICK_TARGET * 1000:.0f} ms",
            percentile(clicks, 95) < CLICK_TARGET,
            note=f"{rounds} clicks of a Cmd's restartOn button (a status write of the button, as `kubectl tilt click` "
            "makes it; one warm-up round not counted), from just before the write until the Cmd's process "
            "records the SIGTERM the restart sends it.",
        ),
        Row(
            name,
            "an edit to a file a Tiltfile read → its re-run finished",
            seconds(median(edits)),
            seconds(percentile(edits, 95)),
            f"p95 < {EDIT_TARGET:g} s",
            percentile(edits, 95) < EDIT_TARGET,
            note=f"{rounds} edits of a file the Tiltfile read with read_file() (one warm-up not counted), from the "
            "write until a watch delivers the Tiltfile with a newer status.terminated: inotify, the re-run in a "
            "warm Tiltfile host, and the status write.",
        ),
        Row(
            name,
            "button click → signal, while another Cmd prints as fast as it can",
            seconds(median(flooded)),
            seconds(percentile(flooded, 95)),
            f"p95 < {CLICK_TARGET * 1000:.0f} ms",
            percentile(flooded, 95) < CLICK_TARGET,
            note=f"The same clicks while a Cmd prints {FLOOD_LINES:,} lines over and over (`seq` in a loop), every "
            "line stored in its log (capped at 1 MiB, so the log is trimmed again and again meanwhile).",
        ),
        Row(
            name,
            "lines a second stored from a Cmd printing as fast as it can",
            f"{rate:,.0f}",
            note=f"A Cmd running `seq 1 {FLOOD_LINES}`: {FLOOD_LINES:,} lines over the time from its running status "
            "(as a watch delivers it) until its last line is in its log on disk.",
        ),
    ]
