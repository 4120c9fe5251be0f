"""KubernetesApply on the real API server: YAML a Tiltfile registers is deployed as its extension's
ServiceAccount, never as the operator, owned by the KubernetesApply, pruned when the YAML drops an
object, and deleted with the Extension (docs/design.md, "KubernetesApply")."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, deployment, extension, ready, repo, tiltfile
from tests.integration.test_identity import NAMESPACE, accounts, extension_repo, make_account, user
from tests.integration.test_logs import lines_of, logs
from tests.integration.test_tiltfile import terminated, write
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


@contextmanager
def installed(api: Api, tmp_path: Path, name: str, tiltfile: str, **spec: str) -> Iterator[Path]:
    """An Extension whose Tiltfile is ``tiltfile``, in a file:// repo of its own; gone on exit. Its Tiltfile's path."""
    root = extension_repo(tmp_path, tiltfile)
    api.create("extensionrepos", repo(name, f"file://{root}"))
    api.create("extensions", extension(name, name, "probe", **spec))
    try:
        yield root / "probe" / "Tiltfile"
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)


def reason(status: dict) -> str:
    return next((c["reason"] for c in status.get("conditions") or [] if c["type"] == "Ready"), "")


@pytest.fixture
def account(cluster: DevCluster, accounts: list[str], name: str) -> str:
    """An account of the extension's own, with the Tilt API as every extension has it, and nothing more."""
    made = f"{name}-deploy"
    make_account(cluster, accounts, made, ("tilt-extension", ""))
    return made


@pytest.fixture
def namespace(cluster: DevCluster, name: str) -> Iterator[str]:
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def grant(cluster: DevCluster, namespace: str, account: str, resources: str) -> None:
    """What a person does for an extension that deploys: a Role in one namespace, bound to its account."""
    role = f"{account}-deploys"
    cluster.kubectl(
        "create", "role", role, "-n", namespace, "--verb=get,create,patch,delete", f"--resource={resources}"
    )
    cluster.kubectl(
        "create", "rolebinding", role, "-n", namespace, f"--role={role}", f"--serviceaccount={NAMESPACE}:{account}"
    )


@contextmanager
def granted_everywhere(cluster: DevCluster, account: str, resources: str) -> Iterator[None]:
    """A ClusterRole over ``resources`` in every namespace, bound to the account; gone on exit."""
    role = f"{account}-{resources}"
    cluster.kubectl("create", "clusterrole", role, "--verb=get,create,patch,delete", f"--resource={resources}")
    cluster.kubectl(
        "create", "clusterrolebinding", role, f"--clusterrole={role}", f"--serviceaccount={NAMESPACE}:{account}"
    )
    try:
        yield
    finally:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found")


def test_yaml_is_applied_as_the_extensions_account_pruned_and_deleted_with_the_extension(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    with installed(
        api, tmp_path, name, applying(name, configmaps(namespace, "a", "b")), serviceAccountName=account
    ) as tiltfile:
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
        grant(cluster, namespace, account, "configmaps")
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
        tiltfile.write_text(applying(name, configmaps(namespace, "a")))
        eventually(lambda: present(cluster, namespace) == ["configmap/a"], timeout=60, what="b to be pruned")
        assert [o["name"] for o in api.status("kubernetesapplys", name)["inventory"]] == ["a"]

        # `kubectl tilt logs` tells the story as Tilt's log does, under the resource's name.
        told = eventually(
            lambda: (
                (said := [line.partition(" │ ")[2] for line in lines_of(logs(cluster, operator, name))])
                and f"Pruned ConfigMap {namespace}/b: the YAML no longer has it" in said
                and said
            ),
            what="the KubernetesApply's log",
        )
        applying_as = f"Applying YAML to cluster as {user(account)}"
        refused_line = next(line for line in told if line.startswith(f"Error: ConfigMap {namespace}/a: "))
        assert 'cannot patch resource "configmaps"' in refused_line
        applied_at = told.index("Objects applied to cluster:")
        assert told[applied_at - 1 : applied_at + 3] == [
            applying_as,
            "Objects applied to cluster:",
            f"  → ConfigMap {namespace}/a",
            f"  → ConfigMap {namespace}/b",
        ]
        assert f"ConfigMap {namespace}/b: Current: exists" in told, "each object's health as it changes"
        assert told.index(refused_line) < applied_at
    # What the Extension deployed goes with it: Extension -> Tiltfile -> KubernetesApply -> ConfigMap.
    eventually(lambda: present(cluster, namespace) == [], timeout=60, what="the garbage collector")


def test_yaml_no_apply_can_take_is_stalled_with_a_clear_error(
    api: Api, operator: Operator, tmp_path: Path, name: str
) -> None:
    with installed(api, tmp_path, name, applying(name, "kind: ConfigMap\nmetadata: {name: x}\n")):
        failed = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and s.get("error") and s,
            timeout=60,
            what="the apply to fail",
        )
        assert failed["error"] == "document 1 of spec.yaml has no apiVersion"
        assert reason(failed) == reasons.YAML_INVALID
        assert {c["type"] for c in failed["conditions"]} == {"Ready", "Stalled"}


