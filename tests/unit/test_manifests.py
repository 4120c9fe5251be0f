"""The in-cluster install (manifests/, Dockerfile) says what the operator needs, and no more.

No cluster here: these tests read the YAML and the Dockerfile and hold them to the code (the
settings parser, the API's kinds). tests/integration/test_deployment.py applies the same files to
the real API server and runs the operator with the ServiceAccount's own token.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from tilt_operator import api
from tilt_operator.config import Settings

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _documents(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((directory / name).read_text())]


DOCS = _documents(MANIFESTS)


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = [d for d in DOCS if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


DEPLOYMENT = _one("Deployment")
POD = DEPLOYMENT["spec"]["template"]["spec"]
CONTAINER, RUNNER = POD["containers"]
ENV = {item["name"]: item["value"] for item in CONTAINER.get("env", []) if "value" in item}
MOUNTS = {mount["mountPath"] for mount in CONTAINER["volumeMounts"]}
CLUSTER_RULES = _one("ClusterRole", "tilt-operator")["rules"]


def _dockerfile(instruction: str) -> list[str]:
    return re.findall(rf"^{instruction} (.+)$", DOCKERFILE, flags=re.MULTILINE)


def _base_images() -> list[str]:
    """Each stage's FROM as a `docker build` without build arguments sees it: the ARG defaults filled in."""
    defaults = dict(arg.split("=", 1) for arg in _dockerfile("ARG") if "=" in arg)
    return [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], line) for line in _dockerfile("FROM")]


@pytest.mark.parametrize("directory", [MANIFESTS, MANIFESTS / "examples"])
def test_each_kustomization_lists_every_yaml_file_beside_it(directory: Path):
    listed = set(yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}


def test_processes_run_in_the_runner_container_as_the_operator_reads_its_environment():
    settings = Settings.from_env(ENV)
    assert (CONTAINER["name"], RUNNER["name"]) == ("operator", "runner")
    assert settings.exec_enabled is True
    assert settings.runner is not None
    assert RUNNER["args"] == [f"--socket={settings.runner}"]
    assert RUNNER["command"] == ["tilt-operator", "runner"]
    shared = {m["name"] for m in CONTAINER["volumeMounts"]} & {m["name"] for m in RUNNER["volumeMounts"]}
    assert shared == {"data", "runner-socket"}
    (socket_mount,) = [m for m in RUNNER["volumeMounts"] if m["name"] == "runner-socket"]
    assert settings.runner.parent == Path(socket_mount["mountPath"])


