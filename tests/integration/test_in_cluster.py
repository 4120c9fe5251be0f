"""The operator as users deploy it: the image built from the Dockerfile, run by a real kubelet from manifests/.

A cluster of its own with a node (tilt_operator.devcluster.node): containerd and runc run the pods,
kube-proxy routes the ``kubernetes`` Service to the API server. The image is the repo's Dockerfile
built by buildah on locally made bases (tilt_operator.devcluster.images), loaded under the name
the Deployment uses; what is applied is ``manifests/`` itself, as ``tilt-operator dev --node``
applies it. This is the kubelet path: the pods run under a real kubelet, containerd and runc. The test git server
listens on the pod network's gateway, trusted through a Secret's ca.crt as a user's would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.conftest import eventually
from tests.integration.conftest import REPO
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api, deployment, extension, ready, repo
from tests.integration.test_deployment import DENIED
from tests.integration.test_logs import VENV_BIN
from tilt_operator.config import DEFAULT_NAMESPACE
from tilt_operator.devcluster import DevCluster, ensure_binaries
from tilt_operator.devcluster.dev import MANIFEST_IMAGE, deploy_operator
from tilt_operator.devcluster.images import Image, ensure_image, image_id, pause_image
from tilt_operator.devcluster.node import Node, cluster_with_node, unmet_needs
from tilt_operator.devcluster.pki import POD_GATEWAY

LEASE = "tilt-operator"
SELECTOR = "app.kubernetes.io/name=tilt-operator"
# Long enough for two cold pod starts (the image unpacked, kopf's caches filled), never a sleep.
START = 180.0


@pytest.fixture(scope="module")
def image() -> Image:
    unmet = unmet_needs()
    if unmet:
        pytest.fail(f"{unmet}; run the tests as root (CI does)")
    return ensure_image(ensure_binaries())


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, image: Image) -> Iterator[Node]:
    binaries = ensure_binaries()
    with cluster_with_node(binaries, tmp_path_factory.mktemp("node-cluster"), [pause_image(), image]) as started:
        started.cluster.install_crds(REPO / "crds")
        yield started


@pytest.fixture(scope="module")
def cluster(node: Node, image: Image) -> Iterator[DevCluster]:
    """``kubectl apply -k manifests/``, with the image just built under the name the Deployment uses."""
    deploy_operator(node, image)
    yield node.cluster
    node.cluster.kubectl("delete", "-k", str(REPO / "manifests"), "--wait=false", "--ignore-not-found")


@pytest.fixture(scope="module")
def api(cluster: DevCluster) -> Api:
    return Api(client.CustomObjectsApi(config.new_client_from_config(config_file=str(cluster.kubeconfig))))


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory, node: Node) -> Iterator[GitServer]:
    """The test git server where the pods reach it: on the pod network's gateway, never loopback."""
    server = GitServer(tmp_path_factory.mktemp("node-git"), pki_dir=node.cluster.pki.directory, host=POD_GATEWAY)
    server.start()
    yield server
    server.stop()


def pods(cluster: DevCluster) -> list[dict[str, Any]]:
    listed = cluster.kubectl("get", "pods", "-n", DEFAULT_NAMESPACE, "-l", SELECTOR, "-o", "json")
    return [pod for pod in json.loads(listed.stdout)["items"] if not pod["metadata"].get("deletionTimestamp")]


def running_and_ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod.get("status", {}).get("phase") == "Running" and conditions.get("Ready") == "True"


def both_ready(cluster: DevCluster) -> list[dict[str, Any]] | None:
    found = pods(cluster)
    return found if len(found) == 2 and all(running_and_ready(pod) for pod in found) else None


def holder(cluster: DevCluster) -> str:
    found = cluster.kubectl(
        "get", "lease", LEASE, "-n", DEFAULT_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}", check=False
    )
    return found.stdout.rpartition("_")[0] if found.returncode == 0 else ""


def leader(cluster: DevCluster) -> str:
    """The pod that holds the Lease, once one of the two Ready pods does."""

    def find() -> str | None:
        names = {pod["metadata"]["name"] for pod in both_ready(cluster) or []}
        held = holder(cluster)
        return held if held in names else None

    return eventually(find, timeout=START, what="one of the two Ready pods holds the Lease")