def test_k8s_yaml_of_what_kubectl_prints_deploys_it_as_upstream_configmap_does(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """The way upstream's configmap and secret extensions deploy: YAML that `kubectl create
    --dry-run=client -o yaml` prints, given to k8s_yaml; Tilt makes it a KubernetesApply of its
    own resource, and here the cluster gets it, as the extension's account."""
    grant(cluster, namespace, account, "configmaps")
    kubectl = f"kubectl create configmap settings -n {namespace} --from-literal=greeting=hello --dry-run=client -o yaml"
    with installed(api, tmp_path, name, f"k8s_yaml(local({kubectl!r}, quiet=True))\n", serviceAccountName=account):
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="the Extension Ready")
        listed = api.custom.list_cluster_custom_object(
            "tilt.dev", "v1alpha1", "kubernetesapplys", label_selector=f"tilt.dev/extension={name}"
        )
        [deploy] = listed["items"]
        assert deploy["metadata"]["annotations"]["tilt.dev/resource"] == "uncategorized"
        assert reason(deploy["status"]) == reasons.YAML_APPLIED
        found = json.loads(cluster.kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json").stdout)
        assert found["data"] == {"greeting": "hello"}


def test_a_secret_and_a_namespace_deploy_as_upstream_secret_and_namespace_do(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """Upstream's secret extension hands `kubectl create secret generic --dry-run=client -o yaml`
    to k8s_yaml, and its namespace extension a Namespace blob: a Role in one namespace lets the
    account write Secrets, a ClusterRole Namespaces; both are applied as the account, and go with
    the Extension."""
    grant(cluster, namespace, account, "secrets")
    kubectl = f"kubectl create secret generic token -n {namespace} --from-literal=token=s3cr3t --dry-run=client -o yaml"
    made = f"{name}-made"
    tiltfile = (
        f"k8s_yaml(local({kubectl!r}, quiet=True, echo_off=True))\n"
        f"k8s_yaml(blob('apiVersion: v1\\nkind: Namespace\\nmetadata:\\n  name: {made}\\n'))\n"
    )
    with (
        granted_everywhere(cluster, account, "namespaces"),
        installed(api, tmp_path, name, tiltfile, serviceAccountName=account),
    ):
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="the Extension Ready")
        found = json.loads(cluster.kubectl("get", "secret", "token", "-n", namespace, "-o", "json").stdout)
        assert found["data"] == {"token": "czNjcjN0"}
        assert json.loads(cluster.kubectl("get", "namespace", made, "-o", "json").stdout)["status"]["phase"] == "Active"
    eventually(
        lambda: cluster.kubectl("get", "secret", "token", "-n", namespace, check=False).returncode != 0,
        timeout=60,
        what="the Secret to go with the Extension",
    )


def test_health_as_kstatus_reads_it_reaches_the_extension_s_ready(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """Flux's health check: applied is not Ready until every object is Current. This cluster runs no
    Deployment controller, so a Deployment stays on its way; an ExtensionRepo (a tilt.dev object
    the account may write) that is Stalled has Failed, and one that is Ready is Current."""
    grant(cluster, namespace, account, "deployments.apps")
    web = deployment("web", namespace, "tilt-operator:dev")

    def source(url: str) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": "tilt.dev/v1alpha1",
                "kind": "ExtensionRepo",
                "metadata": {"name": f"{name}-src"},
                "spec": {"url": url},
            }
        )

    with installed(api, tmp_path, name, applying(name, yaml.safe_dump(web)), serviceAccountName=account) as tiltfile:
        progressing = eventually(
            lambda: (s := api.status("extensions", name)) and reason(s) == reasons.PROGRESSING and s,
            timeout=60,
            what="the Extension to wait for the rollout",
        )
        assert ready(progressing) == "False"
        message = next(c["message"] for c in progressing["conditions"] if c["type"] == "Ready")
        assert message == f"KubernetesApply {name}: Deployment {namespace}/web: updatedReplicas: 0/1"
        assert {c["type"] for c in progressing["conditions"]} == {"Ready", "Reconciling"}

        # With the Deployment still on its way, every object is read again, the repo too once the
        # operator has said it is Stalled (a new object with no status yet is Current for kstatus).
        tiltfile.write_text(applying(name, yaml.safe_dump(web) + "---\n" + source("file:///nonexistent")))
        failed = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and reason(s) == reasons.HEALTH_CHECK_FAILED and s,
            timeout=60,
            what="the Stalled repo to count as Failed",
        )
        health = {item["kind"]: item for item in failed["inventory"]}
        assert health["ExtensionRepo"]["health"] == "Failed"
        assert "nonexistent" in health["ExtensionRepo"]["message"]
        assert health["Deployment"]["health"] == "InProgress"
        eventually(
            lambda: reason(api.status("extensions", name)) == reasons.HEALTH_CHECK_FAILED,
            what="the Extension to say so",
        )

        tiltfile.write_text(applying(name, source(f"file://{tiltfile.parent.parent}")))
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="all Current, Ready")
        [item] = api.status("kubernetesapplys", name)["inventory"]
        assert (item["kind"], item["health"]) == ("ExtensionRepo", "Current")
        assert cluster.kubectl("get", "deployment", "web", "-n", namespace, check=False).returncode != 0, "pruned"


