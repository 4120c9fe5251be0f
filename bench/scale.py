"""Benchmark 2: many Extensions applied at once, on a 2-core machine: 50 and 500.

50 Extensions come from five file:// repos (the size Tilt was measured at beside this operator).
500 come from 50 repos, half file:// directories and half https repos on the integration tests'
git server, fetched for the first time. One ``kubectl apply --server-side`` creates them all;
watches note when every Extension is Ready and every Tiltfile has run. Meanwhile /proc says how
much memory and CPU the operator and its Tiltfile hosts take, and the API server's audit log
says how many requests the operator made for it all. Each run gets a fresh cluster and data dir.
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
    workers_of,
)
from bench.latency import TILTFILE

RSS_TARGET_MB = 200
IDLE_SECONDS = 10.0
CPU_PER_EXTENSION_TARGET = 0.022
REQUESTS_PER_EXTENSION_TARGET = 12


@dataclass(frozen=True)
class Size:
    repos: int
    per_repo: int
    # All seconds from the apply until every Tiltfile has terminated.
    target: float
    https: bool = True

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
    # Per Tiltfile, seconds from created to running (waiting for a free host) and from running to terminated.
    queued: list[float]
    run: list[float]
    peak_rss_mb: float
    workers: int
    max_concurrent_workers: int
    worker_peak_mb: float
    operator_cpu: float
    workers_cpu: float
    children_cpu: float
    control_plane_cpu: float
    together_peak_mb: float
    requests: AuditCount
    idle_requests: int


def _repos(size: Size, workdir: Path, server: GitServer) -> list[dict]:
    """Half file:// directories, half https repos, each holding ``per_repo`` extension directories."""
    files = {f"e{index}/Tiltfile": TILTFILE for index in range(size.per_repo)}
    repos = []
    for number in range(size.repos):
        name = f"repo-{number:02d}"
        if number % 2 and size.https:
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
        workers_before = {worker: cpu_seconds(worker)[0] for worker in workers_of(pid)}
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
        workers_after = {worker: cpu_seconds(worker)[0] for worker in workers_of(pid)}
        workers_cpu = sum(after - workers_before.get(worker, 0.0) for worker, after in workers_after.items())
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
        workers_cpu=workers_cpu,
        children_cpu=cpu_after[1] - cpu_before[1],
        control_plane_cpu=control_plane_cpu,
        together_peak_mb=sampler.together_peak_kib / 1024,
        requests=requests,
        idle_requests=idle.operator,
    )


def run(workdir: Path, *, quick: bool) -> list[Row]:
    sizes = [Size(5, 10, target=1.0, https=False)] + ([] if quick else [Size(50, 10, target=8.0)])
    runs = 1 if quick else 3
    server = GitServer(workdir / "git")
    server.start()
    rows = []
    try:
        for size in sizes:
            repos = _repos(size, workdir / f"repos-{size.extensions}", server)
            outcomes = [
                one_run(workdir / f"run-{size.extensions}-{number}", size, repos, server) for number in range(runs)
            ]
            rows += _rows(outcomes, size)
    finally:
        server.stop()
    return rows


