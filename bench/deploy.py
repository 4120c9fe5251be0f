"""Benchmark 10: an Extension that deploys, from created to its YAML applied in the cluster.

Each Extension's Tiltfile registers a KubernetesApply of 20 ConfigMaps in a namespace of its own
(docs/design.md, "KubernetesApply"); the operator applies them as the extension's ServiceAccount,
which a Role in that namespace lets write ConfigMaps. The clock starts before the Extension is
created and stops when a watch sees the KubernetesApply Ready (every object applied). One
Extension at a time, then 50 at once. Objects of the YAML that report health (a Deployment's
rollout) are not waited for: what the YAML holds are ConfigMaps, Current as soon as they exist.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from bench.common import Row, median, percentile, seconds
from bench.harness import (
    Milestones,
    count_requests,
    custom_api,
    kubectl_apply,
    manifest,
    obj,
    ready,
    running_cluster,
    running_operator,
)
from tilt_operator.config import DEFAULT_NAMESPACE

OBJECTS = 20
AT_ONCE = 50
ACCOUNT = "bench-deploy"
ONE_TARGET, MANY_TARGET = 1.0, 15.0


def _yaml(namespace: str) -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}", "namespace": namespace},
                "data": {"i": str(i)},
            }
            for i in range(OBJECTS)
        ]
    )


def _tiltfile(name: str) -> str:
    return f"v1alpha1.kubernetes_apply(name={name!r}, yaml={json.dumps(_yaml(name))})\n"


def _rights(names: list[str]) -> list[dict]:
    """The account, the Tilt API, and in each namespace a Role that lets it write ConfigMaps."""
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": DEFAULT_NAMESPACE}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{ACCOUNT}-tilt"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tilt-extension"},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": DEFAULT_NAMESPACE}],
        },
    ]
    for name in names:
        objects += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "configmaps", "namespace": name},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch", "delete"]}
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "configmaps", "namespace": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
                "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": DEFAULT_NAMESPACE}],
            },
        ]
    return objects


def _extensions(names: list[str], repos: Path) -> list[dict]:
    objects = [obj("ExtensionRepo", "deploys", {"url": f"file://{repos}"})]
    for name in names:
        (repos / name).mkdir(parents=True, exist_ok=True)
        (repos / name / "Tiltfile").write_text(_tiltfile(name))
        spec = {"repoName": "deploys", "repoPath": name, "serviceAccountName": ACCOUNT}
        objects.append(obj("Extension", name, spec))
    return objects


def run(workdir: Path, *, quick: bool) -> list[Row]:
    repetitions = 3 if quick else 10
    ones = [f"one-{n}" for n in range(repetitions + 1)]
    many = [f"many-{n:02d}" for n in range(AT_ONCE)]
    one_times: list[float] = []
    with running_cluster(workdir / "cluster") as cluster, running_operator(cluster, workdir / "operator"):
        kubectl_apply(cluster, manifest(_rights(ones + many)))
        api = custom_api(cluster)
        applies = Milestones(api, "kubernetesapplys", {"ready": ready})
        repos = workdir / "repos"
        repos.mkdir()
        try:
            kubectl_apply(cluster, manifest(_extensions([], repos)))
            # The first one (discovery, the first token of the account) is not counted.
            for index, name in enumerate(ones):
                start = time.monotonic()
                kubectl_apply(cluster, manifest(_extensions([name], repos)[1:]))
                done = applies.wait("ready", [name], timeout=60)[name] - start
                if index:
                    one_times.append(done)
            _, audit_start = count_requests(cluster.audit_log)
            start = time.monotonic()
            kubectl_apply(cluster, manifest(_extensions(many, repos)[1:]), "--server-side")
            many_done = max(applies.wait("ready", many, timeout=600).values()) - start
            requests, _ = count_requests(cluster.audit_log, audit_start)
        finally:
            applies.stop()
        applied = cluster.kubectl("get", "configmaps", "-A", "-l", "app.kubernetes.io/managed-by=tilt", "-o", "name")
        count = len(applied.stdout.split())
    expected = OBJECTS * (len(ones) + len(many))
    if count != expected:
        raise RuntimeError(f"{count} ConfigMaps applied, {expected} expected")
    return [
        Row(
            "10 deploy",
            f"Extension created → its {OBJECTS}-object YAML applied (KubernetesApply Ready)",
            seconds(median(one_times)),
            seconds(percentile(one_times, 95)),
            f"≤ {ONE_TARGET:g} s",
            median(one_times) <= ONE_TARGET,
            note=f"{len(one_times)} Extensions one after another (one more first, not counted), each with its own "
            f"namespace and a Role there, applied as the account {ACCOUNT} by impersonation.",
        ),
        Row(
            "10 deploy",
            f"{AT_ONCE} such Extensions at once → every YAML applied",
            seconds(many_done),
            seconds(many_done),
            f"≤ {MANY_TARGET:g} s",
            many_done <= MANY_TARGET,
            note=f"One `kubectl apply --server-side`; {AT_ONCE * OBJECTS} ConfigMaps. The operator made "
            f"{requests.operator} API requests for it ({requests.operator / AT_ONCE:.1f} per Extension); per "
            f"Extension by call: {requests.top_calls(per=AT_ONCE, limit=12)}.",
        ),
    ]
