"""Benchmark 2: 500 Extensions across 50 repos, applied at once, on a 2-core machine.

Half the repos are file:// directories, half https repos on the integration tests' git server, ten
extensions each. One ``kubectl apply --server-side`` creates all 550 objects; watches note when
every Extension is Ready and every Tiltfile has run. Meanwhile /proc says how much memory the
operator and its Tiltfile workers take, and the API server's audit log says how many requests
the operator made for it all. Each run gets a fresh cluster and an empty data dir.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.gitserver import GitServer

from bench.common import Row, median, percentile, seconds
from bench.harness import (
    AuditCount,
    Milestones,
    ProcessSampler,
    count_requests,
    cpu_seconds,
    custom_api,
    kubectl_apply,
    manifest,
    obj,
    ready,
    running,
    running_cluster,
    running_operator,
    terminated,
)
from bench.latency import TILTFILE

READY_TARGET = 60.0
RSS_TARGET_MB = 300
IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class Size:
    repos: int
    per_repo: int

    @property
    def extensions(self) -> int:
        return self.repos * self.per_repo


@dataclass
class Outcome:
    """What one run measured."""

    apply: float
    all_ready: float
    all_terminated: float
    failed: int
    # Per Tiltfile, seconds from created to running (waiting for a worker slot) and from running to terminated.
    queued: list[float]
    run: list[float]
    peak_rss_mb: float
    workers: int
    max_concurrent_workers: int
    worker_peak_mb: float
    operator_cpu: float
    children_cpu: float
    control_plane_cpu: float
    requests: AuditCount
    idle_requests: int


def _repos(size: Size, workdir: Path, server: GitServer) -> list[dict]:
    """Half file:// directories, half https repos, each holding ``per_repo`` extension directories."""
    files = {f"e{index}/Tiltfile": TILTFILE for index in range(size.per_repo)}
    repos = []
    for number in range(size.repos):
        name = f"repo-{number:02d}"
        if number % 2:
            server.create_repo(name, files)
            repos.append(obj("ExtensionRepo", name, {"url": server.url(name)}))
        else:
            directory = workdir / "file-repos" / name
            for rel, text in files.items():
                (directory / rel).parent.mkdir(parents=True, exist_ok=True)
                (directory / rel).write_text(text)
            repos.append(obj("ExtensionRepo", name, {"url": f"file://{directory}"}))
    return repos


def _extensions(size: Size) -> list[dict]:
    extensions = []
    for number in range(size.repos):
        for index in range(size.per_repo):
            name = f"r{number:02d}-e{index}"
            spec = {"repoName": f"repo-{number:02d}", "repoPath": f"e{index}", "args": [name]}
            extensions.append(obj("Extension", name, spec))
    return extensions


def one_run(workdir: Path, size: Size, repos: list[dict], server: GitServer) -> Outcome:
    extensions = _extensions(size)
    names = [ext["metadata"]["name"] for ext in extensions]
    env = {"TILT_OPERATOR_GIT_CA_BUNDLE": str(server.ca_bundle)}
    with (
        running_cluster(workdir / "cluster") as cluster,
        running_operator(cluster, workdir / "operator", env) as operator,
    ):
        api = custom_api(cluster)
        states = Milestones(api, "extensions", {"ready": ready})
        tiltfiles = Milestones(
            api, "tiltfiles", {"created": lambda _: True, "running": running, "terminated": terminated}
        )
        assert operator.process is not None
        pid = operator.process.pid
        sampler = ProcessSampler(pid)
        cpu_before = cpu_seconds(pid)
        control_plane = [process.pid for process in cluster.processes.values()]
        control_plane_before = sum(cpu_seconds(p)[0] for p in control_plane)
        _, audit_start = count_requests(cluster.audit_log)
        try:
            start = time.monotonic()
            kubectl_apply(cluster, manifest([*repos, *extensions]), "--server-side")
            applied = time.monotonic() - start
            all_ready = max(states.wait("ready", names, timeout=900).values()) - start
            all_terminated = max(tiltfiles.wait("terminated", names, timeout=900).values()) - start
        finally:
            sampler.stop()
            states.stop()
            tiltfiles.stop()
        cpu_after = cpu_seconds(pid)
        control_plane_cpu = sum(cpu_seconds(p)[0] for p in control_plane) - control_plane_before
        requests, audit_done = count_requests(cluster.audit_log, audit_start)
        # What a settled operator keeps asking of the API server with 500 Extensions in place.
        time.sleep(IDLE_SECONDS)
        idle, _ = count_requests(cluster.audit_log, audit_done)
        seen = tiltfiles.seen
        queued = [seen["running"][n] - seen["created"][n] for n in names if n in seen["running"]]
        run = [seen["terminated"][n] - seen["running"][n] for n in names if n in seen["running"]]
        failed = sum(1 for name in names if tiltfiles.latest[name]["status"]["terminated"].get("error"))
    return Outcome(
        apply=applied,
        all_ready=all_ready,
        all_terminated=all_terminated,
        failed=failed,
        queued=queued,
        run=run,
        peak_rss_mb=sampler.peak_kib / 1024,
        workers=len(sampler.workers_seen),
        max_concurrent_workers=sampler.max_concurrent,
        worker_peak_mb=sampler.worker_peak_kib / 1024,
        operator_cpu=cpu_after[0] - cpu_before[0],
        children_cpu=cpu_after[1] - cpu_before[1],
        control_plane_cpu=control_plane_cpu,
        requests=requests,
        idle_requests=idle.operator,
    )


