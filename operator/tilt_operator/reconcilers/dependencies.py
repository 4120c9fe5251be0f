"""Tilt's ``resource_deps``: when a resource is ready, and what an object waits for before it runs.

A Cmd (``local_resource``) and a KubernetesApply (a k8s resource) annotated
``tilt.dev/resource-deps`` do not start, or apply, until each of those resources is ready: it has
Cmds or a KubernetesApply, each Cmd ready (running, and its probe says so) or succeeded (an update
that ran), each KubernetesApply Ready (applied, every object Current). As in Tilt, where a
resource waits for its dependencies before its first build or deploy (docs/design.md,
"local_resource" and "KubernetesApply").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tilt_operator.api import ANNOTATION_RESOURCE, ANNOTATION_RESOURCE_DEPS
from tilt_operator.reconcilers.status import current_ready


def succeeded_at(status: Mapping[str, Any]) -> str | None:
    """When the process a Cmd's status describes ended with exit code 0 (None: it did not, or runs)."""
    terminated = status.get("terminated") or {}
    return str(terminated["finishedAt"]) if terminated.get("exitCode") == 0 and terminated.get("pid") else None


def resource_ready(cmds: Sequence[Mapping[str, Any]], deploys: Sequence[Mapping[str, Any]] = ()) -> bool:
    """Whether a resource, made of ``cmds`` and ``deploys``, is ready as resource_deps wait for it."""
    return (
        bool(cmds or deploys)
        and all((cmd.get("status") or {}).get("ready") or succeeded_at(cmd.get("status") or {}) for cmd in cmds)
        and all(_applied(deploy) for deploy in deploys)
    )


def _applied(deploy: Mapping[str, Any]) -> bool:
    ready = current_ready(deploy)
    return ready is not None and ready.get("status") == "True"


def waiting_for_resources(
    obj: Mapping[str, Any], cmds: Sequence[Mapping[str, Any]], deploys: Sequence[Mapping[str, Any]]
) -> str | None:
    """The first of ``obj``'s resource_deps that is not ready, said as Tilt says it (None: all are),
    among every Cmd in ``cmds`` and KubernetesApply in ``deploys``."""
    annotations = obj["metadata"].get("annotations") or {}
    for dep in filter(None, str(annotations.get(ANNOTATION_RESOURCE_DEPS, "")).split(",")):
        of_dep = [cmd for cmd in cmds if resource_of(cmd) == dep]
        if not resource_ready(of_dep, [deploy for deploy in deploys if resource_of(deploy) == dep]):
            return f"waiting for resource {dep} to be ready"
    return None


def resource_of(obj: Mapping[str, Any]) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(ANNOTATION_RESOURCE)
