"""The live side of the benchmarks: a local control plane, the operator, and instruments around them.

Reuses the integration tests' pieces (``DevCluster``, the ``Operator`` that runs
``python -m tilt_operator run`` as a user would), so a benchmark measures what the tests prove.
The instruments only watch: a watch per kind that notes when each object first reaches a state,
a sampler of the operator's memory and its Tiltfile hosts from /proc, and the API server's
audit log, which (unlike its metrics) says which client made each request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from tests.integration.conftest import Operator

from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.dev import install_api
from tilt_operator.devcluster.pki import Pki

GROUP, VERSION = "tilt.dev", "v1alpha1"
BENCH_USER_AGENT = "tilt-operator-bench"
# kopf's own client, and the kubernetes client the operator's kube module uses.
OPERATOR_USER_AGENTS = {"kopf/": "operator (kopf)", "tilt-operator": "operator (kube.py)"}
_AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


@dataclass
class AuditedCluster(DevCluster):
    """The dev cluster with an audit log of every request, so requests can be counted per client."""

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    def _apiserver_args(self, pki: Pki, etcd_url: str) -> list[str]:
        policy = self.state_dir / "audit-policy.yaml"
        policy.write_text(_AUDIT_POLICY)
        return [
            *super()._apiserver_args(pki, etcd_url),
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
        ]


@contextmanager
def running_cluster(state_dir: Path) -> Iterator[AuditedCluster]:
    """A fresh cluster with the CRDs and the account extensions act as installed, per benchmark, so no
    benchmark sees another's objects."""
    cluster = AuditedCluster(ensure_binaries(), state_dir)
    with cluster:
        install_api(cluster)
        yield cluster


# Set by ``bench.run --profile DIR``: every operator a benchmark starts is sampled by py-spy into DIR.
profile_dir: Path | None = None


@contextmanager
def running_operator(
    cluster: DevCluster,
    workdir: Path,
    env: dict[str, str] | None = None,
    *,
    exec_enabled: bool = False,
    leader_elect: bool = False,
) -> Iterator[Operator]:
    """The operator as users start it, with the integration tests' limits; stopped on exit."""
    operator = Operator(
        cluster,
        workdir,
        env={"TILT_OPERATOR_GIT_TIMEOUT": "60", **(env or {})},
        args=(*(("--exec",) if exec_enabled else ()), *(("--leader-elect",) if leader_elect else ())),
    )
    operator.start()
    profiler = _start_profiler(operator)
    try:
        yield operator
    finally:
        operator.stop()
        if profiler is not None:
            profiler.wait(60)