def kubectl_tilt_env(cluster: DevCluster, home: Path) -> dict[str, str]:
    """A user's shell: the cluster's kubeconfig, no operator on this machine (an empty HOME)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    return {
        **env,
        "HOME": str(home),
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{VENV_BIN}{os.pathsep}{cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}",
    }


def test_building_the_image_leaves_no_working_container_behind(image: Image) -> None:
    listed = subprocess.run(
        ["buildah", "containers", "--format", "{{.ImageName}} {{.ContainerName}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line for line in listed.splitlines() if line.startswith("localhost/tilt-operator")] == []


def test_both_replicas_run_the_image_and_pass_their_probes(cluster: DevCluster, image: Image) -> None:
    ready_pods = eventually(lambda: both_ready(cluster), timeout=START, what="two pods Running and Ready")
    for pod in ready_pods:
        statuses = pod["status"]["containerStatuses"]
        assert sorted(status["name"] for status in statuses) == ["operator", "runner"]
        for status in statuses:
            assert (status["image"], status["imageID"]) == (MANIFEST_IMAGE, image_id(image))
            assert status["ready"] is True
            assert status["restartCount"] == 0, f"{pod['metadata']['name']} restarted: {status}"
        assert pod["spec"]["nodeName"]


def test_one_pod_holds_the_lease(cluster: DevCluster) -> None:
    held = leader(cluster)
    others = [pod["metadata"]["name"] for pod in pods(cluster) if pod["metadata"]["name"] != held]
    assert len(others) == 1


def test_the_pods_run_as_non_root_on_a_read_only_root_without_privilege_escalation(cluster: DevCluster) -> None:
    pod = eventually(lambda: both_ready(cluster), timeout=START, what="two pods Ready")[0]["metadata"]["name"]
    checked = cluster.kubectl(
        "exec",
        "-n",
        DEFAULT_NAMESPACE,
        pod,
        "-c",
        "operator",
        "--",
        "sh",
        "-c",
        "id -u; id -g; grep -E '^(NoNewPrivs|CapEff):' /proc/1/status; touch /root-is-writable 2>&1; touch /tmp/ok",
        check=False,
    )
    lines = checked.stdout.splitlines()
    assert lines[:2] == ["10001", "10001"], checked
    assert "NoNewPrivs:\t1" in lines, checked
    assert "CapEff:\t0000000000000000" in lines, checked
    assert any("Read-only file system" in line for line in lines), checked
    # The emptyDir volumes are where it writes: /tmp and the data dir.
    assert checked.returncode == 0, checked.stderr


def test_the_runner_is_another_uid_without_the_operators_token_or_state(cluster: DevCluster) -> None:
    """Where extension processes run: the operator's token is not there, its state is read-only and
    partly unreadable, and the operator's processes are not visible."""
    pod = leader(cluster)

    def run(container: str, script: str) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl(
            "exec", "-n", DEFAULT_NAMESPACE, pod, "-c", container, "--", "sh", "-c", script, check=False
        )

    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert run("operator", f"test -s {token}").returncode == 0, "the operator has its token"
    checked = run(
        "runner",
        f"id -u; id -G; test -e {token} && echo TOKEN; ls /var/lib/tilt-dev/git 2>&1; "
        "touch /var/lib/tilt-dev/x 2>&1; cat /proc/[0-9]*/cmdline | tr -c '[:print:]' ' '",
    )
    lines = checked.stdout.splitlines()
    assert lines[0] == "10002", checked
    assert "10001" in lines[1].split(), "fsGroup: it reads the checkouts"
    assert "TOKEN" not in lines, "no token of the operator's"
    assert any("/var/lib/tilt-dev/git" in line and "Permission denied" in line for line in lines), checked
    assert any("Read-only file system" in line for line in lines), checked
    assert "--liveness" not in checked.stdout, "the operator's processes (tilt-operator run --liveness=…) are not here"
    assert "tilt-operator runner" in checked.stdout


