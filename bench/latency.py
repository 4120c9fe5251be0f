"""Benchmark 1: how long a user waits from ``kubectl apply`` to their extension's Tiltfile having run.

Each repetition applies a fresh ExtensionRepo (file://) and Extension with the cluster's kubectl,
then waits for the owned Tiltfile's ``status.terminated``, seen through a watch. The steps in
between (Extension Ready, Tiltfile created, the run itself) are reported too, so a slow total
points at its slow step.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import Row, median, percentile, seconds
from bench.harness import (
    Milestones,
    custom_api,
    kubectl_apply,
    manifest,
    obj,
    ready,
    running_cluster,
    running_operator,
    terminated,
)
from tilt_operator.timestamps import parse as parse_time

MEDIAN_TARGET, P95_TARGET = 1.0, 2.0
TILTFILE = """\
# One button per Extension, named after its first argument.
ui_button(name=args[0] + '-button', text='Hello', location={'component_type': 'Global', 'component_id': 'bench'})
print('hello from', args[0])
"""


def _objects(name: str, extensions: Path) -> str:
    return manifest(
        [
            obj("ExtensionRepo", name, {"url": f"file://{extensions}"}),
            obj("Extension", name, {"repoName": name, "repoPath": "hello", "args": [name]}),
        ]
    )


def run(workdir: Path, *, quick: bool) -> list[Row]:
    repetitions = 5 if quick else 20
    extensions = workdir / "extensions"
    (extensions / "hello").mkdir(parents=True)
    (extensions / "hello" / "Tiltfile").write_text(TILTFILE)
    steps: dict[str, list[float]] = {"apply": [], "ready": [], "created": [], "total": [], "run": []}
    with running_cluster(workdir / "cluster") as cluster, running_operator(cluster, workdir / "operator"):
        api = custom_api(cluster)
        tiltfiles = Milestones(api, "tiltfiles", {"created": lambda _: True, "terminated": terminated})
        extension_states = Milestones(api, "extensions", {"ready": ready})
        try:
            # The first round (kubectl's discovery cache, the operator's first watch events) is not counted.
            for round_ in range(repetitions + 1):
                name = f"latency-{round_}"
                start = time.monotonic()
                kubectl_apply(cluster, _objects(name, extensions))
                applied = time.monotonic()
                finished = tiltfiles.wait("terminated", [name], timeout=60)[name]
                became_ready = extension_states.wait("ready", [name], timeout=10)[name]
                state = tiltfiles.latest[name]["status"]["terminated"]
                if state.get("error"):
                    raise RuntimeError(f"Tiltfile {name} failed: {state['error']}")
                if round_ == 0:
                    continue
                steps["apply"].append(applied - start)
                steps["ready"].append(became_ready - start)
                steps["created"].append(tiltfiles.seen["created"][name] - start)
                steps["total"].append(finished - start)
                run_time = parse_time(state["finishedAt"]) - parse_time(state["startedAt"])
                steps["run"].append(run_time.total_seconds())
                time.sleep(0.2)
        finally:
            tiltfiles.stop()
            extension_states.stop()
    return _rows(steps, repetitions)


def _rows(steps: dict[str, list[float]], repetitions: int) -> list[Row]:
    name = "1 latency"
    total = steps["total"]
    met = median(total) < MEDIAN_TARGET and percentile(total, 95) < P95_TARGET

    def step(measure: str, key: str, note: str) -> Row:
        return Row(name, measure, seconds(median(steps[key])), seconds(percentile(steps[key], 95)), note=note)

    return [
        Row(
            name,
            "kubectl apply → Tiltfile terminated",
            seconds(median(total)),
            seconds(percentile(total, 95)),
            f"median < {MEDIAN_TARGET:g} s, p95 < {P95_TARGET:g} s",
            met,
            note=f"{repetitions} rounds, each a fresh ExtensionRepo (file://) and Extension applied with one "
            "`kubectl apply -f -` (one warm-up round not counted); the clock starts before kubectl starts and "
            "stops when a watch on tiltfiles delivers the owned Tiltfile with `status.terminated` (no error). "
            "The Tiltfile registers one UIButton and prints a line.",
        ),
        step("… kubectl apply returned", "apply", "The kubectl process alone, both objects created."),
        step("… Extension Ready", "ready", "Until the Extension's Ready condition is True (its Tiltfile is applied)."),
        step("… Tiltfile created", "created", "Until the owned Tiltfile object exists (watch ADDED event)."),
        step(
            "… the run itself",
            "run",
            "status.terminated.finishedAt - startedAt: the worker run and the apply of what it registered.",
        ),
    ]