def run(workdir: Path, *, quick: bool) -> list[Row]:
    size = Size(repos=10, per_repo=5) if quick else Size(repos=50, per_repo=10)
    runs = 1 if quick else 3
    server = GitServer(workdir / "git")
    server.start()
    try:
        repos = _repos(size, workdir, server)
        outcomes = [one_run(workdir / f"run-{number}", size, repos, server) for number in range(runs)]
    finally:
        server.stop()
    return _rows(outcomes, size)


def _rows(outcomes: list[Outcome], size: Size) -> list[Row]:
    name = "2 scale"
    n = size.extensions
    runs = f"{len(outcomes)} run{'s' if len(outcomes) > 1 else ''}"

    def spread(values: list[float], unit=seconds) -> tuple[str, str]:
        return unit(median(values)), unit(percentile(values, 95))

    ready_times = [o.all_ready for o in outcomes]
    rss = [o.peak_rss_mb for o in outcomes]
    per_extension = [o.requests.operator / n for o in outcomes]
    total_per_extension = [sum(o.requests.by_client.values()) / n for o in outcomes]
    last = outcomes[-1]
    queued = [value for o in outcomes for value in o.queued]
    run_times = [value for o in outcomes for value in o.run]
    top_calls = ", ".join(f"{call} {count / n:.1f}" for call, count in last.requests.operator_by_call.most_common(8))
    clients = ", ".join(f"{who} {count}" for who, count in last.requests.by_client.most_common())
    mb = lambda value: f"{value:.0f} MB"  # noqa: E731
    count = lambda value: f"{value:.1f}"  # noqa: E731
    return [
        Row(
            name,
            f"{n} Extensions applied at once → all Ready",
            *spread(ready_times),
            f"< {READY_TARGET:g} s, every run",
            max(ready_times) < READY_TARGET,
            note=f"Per run: {', '.join(seconds(value) for value in ready_times)}. "
            f"{runs}, each on a fresh cluster and data dir: {size.repos} ExtensionRepos ({size.repos // 2} "
            f"file://, {size.repos - size.repos // 2} https on the local git server, fetched for the first time) "
            f"with {size.per_repo} Extensions each, all in one `kubectl apply --server-side -f -`; the clock "
            "starts before kubectl and stops when a watch has seen every Extension with Ready=True.",
        ),
        Row(
            name,
            f"… → all {n} Tiltfiles terminated",
            *spread([o.all_terminated for o in outcomes]),
            note=f"Per run: {', '.join(seconds(o.all_terminated) for o in outcomes)}. "
            f"Until every owned Tiltfile has `status.terminated` (each registers one UIButton); runs that "
            f"ended in an error: {', '.join(str(o.failed) for o in outcomes)}.",
        ),
        Row(
            name,
            "… each Tiltfile: created → running → terminated",
            f"{seconds(median(queued))} → {seconds(median(run_times))}",
            f"{seconds(percentile(queued, 95))} → {seconds(percentile(run_times, 95))}",
            note="Per Tiltfile, as the watch saw it: from the object's creation until its status says running "
            "(waiting for one of the operator's worker slots), and from running until terminated (the worker, "
            "then the apply and prune of what it registered).",
        ),
        Row(name, "… kubectl apply returned", *spread([o.apply for o in outcomes]), note="The kubectl process alone."),
        Row(
            name,
            "operator peak RSS",
            *spread(rss, mb),
            f"< {RSS_TARGET_MB} MB, every run",
            max(rss) < RSS_TARGET_MB,
            note=f"Per run: {', '.join(mb(value) for value in rss)}. "
            "VmHWM of the `python -m tilt_operator run` process, sampled every 50 ms. Tiltfile workers "
            f"are separate processes: {last.workers} seen in the last run, at most {last.max_concurrent_workers} "
            "at once (the operator's worker slots); a worker lives about 100 ms, so sampling undercounts its "
            f"peak (at most {last.worker_peak_mb:.0f} MB seen here; row 4 has one worker's exact peak).",
        ),
        Row(
            name,
            "API requests per Extension (operator)",
            *spread(per_extension, count),
            note=f"Requests by the operator's clients (user agents kopf/ and OpenAPI-Generator/) in the API "
            f"server's audit log from the apply until every Tiltfile ran, divided by {n}; all clients together "
            f"{median(total_per_extension):.1f} per Extension. Last run by client: {clients}. The operator's "
            f"per Extension by call: {top_calls}. Requests while idle for {IDLE_SECONDS:g} s afterwards: "
            f"{last.idle_requests}.",
        ),
        Row(
            name,
            "CPU: operator / its children / control plane",
            " / ".join(
                f"{median(values):.0f} s"
                for values in (
                    [o.operator_cpu for o in outcomes],
                    [o.children_cpu for o in outcomes],
                    [o.control_plane_cpu for o in outcomes],
                )
            ),
            note="CPU seconds (user + system) from the apply until every Tiltfile ran, from /proc/<pid>/stat: "
            "the operator process, its reaped children (Tiltfile workers and git), and etcd, kube-apiserver "
            f"and kube-controller-manager together. The machine has {os.cpu_count()} cores for all of them.",
        ),
    ]