def _start_profiler(operator: Operator) -> subprocess.Popen[bytes] | None:
    """py-spy (``pip install py-spy``; not a dependency) writing collapsed stacks when the operator exits."""
    if profile_dir is None:
        return None
    assert operator.process is not None
    profile_dir.mkdir(parents=True, exist_ok=True)
    output = profile_dir / f"operator-{operator.process.pid}.txt"
    # --gil: only samples where a thread holds the GIL, i.e. where the operator spends CPU.
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--format", "raw", "--rate", "200"]
    return subprocess.Popen(
        [*command, "--pid", str(operator.process.pid), "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def custom_api(cluster: DevCluster) -> client.CustomObjectsApi:
    """The benchmark's own client, with a user agent of its own so the audit log tells it apart."""
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    api_client.user_agent = BENCH_USER_AGENT
    return client.CustomObjectsApi(api_client)


def kubectl_apply(cluster: DevCluster, manifest: str, *extra: str) -> None:
    """``kubectl apply -f -`` with the cluster's own kubectl, as a user would."""
    cluster.kubectl("apply", "-f", "-", *extra, stdin=manifest)


def manifest(objects: Iterable[dict[str, Any]]) -> str:
    """A multi-document YAML stream (JSON is YAML), one object per document."""
    return "\n---\n".join(json.dumps(obj) for obj in objects) + "\n"


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec}


def ready(item: dict[str, Any]) -> bool:
    conditions = item.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def running(item: dict[str, Any]) -> bool:
    return bool(item.get("status", {}).get("running"))


def terminated(item: dict[str, Any]) -> bool:
    return bool(item.get("status", {}).get("terminated"))


class Milestones:
    """Watches one kind and notes the monotonic time each object first satisfies each predicate.

    A watch rather than polling: the event arrives as the API server commits the write, and
    polling 500 objects would itself load the machine being measured.
    """

    def __init__(self, api: client.CustomObjectsApi, plural: str, predicates: dict[str, Callable[[dict], bool]]):
        self._api, self._plural, self._predicates = api, plural, predicates
        self.seen: dict[str, dict[str, float]] = {key: {} for key in predicates}
        self.latest: dict[str, dict[str, Any]] = {}
        # When the latest version of each object arrived.
        self.latest_at: dict[str, float] = {}
        self._changed = threading.Condition()
        self._watch = watch.Watch()
        self._stopped = False
        self._version = self._relist()
        self._thread = threading.Thread(target=self._run, name=f"watch-{plural}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            try:
                for event in self._watch.stream(
                    self._api.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    self._plural,
                    resource_version=self._version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=300,
                ):
                    item = event["object"]
                    self._version = item["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._note([item])
            except Exception:
                # A dropped or expired watch: list again (noting what changed meanwhile) and resume.
                while not self._stopped:
                    time.sleep(0.1)
                    try:
                        self._version = self._relist()
                        break
                    except Exception:
                        continue

    def _relist(self) -> str:
        listing = self._api.list_cluster_custom_object(GROUP, VERSION, self._plural)
        self._note(listing["items"])
        return listing["metadata"]["resourceVersion"]

    def _note(self, items: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._changed:
            for item in items:
                name = item["metadata"]["name"]
                self.latest[name] = item
                self.latest_at[name] = now
                for key, predicate in self._predicates.items():
                    if name not in self.seen[key] and predicate(item):
                        self.seen[key][name] = now
            self._changed.notify_all()

    def wait(self, key: str, names: Iterable[str], timeout: float) -> dict[str, float]:
        """The times the named objects reached ``key``; raises if some did not within ``timeout``."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not wanted <= self.seen[key].keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(wanted - self.seen[key].keys())
                    raise TimeoutError(f"{len(missing)} {self._plural} never reached {key}, e.g. {missing[:3]}")
                self._changed.wait(min(left, 1.0))
            return {name: self.seen[key][name] for name in wanted}

    def until(self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> float:
        """When the watch delivered a version of ``name`` that satisfies ``predicate`` (waiting for one)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while name not in self.latest or not predicate(self.latest[name]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._plural}/{name} never reached the state waited for")
                self._changed.wait(min(left, 1.0))
            return self.latest_at[name]

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> set[int]:
    pids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                pids.update(int(child) for child in children.read().split())
    except OSError:
        pass
    return pids


def _is_worker(pid: int) -> bool:
    """A Tiltfile host, not one of the git commands the operator also runs as children."""
    try:
        return b"tiltfile-host" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def workers_of(pid: int) -> set[int]:
    """The operator's Tiltfile hosts alive now."""
    return {child for child in _children(pid) if _is_worker(child)}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of the process itself, and of its children it has reaped (the Tiltfile hosts)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # After the comm field: utime, stime, cutime, cstime are fields 14-17 of stat(5).
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) / ticks, (cutime + cstime) / ticks


@dataclass
class ProcessSampler:
    """Samples the operator's peak RSS (VmHWM) and its Tiltfile hosts every ``interval`` seconds."""

    pid: int
    interval: float = 0.05
    peak_kib: int = 0
    workers_seen: set[int] = field(default_factory=set)
    max_concurrent: int = 0
    worker_peak_kib: int = 0
    # The operator and its workers' resident memory at one moment, at its highest.
    together_peak_kib: int = 0
    # (monotonic time, VmRSS in KiB) of the operator at each sample: when the peak happened.
    rss_kib: list[tuple[float, int]] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "VmHWM"))
            rss = _status_kib(self.pid, "VmRSS")
            self.rss_kib.append((time.monotonic(), rss))
            children = workers_of(self.pid)
            self.workers_seen |= children
            self.max_concurrent = max(self.max_concurrent, len(children))
            together = rss
            for child in children:
                self.worker_peak_kib = max(self.worker_peak_kib, _status_kib(child, "VmHWM"))
                together += _status_kib(child, "VmRSS")
            self.together_peak_kib = max(self.together_peak_kib, together)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "VmHWM"))


def client_of(user_agent: str) -> str:
    for prefix, who in OPERATOR_USER_AGENTS.items():
        if user_agent.startswith(prefix):
            return who
    if user_agent.startswith(BENCH_USER_AGENT):
        return "bench watches"
    return user_agent.split("/", 1)[0] or "unknown"


@dataclass
class AuditCount:
    """Requests per client, and the operator's per verb and resource, from an audit log."""

    by_client: Counter[str]
    operator_by_call: Counter[str]

    @property
    def operator(self) -> int:
        return sum(self.by_client[who] for who in OPERATOR_USER_AGENTS.values())

    def top_calls(self, per: int, limit: int) -> str:
        """The operator's ``limit`` most made calls, each count divided by ``per``: "patch tiltfiles 1.0, ..."."""
        return ", ".join(f"{call} {made / per:.1f}" for call, made in self.operator_by_call.most_common(limit))


def count_requests(audit_log: Path, since_line: int = 0) -> tuple[AuditCount, int]:
    """Count requests logged after line ``since_line``; returns the count and the log's line count now.

    One request is one auditID (a watch has a ResponseStarted and a ResponseComplete event).
    """
    seen: set[str] = set()
    by_client: Counter[str] = Counter()
    by_call: Counter[str] = Counter()
    lines = audit_log.read_text().splitlines() if audit_log.exists() else []
    for line in lines[since_line:]:
        event = json.loads(line)
        if event["auditID"] in seen:
            continue
        seen.add(event["auditID"])
        who = client_of(event.get("userAgent", ""))
        by_client[who] += 1
        if who in OPERATOR_USER_AGENTS.values():
            ref = event.get("objectRef") or {}
            resource = "/".join(part for part in (ref.get("resource"), ref.get("subresource")) if part)
            by_call[f"{event['verb']} {resource or event.get('requestURI', '?')}"] += 1
    return AuditCount(by_client, by_call), len(lines)
