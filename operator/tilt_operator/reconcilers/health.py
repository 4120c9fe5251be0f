"""How an applied object is doing, in kstatus's three words, as Flux's health checks read them.

``Current`` (it is what its spec asks), ``InProgress`` (it is getting there) or ``Failed`` (it
will not get there by itself), with a message. The rules are kstatus's (sigs.k8s.io/cli-utils):
the generic ones for every kind (being deleted, an ``observedGeneration`` behind, a
``Reconciling`` or ``Stalled`` condition), then those of the kinds Kubernetes ships with a status
to wait for; any other kind is Current once it exists. A KubernetesApply is Ready when every
object it applied is Current (docs/design.md, "KubernetesApply").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"

Health = tuple[str, str]


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def _is(status: Mapping[str, Any], kind: str, value: str = "True") -> bool:
    return _condition(status, kind).get("status") == value


def health(obj: Mapping[str, Any]) -> Health:
    """The kstatus of ``obj`` as the API server returned it."""
    metadata, status = obj.get("metadata") or {}, obj.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return IN_PROGRESS, "being deleted"
    observed = status.get("observedGeneration")
    if observed is not None and metadata.get("generation") is not None and observed < metadata["generation"]:
        return IN_PROGRESS, f"generation {metadata['generation']} not yet observed"
    if _is(status, "Stalled"):
        return FAILED, str(_condition(status, "Stalled").get("message") or "stalled")
    if _is(status, "Reconciling"):
        return IN_PROGRESS, str(_condition(status, "Reconciling").get("message") or "reconciling")
    rule = _RULES.get(str(obj.get("kind")))
    return rule(obj.get("spec") or {}, status) if rule else (CURRENT, "exists")


def _replicas(want: int, status: Mapping[str, Any], *fields: str) -> Health | None:
    for field in fields:
        have = int(status.get(field) or 0)
        if have < want:
            return IN_PROGRESS, f"{field}: {have}/{want}"
    return None


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return FAILED, str(progressing.get("message") or "progress deadline exceeded")
    want = int(spec.get("replicas", 1))
    short = _replicas(want, status, "updatedReplicas", "readyReplicas", "availableReplicas")
    if short:
        return short
    if int(status.get("replicas") or 0) > want:
        return IN_PROGRESS, f"old replicas pending termination: {status.get('replicas')}/{want}"
    if not _is(status, "Available"):
        return IN_PROGRESS, "not Available"
    return CURRENT, f"{want} replicas available"


def _stateful_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    want = int(spec.get("replicas", 1))
    short = _replicas(want, status, "readyReplicas", "currentReplicas")
    if short:
        return short
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return IN_PROGRESS, f"rolling out revision {status.get('updateRevision')}"
    return CURRENT, f"{want} replicas ready"


def _daemon_set(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    want = int(status.get("desiredNumberScheduled") or 0)
    short = _replicas(
        want, status, "currentNumberScheduled", "updatedNumberScheduled", "numberAvailable", "numberReady"
    )
    return short or (CURRENT, f"{want} pods ready")


def _replica_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    if _is(status, "ReplicaFailure"):
        return FAILED, str(_condition(status, "ReplicaFailure").get("message") or "replica failure")
    want = int(spec.get("replicas", 1))
    return _replicas(want, status, "readyReplicas", "availableReplicas") or (CURRENT, f"{want} replicas ready")


def _pod(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    phase = status.get("phase")
    if phase == "Succeeded":
        return CURRENT, "succeeded"
    if phase == "Failed":
        return FAILED, str(status.get("message") or status.get("reason") or "failed")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerError"):
            return FAILED, f"container {container.get('name')}: {waiting['reason']}"
    if phase == "Running" and _is(status, "Ready"):
        return CURRENT, "running and ready"
    return IN_PROGRESS, f"phase {phase or 'Pending'}"


def _job(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    if _is(status, "Failed"):
        return FAILED, str(_condition(status, "Failed").get("message") or "failed")
    if _is(status, "Complete"):
        return CURRENT, "complete"
    return IN_PROGRESS, "running"


def _claim(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    return (CURRENT, "bound") if status.get("phase") == "Bound" else (IN_PROGRESS, f"phase {status.get('phase')}")


def _service(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    if spec.get("type") == "LoadBalancer" and not (status.get("loadBalancer") or {}).get("ingress"):
        return IN_PROGRESS, "waiting for a load balancer"
    return CURRENT, "exists"


def _namespace(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    return (IN_PROGRESS, "terminating") if status.get("phase") == "Terminating" else (CURRENT, "active")


def _crd(_: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    if _is(status, "NamesAccepted", "False"):
        return FAILED, str(_condition(status, "NamesAccepted").get("message") or "names not accepted")
    return (CURRENT, "established") if _is(status, "Established") else (IN_PROGRESS, "not yet established")


_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Health]] = {
    "Deployment": _deployment,
    "StatefulSet": _stateful_set,
    "DaemonSet": _daemon_set,
    "ReplicaSet": _replica_set,
    "Pod": _pod,
    "Job": _job,
    "PersistentVolumeClaim": _claim,
    "Service": _service,
    "Namespace": _namespace,
    "CustomResourceDefinition": _crd,
}
