"""The objects a KubernetesApply deploys, as plain data: read from its YAML, marked as its own, and
what a new apply leaves to prune (docs/design.md, "KubernetesApply").

Every object gets Tilt's ``app.kubernetes.io/managed-by: tilt`` label, the
``tilt.dev/kubernetesapply`` label naming its KubernetesApply, and an ownerReference to it, so the
garbage collector deletes what an Extension deployed with the Extension. The KubernetesApply's
``status.inventory`` lists what it applied; an object the YAML no longer has is pruned.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from tilt_operator.api import API_VERSION, KUBERNETES_APPLY
from tilt_operator.reconcilers.health import health

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_TILT = "tilt"
LABEL_APPLY = "tilt.dev/kubernetesapply"
# Where a namespaced object without one goes: k8s_namespace() in a Tiltfile.
DEFAULT_NAMESPACE = "default"
# What must exist before the rest can be applied: namespaces, kinds, identities and their rights.
_FIRST = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
)

Key = tuple[str, str, str, str]


class ManifestError(ValueError):
    """YAML that no apply can take: not YAML, or a document that is not a Kubernetes object."""


def documents(text: str, what: str = "spec.yaml") -> list[dict[str, Any]]:
    """The objects in ``text`` (``what``) in apply order (namespaces and kinds first), ``kind: List`` unfolded."""
    try:
        loaded = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ManifestError(f"{what} is not YAML: {error}") from None
    found: list[dict[str, Any]] = []
    for number, doc in enumerate(loaded, 1):
        items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        for item in items or []:
            found.append(_checked(item, number, what))
    return sorted(found, key=lambda obj: _FIRST.index(obj["kind"]) if obj["kind"] in _FIRST else len(_FIRST))


def _checked(obj: Any, number: int, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ManifestError(f"document {number} of {what} is not a Kubernetes object")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    for field, value in (("apiVersion", obj.get("apiVersion")), ("kind", obj.get("kind")), ("metadata.name", name)):
        if not isinstance(value, str) or not value:
            raise ManifestError(f"document {number} of {what} has no {field}")
    return obj


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` or ``Kind name``, as the API server's messages name an object."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return f"{obj['kind']} {namespace + '/' if namespace else ''}{metadata['name']}"


def key(obj: Mapping[str, Any]) -> Key:
    """Which object: its group (not its version, one object whatever version names it), kind,
    namespace and name."""
    metadata = obj.get("metadata") or obj
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return group, str(obj["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"])


def owned(obj: Mapping[str, Any], apply: Mapping[str, Any], *, namespaced: bool) -> dict[str, Any]:
    """``obj`` as the KubernetesApply ``apply`` deploys it: in a namespace if its kind has them,
    labelled, and owned by ``apply``."""
    metadata = dict(obj["metadata"])
    if namespaced:
        metadata["namespace"] = metadata.get("namespace") or DEFAULT_NAMESPACE
    else:
        metadata.pop("namespace", None)
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        LABEL_MANAGED_BY: MANAGED_BY_TILT,
        LABEL_APPLY: apply["metadata"]["name"],
    }
    reference = {
        "apiVersion": API_VERSION,
        "kind": KUBERNETES_APPLY.kind,
        "name": apply["metadata"]["name"],
        "uid": apply["metadata"]["uid"],
    }
    metadata["ownerReferences"] = [*(metadata.get("ownerReferences") or []), reference]
    return {**obj, "metadata": metadata}


def entry(obj: Mapping[str, Any]) -> dict[str, str]:
    """The inventory's record of an applied object, with its health as the API server returned it."""
    metadata = obj["metadata"]
    found = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": metadata["name"]}
    if metadata.get("namespace"):
        found["namespace"] = metadata["namespace"]
    if metadata.get("uid"):
        found["uid"] = metadata["uid"]
    found["health"], found["message"] = health(obj)
    return found


def inventory(
    previous: Sequence[Mapping[str, Any]], applied: Iterable[Mapping[str, Any]], kept: set[Key]
) -> list[dict[str, str]]:
    """What the KubernetesApply owns after an apply: what it applied now, and of what it had, what
    ``kept`` names (wanted still, but refused this time; or a prune that failed)."""
    now = {key(entry(obj)): entry(obj) for obj in applied}
    for old in previous:
        if key(old) in kept and key(old) not in now:
            now[key(old)] = dict(old)
    return [now[k] for k in sorted(now)]


def to_prune(previous: Sequence[Mapping[str, Any]], wanted: set[Key]) -> list[Mapping[str, Any]]:
    """The inventory's objects the YAML no longer has."""
    return [old for old in previous if key(old) not in wanted]


def result_yaml(applied: Iterable[Mapping[str, Any]]) -> str:
    """The applied objects as the API server returned them, without their managed fields (Tilt's resultYAML)."""
    trimmed = [
        {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}} for obj in applied
    ]
    return yaml.safe_dump_all(trimmed, sort_keys=False)


def input_hash(spec: Mapping[str, Any], account: str, restart: Mapping[str, Any] | None = None) -> str:
    """A hash of everything an apply depends on: the spec, the account it applies as, and the last
    event of each of its ``restartOn`` FileWatches (a change there applies again)."""
    digest = hashlib.sha256(json.dumps([spec, account, restart or {}], sort_keys=True).encode()).digest()
    return base64.b64encode(digest).decode()
