"""KubernetesApply on the real API server: YAML a Tiltfile registers is deployed as its extension's
ServiceAccount, never as the operator, owned by the KubernetesApply, pruned when the YAML drops an
object, and deleted with the Extension (docs/design.md, "KubernetesApply")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, extension, ready, repo
from tests.integration.test_identity import NAMESPACE, accounts, extension_repo, make_account, user
from tilt_operator import reasons
from tilt_operator.devcluster import DevCluster

__all__ = ["accounts"]  # the fixture, used here


def configmaps(namespace: str, *names: str) -> str:
    return yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": namespace}, "data": {"k": n}}
            for n in names
        ]
    )


def applying(name: str, manifest: str) -> str:
    return f"v1alpha1.kubernetes_apply(name={name!r}, yaml={json.dumps(manifest)})\n"


def present(cluster: DevCluster, namespace: str) -> list[str]:
    found = cluster.kubectl(
        "get", "configmaps", "-n", namespace, "-l", "app.kubernetes.io/managed-by=tilt", "-o", "name"
    )
    return sorted(found.stdout.split())


def reason(status: dict) -> str:
    return next((c["reason"] for c in status.get("conditions") or [] if c["type"] == "Ready"), "")


@pytest.fixture
def namespace(cluster: DevCluster, name: str) -> Iterator[str]:
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def test_yaml_is_applied_as_the_extensions_account_pruned_and_deleted_with_the_extension(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    accounts: list[str],
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    account = f"{name}-deploy"
    make_account(cluster, accounts, account, ("tilt-extension", ""))
    root = extension_repo(tmp_path, applying(name, configmaps(namespace, "a", "b")))
    api.create("extensionrepos", repo(name, f"file://{root}"))
    api.create("extensions", extension(name, name, "probe", serviceAccountName=account))
    try:
        refused = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and s.get("error") and s,
            timeout=60,
            what="the apply to be refused",
        )
        assert f'User "{user(account)}" cannot patch resource "configmaps"' in refused["error"], refused["error"]
        assert (ready(refused), reason(refused)) == ("False", reasons.APPLY_FAILED)
        assert present(cluster, namespace) == [], "the account may write no ConfigMap: nothing is written"
        assert api.get("kubernetesapplys", name)["metadata"]["annotations"]["tilt.dev/service-account"] == account
        extension_status = eventually(
            lambda: (s := api.status("extensions", name)) and reason(s) == reasons.APPLY_FAILED and s,
            what="the refusal to reach the Extension's Ready",
        )
        assert ready(extension_status) == "False"
        assert extension_status["error"].startswith(f"KubernetesApply {name}: ConfigMap {namespace}/a: ")

        # A person grants the account its namespace: the retry (with backoff) applies it all.
        role = f"{account}-configmaps"
        cluster.kubectl(
            "create", "role", role, "-n", namespace, "--verb=get,create,patch,delete", "--resource=configmaps"
        )
        cluster.kubectl(
            "create", "rolebinding", role, "-n", namespace, f"--role={role}", f"--serviceaccount={NAMESPACE}:{account}"
        )
        applied = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and ready(s) == "True" and s,
            timeout=60,
            what="the apply to go through once the account may",
        )
        assert reason(applied) == reasons.YAML_APPLIED
        eventually(lambda: ready(api.status("extensions", name)) == "True", what="the Extension Ready again")
        assert "error" not in applied
        assert present(cluster, namespace) == ["configmap/a", "configmap/b"]
        assert [(o["kind"], o["namespace"], o["name"]) for o in applied["inventory"]] == [
            ("ConfigMap", namespace, "a"),
            ("ConfigMap", namespace, "b"),
        ]
        assert [doc["metadata"]["name"] for doc in yaml.safe_load_all(applied["resultYAML"])] == ["a", "b"]
        found = json.loads(
            cluster.kubectl("get", "configmap", "a", "-n", namespace, "-o", "json", "--show-managed-fields").stdout
        )
        assert found["metadata"]["labels"]["tilt.dev/kubernetesapply"] == name
        [owner] = found["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("KubernetesApply", name)
        managers = {entry["manager"] for entry in found["metadata"]["managedFields"]}
        assert managers == {f"kubernetesapply/{name}"}

        # The YAML drops b: the next apply prunes it.
        (root / "probe" / "Tiltfile").write_text(applying(name, configmaps(namespace, "a")))
        eventually(lambda: present(cluster, namespace) == ["configmap/a"], timeout=60, what="b to be pruned")
        assert [o["name"] for o in api.status("kubernetesapplys", name)["inventory"]] == ["a"]
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)
    # What the Extension deployed goes with it: Extension -> Tiltfile -> KubernetesApply -> ConfigMap.
    eventually(lambda: present(cluster, namespace) == [], timeout=60, what="the garbage collector")


def test_yaml_no_apply_can_take_is_stalled_with_a_clear_error(
    api: Api, operator: Operator, tmp_path: Path, name: str
) -> None:
    root = extension_repo(tmp_path, applying(name, "kind: ConfigMap\nmetadata: {name: x}\n"))
    api.create("extensionrepos", repo(name, f"file://{root}"))
    api.create("extensions", extension(name, name, "probe"))
    try:
        failed = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and s.get("error") and s,
            timeout=60,
            what="the apply to fail",
        )
        assert failed["error"] == "document 1 of spec.yaml has no apiVersion"
        assert reason(failed) == reasons.YAML_INVALID
        assert {c["type"] for c in failed["conditions"]} == {"Ready", "Stalled"}
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)