def test_a_repo_on_the_git_server_and_an_extension_become_ready_in_the_cluster(
    cluster: DevCluster, api: Api, git_server: GitServer, tmp_path: Path
) -> None:
    leader(cluster)
    git_server.create_repo("node-shelf", {"hello/Tiltfile": "print('hello from the node')\n"})
    # A user's Secret: the server's CA, so the operator in its pod trusts this repo's server alone.
    created = subprocess.run(
        [
            *("kubectl-tilt", "create", "secret", "git", "node-shelf"),
            *("--url", git_server.url("node-shelf"), "--ca-file", str(git_server.ca_bundle)),
        ],
        env=kubectl_tilt_env(cluster, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    api.create("extensionrepos", repo("node-shelf", git_server.url("node-shelf"), secretRef={"name": "node-shelf"}))
    api.create("extensions", extension("hello", "node-shelf", "hello"))
    for plural, name in (("extensionrepos", "node-shelf"), ("extensions", "hello"), ("tiltfiles", "hello")):
        eventually(
            lambda plural=plural, name=name: ready(api.status(plural, name)) == "True",
            timeout=120,
            what=f"{plural}/{name} Ready",
        )


def test_kubectl_tilt_logs_and_ui_reach_the_leader_s_pod(cluster: DevCluster, api: Api, tmp_path: Path) -> None:
    eventually(lambda: ready(api.status("tiltfiles", "hello")) == "True", timeout=120, what="tiltfile/hello Ready")
    env = kubectl_tilt_env(cluster, tmp_path)
    shown = subprocess.run(["kubectl-tilt", "logs", "hello"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "hello from the node" in shown.stdout

    ui = subprocess.Popen(["kubectl-tilt", "ui", "--no-browser"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert ui.stdout is not None
        first = ui.stdout.readline()
        assert first.startswith("dashboard: http://127.0.0.1:"), first
        with urllib.request.urlopen(first.removeprefix("dashboard: ").strip(), timeout=30) as page:
            assert page.status == 200
            assert "<title>" in page.read().decode()
    finally:
        ui.terminate()
        ui.wait(10)


def test_deleting_the_leader_pod_hands_the_lease_and_the_work_to_another(cluster: DevCluster, api: Api) -> None:
    old = leader(cluster)
    cluster.kubectl("delete", "pod", "-n", DEFAULT_NAMESPACE, old, "--wait=false")
    # The leader gives the Lease up when it gets SIGTERM; the standby takes it at its next retry
    # (or the Deployment's replacement for the deleted pod, if it starts first).
    new = eventually(
        lambda: (held := holder(cluster)) not in ("", old) and held, timeout=30, what=f"the Lease moves from {old}"
    )
    api.create("extensions", extension("hello-again", "node-shelf", "hello"))
    eventually(
        lambda: ready(api.status("tiltfiles", "hello-again")) == "True", timeout=60, what="the new leader runs it"
    )
    # The Deployment has replaced the deleted pod: two Ready again, the new leader still leading.
    ready_again = eventually(lambda: both_ready(cluster), timeout=START, what="two pods Ready again")
    assert holder(cluster) == new
    # Nothing the pods did was refused by the API server: the ServiceAccount's rights suffice.
    for pod in ready_again:
        log = cluster.kubectl("logs", "-n", DEFAULT_NAMESPACE, pod["metadata"]["name"], "-c", "operator").stdout
        assert not DENIED.search(log), log


def cancel_extension() -> dict[str, str]:
    """Upstream's cancel (tilt-dev/tilt-extensions) from a local checkout named by TILT_EXTENSIONS;
    else this repo's cancel-sh, written as upstream's is (bash, jq and `tilt get --watch`)."""
    checkout = os.environ.get("TILT_EXTENSIONS")
    source = Path(checkout) / "cancel" if checkout else REPO / "examples" / "extensions" / "cancel-sh"
    return {f"cancel/{path.name}": path.read_text() for path in source.iterdir() if path.is_file()}


def test_the_flagship_in_the_cluster_a_cancel_button_kills_a_running_cmd_and_no_cmd_reads_a_secret(
    cluster: DevCluster, api: Api, git_server: GitServer, tmp_path: Path
) -> None:
    """manifests/ unchanged: execution on, every process in the runner as its extension's account."""
    leader(cluster)
    env = kubectl_tilt_env(cluster, tmp_path)
    app = "local_resource('sleeper', serve_cmd='sleep 600')\n" + (
        "local_resource('snoop', serve_cmd='kubectl get secrets -n tilt-operator')\n"
    )
    git_server.create_repo("node-flagship", {**cancel_extension(), "app/Tiltfile": app})
    url = git_server.url("node-flagship")
    secret = ("kubectl-tilt", "create", "secret", "git", "node-flagship", "--url", url)
    created = subprocess.run(
        [*secret, "--ca-file", str(git_server.ca_bundle)], env=env, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    api.create("extensionrepos", repo("node-flagship", url, secretRef={"name": "node-flagship"}))
    api.create("extensions", extension("cancel", "node-flagship", "cancel"))
    eventually(lambda: ready(api.status("extensions", "cancel")) == "True", timeout=120, what="cancel Ready")
    api.create("extensions", extension("app", "node-flagship", "app"))

    running = eventually(lambda: api.status("cmds", "sleeper.serve").get("running"), timeout=120, what="sleeper")
    button = eventually(
        lambda: (found := api.get("uibuttons", "sleeper.serve.cancel")) and not found["spec"].get("disabled") and found,
        timeout=120,
        what="an enabled Cancel button for the sleeper",
    )
    assert button["spec"]["text"] == "Cancel"
    clicked = subprocess.run(
        ["kubectl-tilt", "click", "sleeper:serve:cancel"], env=env, capture_output=True, text=True, timeout=60
    )
    assert clicked.returncode == 0, clicked.stderr
    ended = eventually(lambda: api.status("cmds", "sleeper.serve").get("terminated"), timeout=60, what="the kill")
    assert ended["pid"] == running["pid"]
    assert ended["reason"] == "killed by SIGTERM", ended

    snooped = eventually(lambda: api.status("cmds", "snoop.serve").get("terminated"), timeout=60, what="snoop")
    assert snooped["exitCode"] != 0, "kubectl get secrets failed"
    shown = subprocess.run(["kubectl-tilt", "logs", "snoop"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert 'User "system:serviceaccount:tilt-operator:tilt-extension" cannot list resource "secrets"' in shown.stdout


def test_a_deployment_an_extension_deploys_runs_on_the_node_and_its_rollout_is_the_extension_s_ready(
    cluster: DevCluster, api: Api, git_server: GitServer, tmp_path: Path
) -> None:
    """k8s_yaml of a Deployment of the locally built image, applied by the operator in its pod as the
    extension's account (a Role in one namespace lets it write Deployments): the kubelet runs the
    pod, and the Extension is Ready once the rollout is, as kstatus reads it; it takes the
    Deployment with it when it goes."""
    leader(cluster)
    namespace, account = "node-deploys", "node-deployer"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("create", "serviceaccount", account, "-n", DEFAULT_NAMESPACE)
    binding = f"--serviceaccount={DEFAULT_NAMESPACE}:{account}"
    cluster.kubectl("create", "clusterrolebinding", f"{account}-tilt", "--clusterrole=tilt-extension", binding)
    cluster.kubectl(
        "create", "role", "deploys", "-n", namespace, "--verb=get,create,patch,delete", "--resource=deployments.apps"
    )
    cluster.kubectl("create", "rolebinding", "deploys", "-n", namespace, "--role=deploys", binding)
    web = deployment("web", namespace, MANIFEST_IMAGE, command=["sleep", "600"])
    env = kubectl_tilt_env(cluster, tmp_path)
    git_server.create_repo("node-deploys", {"web/Tiltfile": f"k8s_yaml(blob({json.dumps(web)!r}))\n"})
    url = git_server.url("node-deploys")
    created = subprocess.run(
        [
            "kubectl-tilt",
            "create",
            "secret",
            "git",
            "node-deploys",
            "--url",
            url,
            "--ca-file",
            str(git_server.ca_bundle),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    api.create("extensionrepos", repo("node-deploys", url, secretRef={"name": "node-deploys"}))
    api.create("extensions", extension("web", "node-deploys", "web", serviceAccountName=account))

    eventually(lambda: ready(api.status("extensions", "web")) == "True", timeout=START, what="the rollout, Ready")
    found = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json").stdout)
    [pod] = found["items"]
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["containers"][0]["image"] == MANIFEST_IMAGE
    [deploy] = api.status("kubernetesapplys", "web")["inventory"]
    assert (deploy["kind"], deploy["health"]) == ("Deployment", "Current")
    shown = subprocess.run(["kubectl-tilt", "logs", "web"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    said = [line.partition(" │ ")[2] for line in shown.stdout.splitlines()]
    waited = [line for line in said if line.startswith(f"Deployment {namespace}/web: InProgress")]
    assert waited, f"the Extension waited for the rollout: {said}"
    assert said.index(waited[0]) < said.index(f"Deployment {namespace}/web: Current: 1 replicas available")

    api.delete("extensions", "web")
    eventually(
        lambda: cluster.kubectl("get", "deployment", "web", "-n", namespace, check=False).returncode != 0,
        timeout=120,
        what="the Deployment to go with the Extension",
    )
