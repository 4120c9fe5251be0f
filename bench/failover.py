"""Benchmark 8: how long two replicas go without a leader, after a crash and after a graceful stop.

Two operators with ``--leader-elect`` and the default Lease timings (15 s lease, 10 s renew
deadline, 2 s retry) against one cluster. Each round stops the leader and creates an
ExtensionRepo (a file:// directory) at once; the new leader's first reconcile is that repo turning
Ready, as a watch sees it. The stopped replica starts again as the standby for the next round.

- SIGKILL, as a crash or an OOM kill: nobody releases the Lease, so the standby waits it out. From
  the Lease's expiry (its last ``renewTime`` plus ``leaseDurationSeconds``, read just before the
  kill) to the first reconcile: what election adds beyond the lease itself.
- SIGTERM, as a rollout or a drain: the leader releases the Lease on its way out. From the signal
  to the first reconcile.
"""

from __future__ import annotations

import json
import signal
import time
from contextlib import ExitStack
from pathlib import Path

from tests.integration.conftest import Operator

from bench.common import Row, median, percentile, seconds
from bench.harness import GROUP, VERSION, Milestones, custom_api, obj, ready, running_cluster, running_operator
from tilt_operator import timestamps
from tilt_operator.config import DEFAULT_NAMESPACE

LEASE = "tilt-operator"
TERM_TARGET = 5.0


def _lease(cluster) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(cluster.kubectl("get", "lease", LEASE, "-n", DEFAULT_NAMESPACE, "-o", "json").stdout)


def _leader(cluster, replicas: list[Operator]) -> Operator:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        holder = cluster.kubectl(
            "get", "lease", LEASE, "-n", DEFAULT_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}", check=False
        ).stdout
        for replica in replicas:
            if holder.startswith(f"{replica.env['TILT_OPERATOR_POD_NAME']}_") and replica.process.poll() is None:
                return replica
        time.sleep(0.1)
    raise TimeoutError("no replica took the lease")


def _round(cluster, api, replicas: list[Operator], workdir: Path, index: int, how: signal.Signals) -> float:  # type: ignore[no-untyped-def]
    leader = _leader(cluster, replicas)
    lease = _lease(cluster)["spec"]
    expiry = timestamps.parse(lease["renewTime"]).timestamp() + lease["leaseDurationSeconds"]
    name = f"failover-{how.name.lower()}-{index}"
    directory = workdir / name
    directory.mkdir()
    repos = Milestones(api, "extensionrepos", {})
    try:
        leader.process.send_signal(how)
        stopped = time.time()
        api.create_cluster_custom_object(
            GROUP, VERSION, "extensionrepos", obj("ExtensionRepo", name, {"url": f"file://{directory}"})
        )
        reconciled_at = repos.until(name, ready, 60)
    finally:
        repos.stop()
    leader.process.wait(60)
    leader.start()  # the next round's standby
    reconciled = time.time() - (time.monotonic() - reconciled_at)
    return reconciled - (expiry if how == signal.SIGKILL else stopped)


def run(workdir: Path, *, quick: bool) -> list[Row]:
    rounds = 2 if quick else 5
    with ExitStack() as stack:
        cluster = stack.enter_context(running_cluster(workdir / "cluster"))
        cluster.kubectl("create", "namespace", DEFAULT_NAMESPACE)
        replicas = [
            stack.enter_context(
                running_operator(
                    cluster,
                    workdir / f"replica-{index}",
                    {"TILT_OPERATOR_POD_NAME": f"replica-{index}"},
                    leader_elect=True,
                )
            )
            for index in (0, 1)
        ]
        api = custom_api(cluster)
        killed = [_round(cluster, api, replicas, workdir, index, signal.SIGKILL) for index in range(rounds)]
        terminated = [_round(cluster, api, replicas, workdir, index, signal.SIGTERM) for index in range(rounds)]
    name = "8 failover"
    how = f"median of {rounds}; two replicas, Lease timings 15 s / 10 s / 2 s"
    return [
        Row(
            name,
            "leader SIGKILLed: Lease expiry → the new leader's first reconcile",
            seconds(median(killed)),
            seconds(percentile(killed, 95)),
            note=f"{how}. Per round: {', '.join(seconds(value) for value in killed)}. The standby takes the Lease "
            "at its first try after the lease has not moved for 15 s by its own clock, then reconciles from its warm "
            "cache; the time from the kill itself is about 15 s more.",
        ),
        Row(
            name,
            "leader SIGTERMed: signal → the new leader's first reconcile",
            seconds(median(terminated)),
            seconds(percentile(terminated, 95)),
            target=f"< {TERM_TARGET:g} s",
            met=max(terminated) < TERM_TARGET,
            note=f"{how}. Per round: {', '.join(seconds(value) for value in terminated)}. The leader stops its work, "
            "releases the Lease, and the standby takes it at its next try (every 2 s).",
        ),
    ]