def test_the_runner_gets_no_token_of_the_operators_another_uid_and_the_data_dir_read_only():
    assert POD["automountServiceAccountToken"] is False
    mounts = {m["name"]: m for m in RUNNER["volumeMounts"]}
    assert "operator-token" not in mounts
    assert mounts["data"]["readOnly"] is True
    assert RUNNER["securityContext"]["runAsUser"] != POD["securityContext"]["runAsUser"]
    assert RUNNER["securityContext"]["runAsGroup"] != POD["securityContext"]["runAsGroup"]
    assert RUNNER["securityContext"]["allowPrivilegeEscalation"] is False
    assert RUNNER["securityContext"]["readOnlyRootFilesystem"] is True
    assert RUNNER["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "shareProcessNamespace" not in POD, "the runner must not see the operator's processes"
    (token,) = [m for m in CONTAINER["volumeMounts"] if m["name"] == "operator-token"]
    assert token["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    (volume,) = [v for v in POD["volumes"] if v["name"] == "operator-token"]
    kinds = [next(iter(source)) for source in volume["projected"]["sources"]]
    assert kinds == ["serviceAccountToken", "configMap", "downwardAPI"]


def test_the_data_dir_and_home_are_volumes_because_the_root_filesystem_is_read_only():
    assert CONTAINER["securityContext"]["readOnlyRootFilesystem"] is True
    assert str(Settings.from_env(ENV).data_dir) in MOUNTS
    assert ENV["HOME"] in MOUNTS
    assert "/tmp" in MOUNTS


def test_two_replicas_elect_a_leader_and_a_rollout_never_leaves_none_running():
    assert DEPLOYMENT["spec"]["replicas"] == 2
    assert Settings.from_env(ENV).leader_elect
    assert DEPLOYMENT["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    (variable,) = [env for env in CONTAINER["env"] if env["name"] == "TILT_OPERATOR_POD_NAME"]
    assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_a_drain_takes_one_replica_at_a_time_and_replicas_prefer_different_nodes():
    budget = _one("PodDisruptionBudget")
    labels = POD.get("labels") or DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert budget["metadata"]["namespace"] == DEPLOYMENT["metadata"]["namespace"]
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (term,) = POD["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()


def test_leases_only_in_the_operators_namespace_and_never_deleted():
    role = _one("Role", "tilt-operator-leader-election")
    assert role["metadata"]["namespace"] == "tilt-operator"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
    assert not [rule for rule in CLUSTER_RULES if "leases" in rule["resources"]]


def test_both_probes_ask_kopf_s_liveness_endpoint_where_the_operator_serves_it():
    (flag,) = [arg for arg in CONTAINER["args"] if arg.startswith("--liveness=")]
    endpoint = urllib.parse.urlsplit(flag.removeprefix("--liveness="))
    ports = {port["name"]: port["containerPort"] for port in CONTAINER["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        http = CONTAINER[probe]["httpGet"]
        assert (http["path"], ports[http["port"]]) == (endpoint.path, endpoint.port), probe


def test_the_pod_runs_as_the_image_s_non_root_user_with_bounded_resources():
    assert POD["securityContext"]["runAsNonRoot"] is True
    assert _dockerfile("USER") == [f"{POD['securityContext']['runAsUser']}:{POD['securityContext']['runAsGroup']}"]
    assert CONTAINER["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert CONTAINER["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(CONTAINER["resources"]) == {"requests", "limits"}
    assert (CONTAINER["image"], CONTAINER["imagePullPolicy"]) == ("tilt-operator:dev", "IfNotPresent")


def test_the_image_starts_the_operator_and_has_git_and_ssh():
    assert _dockerfile("ENTRYPOINT") == ['["tilt-operator", "run"]']
    assert re.search(r"apt-get install -y --no-install-recommends git\b.* openssh-client\b", DOCKERFILE)
    *stages, final = _base_images()
    assert re.match(r"python:3\.11\.\d+-slim", final), "pin the base image by its full tag"
    assert all(re.match(r"\S+:v?\d+\.\d+\.\d+\S* ", stage) for stage in stages), "pin every build stage by its full tag"


def test_every_base_image_is_a_build_argument_so_a_machine_without_a_registry_can_pass_its_own():
    """`buildah bud --build-arg PYTHON_IMAGE=…` (tilt_operator.devcluster.images) replaces each one."""
    assert all(re.match(r"\$\{\w+_IMAGE\}", line) for line in _dockerfile("FROM"))
    assert {arg.split("=")[0] for arg in _dockerfile("ARG") if "=" in arg} >= {
        "PYTHON_IMAGE",
        "GOLANG_IMAGE",
        "KUBECTL_IMAGE",
    }


def test_every_base_image_is_pinned_by_its_tag_and_its_digest():
    """A `docker build` pulls the bytes the tag named when it was pinned; a tag moved since fails the pull."""
    for image in _base_images():
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}( AS \w+)?", image), image


def test_build_secrets_are_mounted_apart_never_over_a_file_of_the_image():
    """The building machine's CA bundle and apt settings reach a RUN step as secrets, never a layer.

    Mounted where BuildKit and buildah put them by default (/run/secrets/<id>): buildah (1.28) deletes
    a mount's target after the step, so a secret mounted over the image's own CA bundle would take it
    out of the image. Each step uses a secret only where it was given one.
    """
    mounts = re.findall(r"--mount=(\S+)", DOCKERFILE)
    assert mounts
    for mount in mounts:
        options = dict(option.split("=", 1) for option in mount.split(","))
        assert options["type"] == "secret"
        assert not {"target", "dst", "destination"} & set(options), mount
        assert f"if [ -f /run/secrets/{options['id']} ]" in DOCKERFILE
    assert not re.search(r"^(COPY|ADD) .*(apt\.conf|ca-certificates)", DOCKERFILE, flags=re.MULTILINE)


def test_the_image_runs_tiltfiles_with_a_host_built_in_a_stage_of_its_own():
    """The image has no Go: the Tiltfile host comes from a build stage, and the operator is told where."""
    assert any(re.fullmatch(r"golang:1\.26\.8-bookworm@sha256:\w+ AS host", image) for image in _base_images())
    assert "--from=host /tiltfile-host /usr/local/bin/tiltfile-host" in _dockerfile("COPY")
    assert re.search(r"TILT_OPERATOR_TILTFILE_HOST=/usr/local/bin/tiltfile-host\b", DOCKERFILE)


def test_the_service_account_of_the_pod_is_the_one_bound_to_the_role():
    account = _one("ServiceAccount", "tilt-operator")["metadata"]
    assert (POD["serviceAccountName"], DEPLOYMENT["metadata"]["namespace"]) == (account["name"], account["namespace"])
    bindings = [
        doc
        for doc in DOCS
        if doc["kind"] in {"ClusterRoleBinding", "RoleBinding"} and doc["roleRef"]["name"] != "tilt-extension"
    ]
    # The ClusterRole; Events in default; Secrets, the Lease and the extensions' identities in its own namespace.
    assert len(bindings) == 5
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", **account}]


def test_extensions_act_as_an_account_of_their_own_that_may_use_the_tilt_api_and_nothing_else():
    assert Settings.from_env(ENV).default_service_account == "tilt-extension"
    account = _one("ServiceAccount", "tilt-extension")
    assert account["metadata"]["namespace"] == DEPLOYMENT["metadata"]["namespace"]
    assert account["automountServiceAccountToken"] is False
    assert _one("ClusterRole", "tilt-extension")["rules"] == [
        {
            "apiGroups": [api.GROUP],
            "resources": ["*"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
        }
    ]
    binding = _one("ClusterRoleBinding", "tilt-extension")
    assert binding["roleRef"]["name"] == "tilt-extension"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tilt-extension", "namespace": "tilt-operator"}]


def test_the_operator_impersonates_and_asks_tokens_of_accounts_of_its_own_namespace_only():
    role = _one("Role", "tilt-operator-identities")
    assert role["metadata"]["namespace"] == "tilt-operator"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    ]


def test_no_file_repo_is_allowed_in_a_cluster():
    assert Settings.from_env(ENV).file_roots == ()


def test_the_cluster_role_covers_every_tilt_dev_kind_and_grants_no_wildcards():
    (objects,) = [rule for rule in CLUSTER_RULES if rule["apiGroups"] == [api.GROUP] and "cmds" in rule["resources"]]
    assert set(objects["resources"]) == {kind.plural for kind in api.KINDS}
    for rule in CLUSTER_RULES:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        # `update` only where an admission plugin asks for it: the owners' finalizers (see rbac.yaml).
        finalizers_only = all(resource.endswith("/finalizers") for resource in rule["resources"])
        verbs = set(rule["verbs"]) - ({"update"} if finalizers_only else set())
        assert not verbs & {"update", "deletecollection", "escalate", "bind", "impersonate"}, rule


def test_status_is_written_for_every_kind_and_a_buttons_by_a_click_in_the_dashboard():
    (status,) = [rule for rule in CLUSTER_RULES if any(r.endswith("/status") for r in rule["resources"])]
    expected = {f"{kind.plural}/status" for kind in api.KINDS}
    assert (set(status["resources"]), status["verbs"]) == (expected, ["patch"])


def test_events_may_be_created_only_in_the_namespace_kopf_posts_them_to():
    role = _one("Role", "tilt-operator-events")
    assert role["metadata"]["namespace"] == "default"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]
    assert not [rule for rule in CLUSTER_RULES if "events" in rule["resources"]]


def test_the_build_context_holds_what_the_package_build_reads():
    from_context = [line for line in _dockerfile("COPY") if not line.startswith("--from=")]
    copied = {source.rstrip("/") for line in from_context for source in line.split()[:-1]}
    pyproject = (REPO / "pyproject.toml").read_text()
    readme = re.search(r'^readme = "(.+)"', pyproject, flags=re.MULTILINE)
    assert readme
    assert {"pyproject.toml", readme.group(1), "operator"} <= copied
    allowed = {line.removeprefix("!").rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()}
    let_in = {path for path in copied if any(path == top or path.startswith(top + "/") for top in allowed)}
    assert let_in == copied, ".dockerignore must let in every file the Dockerfile copies"


def test_secrets_are_read_only_and_only_in_the_operators_namespace():
    role = _one("Role", "tilt-operator-secrets")
    assert role["metadata"]["namespace"] == "tilt-operator"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]
    binding = _one("RoleBinding", "tilt-operator-secrets")
    assert binding["roleRef"]["name"] == "tilt-operator-secrets"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tilt-operator", "namespace": "tilt-operator"}]
    assert not [rule for rule in CLUSTER_RULES if "secrets" in rule["resources"]]


def test_the_operator_reads_its_namespace_from_its_pod():
    (variable,) = [env for env in CONTAINER["env"] if env["name"] == "TILT_OPERATOR_NAMESPACE"]
    assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_reading_logs_takes_a_port_forward_to_the_leaders_pod_and_nothing_more():
    role = _one("Role", "tilt-operator-logs")
    assert role["metadata"]["namespace"] == DEPLOYMENT["metadata"]["namespace"]
    assert role["rules"] == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
    ]
    bindings = [doc for doc in DOCS if doc["kind"] == "RoleBinding"]
    assert not [binding for binding in bindings if binding["roleRef"]["name"] == "tilt-operator-logs"], (
        "the operator itself needs no port-forward: people are bound to it"
    )