def _rows(outcomes: list[Outcome], size: Size) -> list[Row]:
    n = size.extensions
    name = f"2 scale ({n})"
    runs = f"{len(outcomes)} run{'s' if len(outcomes) > 1 else ''}"
    where = (
        f"{size.repos} ExtensionRepos ({size.repos // 2} file://, {size.repos - size.repos // 2} https on the local "
        "git server, fetched for the first time)"
        if size.https
        else f"{size.repos} file:// ExtensionRepos"
    )

    def spread(values: list[float], unit=seconds) -> tuple[str, str]:
        return unit(median(values)), unit(percentile(values, 95))

    terminated_times = [o.all_terminated for o in outcomes]
    together = [o.together_peak_mb for o in outcomes]
    per_extension = [o.requests.operator / n for o in outcomes]
    total_per_extension = [sum(o.requests.by_client.values()) / n for o in outcomes]
    cpu_per_extension = [(o.operator_cpu + o.workers_cpu) / n for o in outcomes]
    last = outcomes[-1]
    queued = [value for o in outcomes for value in o.queued]
    run_times = [value for o in outcomes for value in o.run]
    top_calls = last.requests.top_calls(per=n, limit=8)
    clients = ", ".join(f"{who} {count}" for who, count in last.requests.by_client.most_common())
    mb = lambda value: f"{value:.0f} MB"  # noqa: E731
    count = lambda value: f"{value:.1f}"  # noqa: E731
    ms = lambda value: f"{value * 1000:.1f} ms"  # noqa: E731
    return [
        Row(
            name,
            f"{n} Extensions applied at once → all Tiltfiles terminated",
            *spread(terminated_times),
            f"≤ {size.target:g} s",
            median(terminated_times) <= size.target,
            note=f"Per run: {', '.join(seconds(value) for value in terminated_times)}. {runs}, each on a fresh "
            f"cluster and data dir: {where} with {size.per_repo} Extensions each, all in one `kubectl apply "
            "--server-side -f -`; the clock starts before kubectl and stops when a watch has seen every owned "
            "Tiltfile with `status.terminated` (each registers one UIButton and prints a line); runs that ended in "
            f"an error: {', '.join(str(o.failed) for o in outcomes)}.",
        ),
        Row(
            name,
            "… → all Extensions Ready",
            *spread([o.all_ready for o in outcomes]),
            note="Until a watch has seen every Extension with Ready=True: its Tiltfile's run succeeded.",
        ),
        Row(
            name,
            "… each Tiltfile: created → running → terminated",
            f"{seconds(median(queued))} → {seconds(median(run_times))}" if queued else "",
            f"{seconds(percentile(queued, 95))} → {seconds(percentile(run_times, 95))}" if queued else "",
            note="Per Tiltfile that showed running (a run says so once it has taken 100 ms), as the watch saw it: "
            "from the object's creation until running (waiting for a free host), and from running until terminated.",
        ),
        Row(name, "… kubectl apply returned", *spread([o.apply for o in outcomes]), note="The kubectl process alone."),
        Row(
            name,
            "CPU per Extension: operator and its Tiltfile hosts",
            *spread(cpu_per_extension, ms),
            f"≤ {CPU_PER_EXTENSION_TARGET * 1000:.0f} ms",
            median(cpu_per_extension) <= CPU_PER_EXTENSION_TARGET,
            note="CPU seconds (user + system, from /proc/<pid>/stat) of the operator process and of its warm "
            f"Tiltfile hosts from the apply until every Tiltfile ran, divided by {n}. Last run: operator "
            f"{last.operator_cpu:.1f} s, workers {last.workers_cpu:.1f} s, other children (git) "
            f"{last.children_cpu:.1f} s, etcd + kube-apiserver + kube-controller-manager "
            f"{last.control_plane_cpu:.1f} s; "
            f"the machine has {os.cpu_count()} cores for all of them.",
        ),
        Row(
            name,
            "API requests per Extension (operator)",
            *spread(per_extension, count),
            f"≤ {REQUESTS_PER_EXTENSION_TARGET}",
            median(per_extension) <= REQUESTS_PER_EXTENSION_TARGET,
            note=f"Requests by the operator's clients (user agents kopf/ and tilt-operator) in the API "
            f"server's audit log from the apply until every Tiltfile ran, divided by {n}, the repos' own included; "
            f"all clients together {median(total_per_extension):.1f} per Extension. Last run by client: {clients}. "
            f"The operator's per Extension by call: {top_calls}. Requests while idle for {IDLE_SECONDS:g} s "
            f"afterwards: {last.idle_requests}.",
        ),
        Row(
            name,
            "peak RSS: operator and its Tiltfile hosts",
            *spread(together, mb),
            f"< {RSS_TARGET_MB} MB",
            max(together) < RSS_TARGET_MB,
            note=f"Per run: {', '.join(mb(value) for value in together)}. The highest sum, sampled every 50 ms, "
            "of the resident memory of `python -m tilt_operator run` and of its Tiltfile hosts; the operator alone "
            f"peaked at {mb(last.peak_rss_mb)} (VmHWM), one host at {mb(last.worker_peak_mb)}, with "
            f"{last.max_concurrent_workers} hosts at once and {last.workers} seen in the last run.",
        ),
    ]