def test_a_local_resource_waits_for_the_k8s_resource_it_depends_on(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """local_resource(resource_deps=[a k8s resource]): its Cmd starts once that KubernetesApply is Ready."""
    out = tmp_path / "out"
    tiltfile = (
        f"k8s_yaml(blob({configmaps(namespace, 'settings')!r}))\n"
        f"k8s_resource(new_name='{name}-config', objects=['settings:configmap'])\n"
        f"local_resource('{name}-after', cmd='echo ran > {out}', resource_deps=['{name}-config'])\n"
    )
    with installed(api, tmp_path, name, tiltfile, serviceAccountName=account):
        waiting = eventually(
            lambda: api.status("cmds", f"{name}-after.update").get("waiting"), timeout=60, what="the Cmd"
        )
        assert waiting["reason"] == f"waiting for resource {name}-config to be ready"
        assert (
            api.get("kubernetesapplys", f"{name}-config")["metadata"]["annotations"]["tilt.dev/resource"]
            == f"{name}-config"
        )
        assert not out.exists()
        grant(cluster, namespace, account, "configmaps")
        eventually(lambda: out.exists(), timeout=60, what="the Cmd to run once its dependency is applied")
        assert ready(api.status("kubernetesapplys", f"{name}-config")) == "True"


def test_a_k8s_resource_waits_for_its_resource_deps_before_its_first_apply(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """k8s_resource(resource_deps=[...]) as in Tilt: the second resource is not applied while the
    first is not Ready (its namespace not yet granted), and is once the first is."""
    second_namespace = f"{namespace}-b"
    cluster.kubectl("create", "namespace", second_namespace)
    try:
        grant(cluster, second_namespace, account, "configmaps")
        tiltfile = (
            f"k8s_yaml(blob({configmaps(namespace, 'first')!r}))\n"
            f"k8s_yaml(blob({configmaps(second_namespace, 'second')!r}))\n"
            f"k8s_resource(new_name='{name}-first', objects=['first:configmap'])\n"
            f"k8s_resource(new_name='{name}-second', objects=['second:configmap'], resource_deps=['{name}-first'])\n"
        )
        with installed(api, tmp_path, name, tiltfile, serviceAccountName=account):
            waiting = eventually(
                lambda: (
                    (s := api.status("kubernetesapplys", f"{name}-second"))
                    and reason(s) == reasons.DEPENDENCY_NOT_READY
                    and s
                ),
                timeout=60,
                what="the second resource to wait",
            )
            message = next(c["message"] for c in waiting["conditions"] if c["type"] == "Ready")
            assert message == f"waiting for resource {name}-first to be ready"
            eventually(
                lambda: reason(api.status("kubernetesapplys", f"{name}-first")) == reasons.APPLY_FAILED,
                timeout=60,
                what="the first resource to be refused",
            )
            assert present(cluster, second_namespace) == [], "not applied while its dependency is not ready"
            assert reason(api.status("kubernetesapplys", f"{name}-second")) == reasons.DEPENDENCY_NOT_READY

            grant(cluster, namespace, account, "configmaps")
            eventually(
                lambda: present(cluster, second_namespace) == ["configmap/second"],
                timeout=60,
                what="the second resource to be applied once the first is Ready",
            )
            assert ready(api.status("kubernetesapplys", f"{name}-first")) == "True"
    finally:
        cluster.kubectl("delete", "namespace", second_namespace, "--wait=false", "--ignore-not-found")


def test_where_the_cluster_says_no_each_object_says_why_and_the_rest_is_applied(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """A namespace that does not exist, a kind the cluster lacks, an immutable field changed: each
    is its object's error in the cluster's words, the others are applied, and the operator goes on."""
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": namespace}}
    frozen = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen", "namespace": namespace},
        "immutable": True,
        "data": {"v": "1"},
    }
    documents = [
        *yaml.safe_load_all(configmaps(f"{name}-missing", "lost")),
        widget,
        frozen,
        *yaml.safe_load_all(configmaps(namespace, "fine")),
    ]
    # ConfigMaps in every namespace: the API server's answer for a missing one is then "not found".
    with (
        granted_everywhere(cluster, account, "configmaps"),
        installed(
            api, tmp_path, name, applying(name, yaml.safe_dump_all(documents)), serviceAccountName=account
        ) as tiltfile,
    ):
        failed = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and s.get("error") and s,
            timeout=60,
            what="the refusals",
        )
        errors = failed["error"].split("; ")
        assert errors[0].startswith(f"ConfigMap {name}-missing/lost: ")
        assert f'namespaces "{name}-missing" not found' in errors[0]
        assert errors[1] == f"Widget {namespace}/w: the cluster has no kind Widget in example.com/v1"
        assert len(errors) == 2
        assert present(cluster, namespace) == ["configmap/fine", "configmap/frozen"], "the rest is applied"
        assert reason(api.status("extensions", name)) == reasons.APPLY_FAILED

        frozen["data"] = {"v": "2"}
        tiltfile.write_text(applying(name, yaml.safe_dump_all([frozen, *documents[3:]])))
        immutable = eventually(
            lambda: "frozen" in ((s := api.status("kubernetesapplys", name)).get("error") or "") and s,
            timeout=60,
            what="the change of an immutable field to be refused",
        )
        assert immutable["error"].startswith(f"ConfigMap {namespace}/frozen: ")
        assert "immutable" in immutable["error"]
        assert [item["name"] for item in immutable["inventory"]] == ["fine", "frozen"], "still its own"
    assert operator.process is not None
    assert operator.process.poll() is None, "the operator goes on"


def test_two_tiltfiles_may_not_share_a_resource_name_as_in_tilt_and_the_error_says_how_to_rename(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """Tilt's names are one namespace across Tiltfiles ("Resource defined in two tiltfiles"): two
    that both leave objects uncategorized want the same KubernetesApply. The second run says so and
    how to name its own; named, both are applied."""
    grant(cluster, namespace, account, "configmaps")
    first = write(tmp_path / "first" / "Tiltfile", f"k8s_yaml(blob({configmaps(namespace, 'one')!r}))\n")
    second = write(tmp_path / "second" / "Tiltfile", f"k8s_yaml(blob({configmaps(namespace, 'two')!r}))\n")
    api.create("tiltfiles", tiltfile(f"{name}-first", str(first), serviceAccountName=account))
    try:
        assert "error" not in terminated(api, f"{name}-first")
        eventually(lambda: present(cluster, namespace) == ["configmap/one"], timeout=60, what="the first apply")
        api.create("tiltfiles", tiltfile(f"{name}-second", str(second), serviceAccountName=account))
        refused = terminated(api, f"{name}-second")
        assert refused["error"] == (
            f"apply: KubernetesApply uncategorized is already owned by Tiltfile {name}-first: give this resource"
            " a name of its own with k8s_resource(objects=[...], new_name=...) or remove it there"
        )
        after = refused["startedAt"]
        second.write_text(second.read_text() + f"k8s_resource(objects=['two:configmap'], new_name='{name}-two')\n")
        assert "error" not in terminated(api, f"{name}-second", after=after)
        eventually(
            lambda: present(cluster, namespace) == ["configmap/one", "configmap/two"], timeout=60, what="both applied"
        )
    finally:
        api.delete("tiltfiles", f"{name}-second")
        api.delete("tiltfiles", f"{name}-first")


def test_a_quota_exceeded_is_the_error_of_the_objects_over_it_and_the_rest_is_applied(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """A namespace allowing two ConfigMaps, and YAML with three: the API server's quota admission
    refuses the one over it, in its own words, and the other two are applied."""
    cluster.kubectl("create", "quota", "two-configmaps", "-n", namespace, "--hard=count/configmaps=2")
    eventually(
        lambda: (
            "count/configmaps"
            in cluster.kubectl(
                "get", "quota", "two-configmaps", "-n", namespace, "-o", "jsonpath={.status.used}"
            ).stdout
        ),
        what="the quota controller to count the namespace's usage",
    )
    grant(cluster, namespace, account, "configmaps")
    with installed(
        api, tmp_path, name, applying(name, configmaps(namespace, "a", "b", "c")), serviceAccountName=account
    ):
        failed = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and s.get("error") and s,
            timeout=60,
            what="the object over the quota to be refused",
        )
        [error] = failed["error"].split("; ")
        assert error.startswith(f"ConfigMap {namespace}/"), error
        assert "exceeded quota: two-configmaps" in error, error
        assert len(present(cluster, namespace)) == 2, "the rest is applied"
        extension_status = eventually(
            lambda: (s := api.status("extensions", name)) and reason(s) == reasons.APPLY_FAILED and s,
            what="the Extension to say so",
        )
        assert "exceeded quota: two-configmaps" in extension_status["error"]
    assert operator.process is not None
    assert operator.process.poll() is None, "the operator goes on"


def test_helm_renders_a_chart_with_helm_template_and_the_operator_deploys_it(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """Tilt's helm(): the chart beside the Tiltfile rendered by `helm template` (the pinned helm on
    the operator's PATH), with --set and the namespace put on its objects, then applied as the
    extension's account."""
    chart = tmp_path / "repo" / "probe" / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: greeting\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
        "data:\n  greeting: {{ .Values.greeting }}\n"
    )
    grant(cluster, namespace, account, "configmaps")
    tiltfile = f"k8s_yaml(helm('chart', name='demo', namespace={namespace!r}, set=['greeting=hi']))\n"
    with installed(api, tmp_path, name, tiltfile, serviceAccountName=account):
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="the Extension Ready")
        found = json.loads(cluster.kubectl("get", "configmap", "demo-greeting", "-n", namespace, "-o", "json").stdout)
        assert found["data"] == {"greeting": "hi"}
        assert found["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tilt"


def test_an_apply_cmd_deploys_as_the_extension_and_its_delete_cmd_runs_when_it_goes(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    account: str,
    tmp_path: Path,
    name: str,
    namespace: str,
) -> None:
    """Tilt's k8s_custom_deploy: the command deploys with the extension's own kubeconfig, and the
    YAML it prints is what it deployed; its deleteCmd runs before the KubernetesApply goes."""
    grant(cluster, namespace, account, "configmaps")
    manifest = configmaps(namespace, "custom")
    apply = f"kubectl apply -f - -o yaml <<'EOF'\n{manifest}EOF\n"
    delete = ["kubectl", "delete", "configmap", "custom", "-n", namespace]
    tiltfile = f"k8s_custom_deploy({name!r}, apply_cmd={apply!r}, delete_cmd={delete!r}, deps=[])\n"
    with installed(api, tmp_path, name, tiltfile, serviceAccountName=account):
        applied = eventually(
            lambda: (s := api.status("kubernetesapplys", name)) and ready(s) == "True" and s,
            timeout=60,
            what="the applyCmd to have deployed",
        )
        assert [(item["kind"], item["name"], item["health"]) for item in applied["inventory"]] == [
            ("ConfigMap", "custom", "Current")
        ]
        assert present(cluster, namespace) == [], "the command's object, not labelled by the operator"
        found = json.loads(cluster.kubectl("get", "configmap", "custom", "-n", namespace, "-o", "json").stdout)
        assert found["data"] == {"k": "custom"}
        assert api.get("kubernetesapplys", name)["metadata"]["finalizers"] == ["tilt.dev/delete-cmd"]
        told = [line.partition(" │ ")[2] for line in lines_of(logs(cluster, operator, f"kubernetesapply/{name}"))]
        args = api.get("kubernetesapplys", name)["spec"]["applyCmd"]["args"]
        running = f"Running cmd: {shlex.join(args)}".splitlines()
        assert args[:2] == ["sh", "-c"]
        assert told[: len(running)] == running
        assert told[-3:] == [
            "Objects applied to cluster:",
            f"  → ConfigMap {namespace}/custom",
            f"ConfigMap {namespace}/custom: Current: exists",
        ]
    eventually(
        lambda: cluster.kubectl("get", "configmap", "custom", "-n", namespace, check=False).returncode != 0,
        timeout=60,
        what="the deleteCmd to delete what the applyCmd deployed",
    )
    eventually(lambda: api.get("kubernetesapplys", name) is None, timeout=60, what="the KubernetesApply to go")
