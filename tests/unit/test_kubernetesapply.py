"""What a KubernetesApply deploys, as plain data: its YAML read, its objects marked, what to prune."""

from __future__ import annotations

import pytest

from tilt_operator import reasons
from tilt_operator.reconcilers import manifests
from tilt_operator.reconcilers.discovery import Resource
from tilt_operator.reconcilers.health import health
from tilt_operator.reconcilers.kubernetesapply import unsupported

APPLY = {"metadata": {"name": "web", "uid": "u-1"}}


def test_documents_come_namespaces_and_kinds_first_and_lists_unfold():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
---
apiVersion: v1
kind: Namespace
metadata: {name: n}
"""
    assert [doc["kind"] for doc in manifests.documents(text)] == ["Namespace", "ConfigMap", "Deployment"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: [", "spec.yaml is not YAML"),
        ("- 1\n", "document 1 of spec.yaml is not a Kubernetes object"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "document 1 of spec.yaml has no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "document 1 of spec.yaml has no metadata.name"),
    ],
)
def test_yaml_no_apply_can_take_says_which_document_and_why(text, error):
    with pytest.raises(manifests.ManifestError, match="^" + error):
        manifests.documents(text)


def test_an_object_is_labelled_owned_and_namespaced_as_its_kind_is():
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "x"}}}
    owned = manifests.owned(config, APPLY, namespaced=True)
    assert owned["metadata"]["namespace"] == "default"
    assert owned["metadata"]["labels"] == {
        "app": "x",
        "app.kubernetes.io/managed-by": "tilt",
        "tilt.dev/kubernetesapply": "web",
    }
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "tilt.dev/v1alpha1", "kind": "KubernetesApply", "name": "web", "uid": "u-1"}
    ]
    assert config["metadata"] == {"name": "c", "labels": {"app": "x"}}, "the YAML's own object is left as it was"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "namespace": "stray"}}
    assert "namespace" not in manifests.owned(namespace, APPLY, namespaced=False)["metadata"]


def test_what_the_yaml_no_longer_has_is_pruned_and_what_was_refused_stays_owned():
    previous = [
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "n", "name": "a", "uid": "1"},
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "n", "name": "b", "uid": "2"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "n", "name": "d", "uid": "3"},
    ]
    wanted_docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}},
        # Another version of the same object is the same object.
        {"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}},
    ]
    wanted = {manifests.key(doc) for doc in wanted_docs}
    assert [old["name"] for old in manifests.to_prune(previous, wanted)] == ["b"]
    applied = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n", "uid": "9"}}]
    refused = wanted - {manifests.key(manifests.entry(obj)) for obj in applied}
    assert manifests.inventory(previous, applied, refused) == [
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "n", "name": "a", "uid": "9"}
        | {"health": "Current", "message": "exists"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "n", "name": "d", "uid": "3"},
    ]


def test_the_input_hash_moves_with_the_spec_and_the_account():
    spec = {"yaml": "x"}
    assert manifests.input_hash(spec, "a") == manifests.input_hash(dict(spec), "a")
    assert manifests.input_hash(spec, "a") != manifests.input_hash(spec, "b")
    assert manifests.input_hash(spec, "a") != manifests.input_hash({"yaml": "y"}, "a")


def test_result_yaml_leaves_out_managed_fields():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [{"manager": "m"}]}}
    assert "managedFields" not in manifests.result_yaml([obj])


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        (Resource("v1", "configmaps", True), "n", "/api/v1/namespaces/n/configmaps/c"),
        (Resource("apps/v1", "deployments", True), "n", "/apis/apps/v1/namespaces/n/deployments/c"),
        (Resource("v1", "namespaces", False), None, "/api/v1/namespaces/c"),
    ],
)
def test_each_kind_has_its_rest_path(resource, namespace, path):
    assert resource.path("c", namespace) == path


def _deployment(**status) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, **status},
    }


AVAILABLE = {"conditions": [{"type": "Available", "status": "True"}]}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, ("Current", "exists")),
        (_deployment(observedGeneration=1), ("InProgress", "generation 2 not yet observed")),
        (_deployment(updatedReplicas=2, readyReplicas=1), ("InProgress", "readyReplicas: 1/2")),
        (
            _deployment(updatedReplicas=2, readyReplicas=2, availableReplicas=2, replicas=3, **AVAILABLE),
            ("InProgress", "old replicas pending termination: 3/2"),
        ),
        (
            _deployment(updatedReplicas=2, readyReplicas=2, availableReplicas=2, replicas=2, **AVAILABLE),
            ("Current", "2 replicas available"),
        ),
        (
            _deployment(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]),
            ("Failed", "progress deadline exceeded"),
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                },
            },
            ("Failed", "container app: CrashLoopBackOff"),
        ),
        (
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "j"},
                "status": {"conditions": [{"type": "Complete", "status": "True"}]},
            },
            ("Current", "complete"),
        ),
        (
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "no quota"}]},
            },
            ("Failed", "no quota"),
        ),
        (
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "deletionTimestamp": "x"}},
            ("InProgress", "being deleted"),
        ),
    ],
)
def test_each_object_s_health_is_its_kstatus(obj, expected):
    assert health(obj) == expected


def test_what_no_apply_can_do_says_why_with_its_own_reason():
    assert unsupported({"yaml": "x", "cluster": "default"}, exec_enabled=False) is None
    assert unsupported({"applyCmd": {"args": ["true"]}}, exec_enabled=True) is None
    assert unsupported({"applyCmd": {"args": ["true"]}}, exec_enabled=False) == (
        "spec.applyCmd (k8s_custom_deploy) runs a command: the operator runs none without --exec",
        reasons.EXEC_DISABLED,
    )
    assert unsupported({"yaml": "x", "cluster": "prod"}, exec_enabled=True) == (
        "spec.cluster 'prod': this operator deploys only to its own cluster, 'default'",
        reasons.SPEC_INVALID,
    )
    assert {reasons.EXEC_DISABLED, reasons.SPEC_INVALID} <= reasons.STALLED
