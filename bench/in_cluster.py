"""Benchmark 9: the operator as users deploy it, on the local node: its image, its pods' start, a leader pod deleted.

The image is the repo's Dockerfile built by buildah (tilt_operator.devcluster.images); the node
(tilt_operator.devcluster.node) runs it from manifests/, two replicas with leader election.

- image size: unpacked, as ``docker images`` shows it.
- node start: from starting containerd to the node Ready and schedulable (the control plane is
  already up).
- pod created → Ready: a watch on the operator's pods notes when each appears and when the
  kubelet marks it Ready (its readiness probe passed); the first two, then every replacement.
- leader pod deleted → the other pod's first reconcile: ``kubectl delete pod`` of the Lease
  holder; as soon as the holder lets the Lease go, an ExtensionRepo of a directory no pod has (a
  reconcile that needs no network). The first status written to it, as a watch sees it, is the
  new leader at work.
"""

from __future__ import annotations

import contextlib
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from kubernetes import client, config, watch

from bench.common import Row, median, percentile, seconds
from bench.harness import GROUP, VERSION, Milestones, obj
from tilt_operator.config import DEFAULT_NAMESPACE
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.binaries import repo_root
from tilt_operator.devcluster.dev import deploy_operator
from tilt_operator.devcluster.images import ensure_image, image_size, pause_image
from tilt_operator.devcluster.node import cluster_with_node

LEASE = "tilt-operator"
SELECTOR = "app.kubernetes.io/name=tilt-operator"
FAILOVER_TARGET = 5.0


class PodTimes:
    """Watches the operator's pods: when each was first seen, and when it first turned Ready (monotonic)."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.created: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self._changed = threading.Condition()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(core,), daemon=True)
        self._thread.start()

    def _run(self, core: client.CoreV1Api) -> None:
        # The cluster stops under the watch at the end of the run: its stream ends one way or another.
        with contextlib.suppress(Exception):
            self._follow(core)

    def _follow(self, core: client.CoreV1Api) -> None:
        for event in self._watch.stream(
            core.list_namespaced_pod, DEFAULT_NAMESPACE, label_selector=SELECTOR, timeout_seconds=3600
        ):
            pod, now = event["object"], time.monotonic()
            name = pod.metadata.name
            conditions = {c.type: c.status for c in (pod.status.conditions or [])}
            with self._changed:
                self.created.setdefault(name, now)
                if conditions.get("Ready") == "True" and not pod.metadata.deletion_timestamp:
                    self.ready.setdefault(name, now)
                self._changed.notify_all()

    def until_ready(self, count: int, timeout: float = 300) -> list[str]:
        """Wait until ``count`` pods have turned Ready; their names."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.ready) >= count, timeout):
                raise TimeoutError(f"{count} pods not Ready after {timeout:.0f}s")
            return list(self.ready)

    def starts(self) -> list[float]:
        return [self.ready[name] - self.created[name] for name in self.ready]

    def stop(self) -> None:
        self._watch.stop()


def _holder(leases: client.CoordinationV1Api) -> str:
    """The pod that holds the Lease (its holder is ``<pod>_<random>``), or "" when nobody does."""
    try:
        lease = leases.read_namespaced_lease(LEASE, DEFAULT_NAMESPACE)
    except client.ApiException:
        return ""
    return str(lease.spec.holder_identity or "").rpartition("_")[0]


def _round(
    cluster: DevCluster, api: client.CustomObjectsApi, leases: client.CoordinationV1Api, pods: PodTimes, index: int
) -> float:
    deadline = time.monotonic() + 120
    while _holder(leases) not in pods.ready or len(pods.ready) < 2 + index:
        if time.monotonic() > deadline:
            raise TimeoutError("no Ready pod holds the Lease")
        time.sleep(0.05)
    leader = _holder(leases)
    name = f"failover-{index}"
    repos = Milestones(api, "extensionrepos", {})
    try:
        cluster.kubectl("delete", "pod", "-n", DEFAULT_NAMESPACE, leader, "--wait=false")
        deleted = time.monotonic()
        # Until the old leader has let the Lease go (on SIGTERM), it may still reconcile what is
        # created: the object is created once it has, so its first status is the new leader's.
        while _holder(leases) == leader:
            time.sleep(0.01)
        # No such directory in the pod: a reconcile that fails at once, with no network.
        repo = obj("ExtensionRepo", name, {"url": f"file:///nonexistent/{name}"})
        api.create_cluster_custom_object(GROUP, VERSION, "extensionrepos", repo)
        reconciled = repos.until(name, lambda item: bool(item.get("status", {}).get("conditions")), 120)
    finally:
        repos.stop()
    # The Deployment's replacement for the deleted pod is Ready before the next round.
    pods.until_ready(3 + index)
    return reconciled - deleted


def run(workdir: Path, *, quick: bool) -> list[Row]:
    rounds = 1 if quick else 3
    binaries = ensure_binaries()
    built = time.monotonic()
    image = ensure_image(binaries)
    build = time.monotonic() - built
    with ExitStack() as stack:
        started = time.monotonic()
        node = stack.enter_context(cluster_with_node(binaries, workdir / "cluster", [pause_image(), image]))
        node_start = time.monotonic() - started
        cluster = node.cluster
        cluster.install_crds(repo_root() / "crds")
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        pods = PodTimes(client.CoreV1Api(api_client))
        stack.callback(pods.stop)
        deploy_operator(node, image)
        pods.until_ready(2)
        api = client.CustomObjectsApi(api_client)
        leases = client.CoordinationV1Api(api_client)
        failovers = [_round(cluster, api, leases, pods, index) for index in range(rounds)]
        starts = pods.starts()
    name = "9 in cluster"
    return [
        Row(
            name,
            "the image (buildah, the Dockerfile on local Debian bases), unpacked",
            f"{image_size(image) / 1e6:.0f} MB",
            note=f"build in this run: {seconds(build)} (0 when this tree's image was cached). Most of it is "
            "the kubernetes client (128 MB of generated models), Debian with Python, git and ssh, and kubectl (76 MB).",
        ),
        Row(
            name,
            "node start: containerd, kubelet and kube-proxy → node Ready",
            seconds(node_start),
            note="containerd 1.6.20 and runc 1.1.5 from Debian 12, kubelet and kube-proxy from the pinned modules. "
            "About 10 s of it is containerd importing the image's 175 MB archive.",
        ),
        Row(
            name,
            "pod created → Ready (its readiness probe passed)",
            seconds(median(starts)),
            seconds(percentile(starts, 95)),
            note=f"{len(starts)} pods: the first two, then each replacement. Per pod: "
            f"{', '.join(seconds(value) for value in starts)}. The kubelet probes every 5 s (periodSeconds).",
        ),
        Row(
            name,
            "leader pod deleted → the other pod's first reconcile",
            seconds(median(failovers)),
            seconds(percentile(failovers, 95)),
            target=f"< {FAILOVER_TARGET:g} s",
            met=max(failovers) < FAILOVER_TARGET,
            note=f"median of {rounds}. Per round: {', '.join(seconds(value) for value in failovers)}. The kubelet "
            "sends SIGTERM, the leader releases the Lease, the standby takes it at its next try (every 2 s).",
        ),
    ]
