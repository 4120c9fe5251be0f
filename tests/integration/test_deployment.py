"""The in-cluster install, proven on the real API server: manifests/, its RBAC, and the image's install steps.

The image itself is built and run by a kubelet in test_in_cluster.py. Here, in more detail and
without a node, the ServiceAccount's rights: the Dockerfile's own COPY lines and pip commands
install the package into a clean virtual environment, and that `tilt-operator run` is started
with the Deployment's environment and a token of the Deployment's ServiceAccount (TokenRequest
API). It must reconcile a repo, an extension and its Tiltfile end to end without one 403, while
the same identity cannot read a Secret or create a Pod.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import eventually
from tests.integration.conftest import REPO, Operator
from tests.integration.objects import Api, extension, ready, repo
from tilt_operator.api import KINDS
from tilt_operator.devcluster import DevCluster
from tilt_operator.devcluster.cluster import free_port
from tilt_operator.devcluster.dev import install_extension_identity

MANIFESTS = REPO / "manifests"
NAMESPACE = SERVICE_ACCOUNT = "tilt-operator"
IDENTITY = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
# The groups a token of that ServiceAccount carries, so impersonation sees every binding the token would.
GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}", "system:authenticated")
# What a 403 looks like in the operator's log, from kopf (APIForbiddenError, "Failed to post an
# event ... Code: 403", "Not enough permissions") and from the kubernetes client (ForbiddenException).
# As a status code, never the milliseconds of a log line's timestamp ("11:40:03,403").
DENIED = re.compile(r"(?<![\d,.:])403(?!\d)|forbidden|not enough permissions", re.IGNORECASE)


def rendered(cluster: DevCluster) -> list[dict[str, Any]]:
    """What `kubectl apply -k manifests/` sends, rendered by the cluster's own kubectl."""
    return list(yaml.safe_load_all(cluster.kubectl("kustomize", str(MANIFESTS)).stdout))


@pytest.fixture(scope="module")
def installed(cluster: DevCluster) -> Iterator[list[dict[str, Any]]]:
    """The install command for real. The dev cluster runs no Deployment controller, so no pod starts."""
    cluster.kubectl("apply", "-k", str(MANIFESTS))
    yield rendered(cluster)
    # The namespace goes, and the account extensions act as with it: the tests after this one need it back.
    cluster.kubectl("delete", "-k", str(MANIFESTS), "--ignore-not-found", "--timeout=120s")
    install_extension_identity(cluster)


@pytest.mark.parametrize("version", ["1.35", "1.36"])
def test_every_manifest_passes_the_kubernetes_schema_in_strict_mode(cluster: DevCluster, version: str):
    """Strict: an unknown or misplaced field fails, which a lenient apply would drop silently.

    1.36 is the dev cluster's version, 1.35 the one before (what a kind release may still ship). The
    tilt.dev examples are custom resources: the API server checks them against the CRDs (dry run below).
    """
    documents = rendered(cluster)
    assert {doc["kind"] for doc in documents} == {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error.message} at {list(error.path)}")


def test_a_server_dry_run_of_the_install_and_the_examples_succeeds_with_no_warning(cluster: DevCluster):
    """The namespace exists first: a server dry run cannot create the namespace the rest goes into."""
    cluster.kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"))
    applied = []
    for directory in (MANIFESTS, MANIFESTS / "examples"):
        result = cluster.kubectl(
            "apply", "-k", str(directory), "--dry-run=server", "--validate=strict", "-o", "name", check=False
        )
        assert result.returncode == 0, result.stderr
        # Silence matters: the namespace warns on a pod short of the restricted Pod Security Standard.
        assert result.stderr == "", result.stderr
        applied += result.stdout.split()
    assert {"deployment.apps/tilt-operator", "extensionrepo.tilt.dev/default", "extension.tilt.dev/hello-world"} <= set(
        applied
    )


def test_the_namespace_would_warn_about_a_pod_short_of_the_restricted_standard(cluster: DevCluster):
    """So the silence above means something: the same Deployment run as root is called out."""
    cluster.kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"))
    deployment = yaml.safe_load((MANIFESTS / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(deployment))
    assert 'would violate PodSecurity "restricted' in result.stderr


def can_i(cluster: DevCluster, *query: str) -> bool:
    """`kubectl auth can-i` as the operator's ServiceAccount."""
    groups = [f"--as-group={group}" for group in GROUPS]
    result = cluster.kubectl("auth", "can-i", *query, f"--as={IDENTITY}", *groups, check=False)
    assert result.stdout.strip() in {"yes", "no"}, result.stderr
    return result.stdout.strip() == "yes"


TILT = [kind.resource for kind in KINDS]


@pytest.mark.parametrize(
    "query",
    [
        *[(verb, kind) for kind in TILT for verb in ("get", "list", "watch", "create", "patch", "delete")],
        *[("patch", kind, "--subresource=status") for kind in TILT],
        ("update", "tiltfiles.tilt.dev", "--subresource=finalizers"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "events", "-n", "default"),
        *[(verb, "secrets", "-n", NAMESPACE) for verb in ("get", "list", "watch")],
        *[(verb, "leases.coordination.k8s.io", "-n", NAMESPACE) for verb in ("get", "create", "update")],
        ("impersonate", "serviceaccounts/tilt-extension", "-n", NAMESPACE),
        ("create", "serviceaccounts/tilt-extension", "--subresource=token", "-n", NAMESPACE),
    ],
    ids=" ".join,
)
def test_the_service_account_may_do_what_the_operator_does(cluster: DevCluster, installed: list, query: tuple):
    assert can_i(cluster, *query)


@pytest.mark.parametrize(
    "query",
    [
        ("get", "secrets", "-A"),
        ("list", "secrets", "-A"),
        ("get", "secrets", "-n", "default"),
        ("get", "secrets", "-n", "kube-system"),
        ("watch", "secrets", "-n", "kube-system"),
        ("create", "secrets", "-n", NAMESPACE),
        ("get", "leases.coordination.k8s.io", "-n", "kube-system"),
        ("update", "leases.coordination.k8s.io", "-n", "kube-system"),
        ("create", "leases.coordination.k8s.io", "-n", "default"),
        ("delete", "leases.coordination.k8s.io", "-n", NAMESPACE),
        ("patch", "secrets", "-n", NAMESPACE),
        ("create", "pods", "-A"),
        ("create", "pods", "-n", NAMESPACE),
        ("create", "pods/exec", "-n", NAMESPACE),
        ("create", "deployments.apps", "-n", NAMESPACE),
        ("list", "namespaces"),
        ("create", "serviceaccounts/token", "-n", "default"),
        ("create", "serviceaccounts/token", "-n", "kube-system"),
        ("impersonate", "serviceaccounts", "-n", "kube-system"),
        ("impersonate", "groups"),
        ("create", "serviceaccounts", "-n", NAMESPACE),
        ("create", "rolebindings.rbac.authorization.k8s.io", "-n", NAMESPACE),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "customresourcedefinitions.apiextensions.k8s.io"),
        ("update", "extensions.tilt.dev"),
        ("deletecollection", "cmds.tilt.dev"),
        ("update", "uibuttons.tilt.dev", "--subresource=status"),
        ("create", "events", "-n", "kube-system"),
        ("create", "events.events.k8s.io", "-n", "default"),
        ("patch", "events", "-n", "default"),
        ("impersonate", "users"),
    ],
    ids=" ".join,
)
def test_the_service_account_may_do_nothing_else(cluster: DevCluster, installed: list, query: tuple):
    assert not can_i(cluster, *query)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the package installed by the Dockerfile's COPY lines and pip commands.

    The build context is what the Dockerfile copies (minus what .dockerignore drops: the local
    control plane). pip fetches the dependencies the lock pins from the package index, checking
    their hashes, as `docker build` does: nothing comes from the project's own environment.
    """
    root = tmp_path_factory.mktemp("image")
    context = root / "src"
    context.mkdir()
    dockerfile = (REPO / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from=)(.+)$", dockerfile, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            if (REPO / source).is_dir():
                ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "devcluster")
                # The host's build stage copies part of operator/ first: the later COPY adds the rest.
                shutil.copytree(REPO / source, context / source, ignore=ignore, dirs_exist_ok=True)
            else:
                (context / source).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source, context / source)
    # The dependencies from the lock, then the package.
    installs = re.findall(r"\bpip install [^&\\\n]+", dockerfile)
    assert len(installs) == 2, "the Dockerfile installs the locked dependencies, then the package, with pip"
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    for install in installs:
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-m", *install.split()],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, (
            f"`{install}` failed (it needs the package index):\n{result.stdout}{result.stderr}"
        )
    return venv


def test_the_image_install_steps_give_a_tilt_operator_of_its_own(image_venv: Path):
    help_text = subprocess.run(
        [str(image_venv / "bin" / "tilt-operator"), "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--liveness" in help_text
    where = subprocess.run(
        [str(image_venv / "bin" / "python"), "-c", "import tilt_operator; print(tilt_operator.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=image_venv,
    ).stdout
    assert Path(where.strip()).is_relative_to(image_venv), where


def test_the_image_has_no_local_cluster_and_says_so(image_venv: Path):
    """What only `tilt-operator dev` needs (tilt_operator.devcluster, cryptography) is not in the image."""
    python = str(image_venv / "bin" / "python")
    for module in ("tilt_operator.devcluster", "cryptography"):
        found = subprocess.run(
            [python, "-c", f"import importlib.util; print(importlib.util.find_spec({module!r}) is not None)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=image_venv,
        ).stdout
        assert found.strip() == "False", module
    dev = subprocess.run([str(image_venv / "bin" / "tilt-operator"), "dev"], capture_output=True, text=True)
    assert dev.returncode == 1
    assert "no local cluster" in dev.stderr, dev.stderr


def token_kubeconfig(cluster: DevCluster, path: Path) -> Path:
    """A kubeconfig with a fresh token of the ServiceAccount: who the operator is in its pod."""
    token = cluster.kubectl("create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE, "--duration=1h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "dev", "cluster": {"server": cluster.server, "certificate-authority": str(cluster.pki.ca.cert)}}
        ],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": SERVICE_ACCOUNT}}],
        "current-context": "dev",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class PodOperator(Operator):
    """The image's entrypoint from ``image_venv`` with the Deployment's env: the pod, minus the container."""

    venv: Path = Path()
    deployment: dict[str, Any] | None = None
    pod_name: str = "tilt-operator-0"

    runner: subprocess.Popen[bytes] | None = None

    def container(self, name: str) -> dict[str, Any]:
        assert self.deployment is not None
        (found,) = [c for c in self.deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
        return found

    def pod_env(self) -> dict[str, str]:
        """The container's env, with each path that is a volume mount mapped to a local directory."""
        container = self.container("operator")
        volumes = {mount["mountPath"]: self.workdir / mount["name"] for mount in container["volumeMounts"]}
        # What the downward API gives: the pod's namespace and name.
        fields = {"metadata.namespace": NAMESPACE, "metadata.name": self.pod_name}
        env = {
            item["name"]: fields[item["valueFrom"]["fieldRef"]["fieldPath"]] if "valueFrom" in item else item["value"]
            for item in container["env"]
        }
        for key, value in env.items():
            for mount, local in volumes.items():
                if value == mount or value.startswith(f"{mount}/"):
                    local.mkdir(parents=True, exist_ok=True)
                    env[key] = str(local) + value.removeprefix(mount)
        return env

    def command(self) -> list[str]:
        return [str(self.venv / "bin" / "tilt-operator"), "run"]

    def base_env(self) -> dict[str, str]:
        """Only what the container has: PATH and the Deployment's env."""
        return {"PATH": os.environ["PATH"], **self.pod_env()}

    def start(self) -> None:
        """The runner container first, as its command says, on the socket the operator's env names."""
        runner = self.container("runner")
        socket = Path(self.pod_env()["TILT_OPERATOR_RUNNER"])
        command = [str(self.venv / "bin" / runner["command"][0]), *runner["command"][1:], f"--socket={socket}"]
        self.runner = subprocess.Popen(
            command,
            env={"PATH": os.environ["PATH"], **{item["name"]: item["value"] for item in runner["env"]}},
            stdout=self.workdir.joinpath("runner.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        eventually(socket.exists, timeout=30, what="the runner's socket")
        super().start()

    def stop(self) -> None:
        super().stop()
        if self.runner is not None:
            self.runner.terminate()
            self.runner.wait(30)


def deployment_of(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [doc for doc in documents if doc["kind"] == "Deployment"]
    return deployment


def events(cluster: DevCluster, name: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.name={name},reason={reason}"
    result = cluster.kubectl("get", "events", "-n", "default", f"--field-selector={selector}", "-o", "json")
    return json.loads(result.stdout)["items"]


BUTTON = "ui_button(name='{name}', text='x', location={{'component_type': 'Global', 'component_id': 'x'}})\n"


def test_the_operator_as_its_service_account_reconciles_a_repo_an_extension_and_its_tiltfile(
    cluster: DevCluster,
    installed: list[dict[str, Any]],
    image_venv: Path,
    operator: Operator,
    api: Api,
    tmp_path: Path,
    name: str,
):
    """Everything the operator does on the API server, done as its ServiceAccount: any missing rule is a 403."""
    tiltfile = tmp_path / "repo" / "hello" / "Tiltfile"
    tiltfile.parent.mkdir(parents=True)
    tiltfile.write_text(f"print('hi')\n{BUTTON.format(name=f'{name}-button')}cmd(name='{name}-cmd', args=['true'])\n")
    pod = PodOperator(
        cluster,
        tmp_path / "pod",
        env={
            "KUBECONFIG": str(token_kubeconfig(cluster, tmp_path / "token.kubeconfig")),
            # The Deployment allows no file:// repo; this test's repo is a directory, allowed here alone.
            "TILT_OPERATOR_FILE_ROOTS": str(tmp_path / "repo"),
        },
        venv=image_venv,
        deployment=deployment_of(installed),
    )
    pod.workdir.mkdir()
    # One operator at a time: the session's operator would reconcile the same objects.
    operator.stop()
    try:
        pod.start()
        api.create("extensionrepos", repo(name, f"file://{tiltfile.parent.parent}"))
        api.create("extensions", extension(name, name, "hello"))

        eventually(lambda: ready(api.status("extensionrepos", name)) == "True", what="the repo to be Ready")
        # A directory outside the file roots is no repo, however readable.
        api.create("extensionrepos", repo(f"{name}-outside", f"file://{tmp_path}"))
        outside = eventually(lambda: api.status("extensionrepos", f"{name}-outside").get("error"), what="a refusal")
        assert outside.startswith("invalid url: file:// repos are allowed only under the operator's file roots")
        api.delete("extensionrepos", f"{name}-outside")
        eventually(lambda: ready(api.status("extensions", name)) == "True", what="the Extension to be Ready")
        state = eventually(lambda: api.status("tiltfiles", name).get("terminated"), what="the Tiltfile's run")
        assert "error" not in state, state
        button = api.get("uibuttons", f"{name}-button")
        assert button is not None, "the Tiltfile's button was not applied"
        assert button["metadata"]["ownerReferences"][0]["name"] == name
        # The Cmd ran in the runner, as the extension's account, and ended.
        ended = eventually(lambda: api.status("cmds", f"{name}-cmd").get("terminated"), what="the Cmd to run")
        assert ended["exitCode"] == 0, ended
        assert api.get("cmds", f"{name}-cmd")["metadata"]["annotations"]["tilt.dev/service-account"] == "tilt-extension"
        # The Tiltfile's output is an Event (kopf posts those for cluster-scoped objects to `default`).
        eventually(lambda: events(cluster, name, "Output"), what="the Tiltfile's Output event")

        # A run that no longer registers the button prunes it: list by label, then delete.
        tiltfile.write_text("print('bye')\n")
        eventually(lambda: api.get("uibuttons", f"{name}-button") is None, what="the button to be pruned")

        # Deleting the Extension takes its Tiltfile and the Cmd with it (kopf's finalizers come off).
        api.delete("extensions", name)
        api.delete("extensionrepos", name)
        for plural, obj in (("tiltfiles", name), ("cmds", f"{name}-cmd"), ("extensionrepos", name)):
            eventually(lambda p=plural, o=obj: api.get(p, o) is None, timeout=60, what=f"{plural}/{obj} to go")

        denied = [line for line in pod.log_text().splitlines() if DENIED.search(line)]
        assert not denied, "\n".join(denied)
    finally:
        pod.stop()
        operator.start()


def test_a_person_bound_to_the_logs_role_may_port_forward_to_the_operator_and_nothing_else(
    cluster: DevCluster, installed: list[dict[str, Any]], name: str
):
    cluster.kubectl("create", "rolebinding", name, "-n", NAMESPACE, "--role=tilt-operator-logs", f"--user={name}")
    try:

        def may(*query: str) -> bool:
            result = cluster.kubectl("auth", "can-i", *query, f"--as={name}", check=False)
            return result.stdout.strip() == "yes"

        assert may("create", "pods", "--subresource=portforward", "-n", NAMESPACE)
        assert may("get", "deployments.apps/tilt-operator", "-n", NAMESPACE)
        assert may("list", "pods", "-n", NAMESPACE)
        assert not may("create", "pods", "--subresource=portforward", "-n", "default")
        assert not may("create", "pods", "--subresource=exec", "-n", NAMESPACE)
        assert not may("get", "secrets", "-n", NAMESPACE)
        assert not may("list", "cmds.tilt.dev")
    finally:
        cluster.kubectl("delete", "rolebinding", name, "-n", NAMESPACE, "--ignore-not-found")


def test_kubectl_tilt_logs_and_ui_reach_the_operators_pod_through_a_port_forward(
    cluster: DevCluster,
    installed: list[dict[str, Any]],
    image_venv: Path,
    operator: Operator,
    api: Api,
    tmp_path: Path,
    name: str,
):
    """The in-cluster path: no operator on this machine, so the CLI asks kubectl for a port-forward.

    This cluster has no kubelet to forward to, so `kubectl port-forward` is played by a script that
    records what it was asked and says where the pod's server is; everything else is real: the
    operator runs as its ServiceAccount with the Deployment's environment, its server listens on
    loopback only, the CLI reads the Tiltfile's log through the forward, and `kubectl tilt ui`
    keeps a forward open to the dashboard until Ctrl-C.
    """
    tiltfile = tmp_path / "Tiltfile"
    tiltfile.write_text("print('hello from the pod')\n")
    token = {"KUBECONFIG": str(token_kubeconfig(cluster, tmp_path / "token.kubeconfig"))}
    pod, standby = (
        PodOperator(
            cluster,
            tmp_path / pod_name,
            env=token,
            venv=image_venv,
            deployment=deployment_of(installed),
            pod_name=pod_name,
        )
        for pod_name in ("tilt-operator-leader", "tilt-operator-standby")
    )
    pod.workdir.mkdir()
    standby.workdir.mkdir()
    operator.stop()
    try:
        pod.start()
        eventually(lambda: "leading as tilt-operator-leader_" in pod.log_text(), what="the first pod to lead")
        standby.start()
        eventually(lambda: "standby as tilt-operator-standby_" in standby.log_text(), what="the second to stand by")
        api.create("tiltfiles", {**extension(name, "r", "p"), "kind": "Tiltfile", "spec": {"path": str(tiltfile)}})
        eventually(lambda: api.status("tiltfiles", name).get("terminated"), what="the Tiltfile's run")
        serving = eventually(lambda: re.search(r"dashboard and logs at http://127\.0\.0\.1:(\d+)/", pod.log_text()))
        asked = tmp_path / "asked"
        kubectl = tmp_path / "kubectl"
        # The Deployment's pick would be the standby, which serves nothing: only the leader's pod answers.
        kubectl.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = port-forward ]; then echo "$@" > {asked}; port={free_port()}; '
            f'if [ "$4" = pod/tilt-operator-leader ]; then port={serving.group(1)}; fi; '
            'echo "Forwarding from 127.0.0.1:$port -> 10350"; exec sleep 600; fi\n'
            f'exec {cluster.binaries.kubectl} "$@"\n'
        )
        kubectl.chmod(0o755)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path / "user"),  # no operator of this machine to find
            "KUBECONFIG": str(cluster.kubeconfig),
            "TILT_OPERATOR_KUBECTL": str(kubectl),
        }
        shown = subprocess.run(
            [str(Path(sys.executable).parent / "kubectl-tilt"), "logs", name],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert f"{name} │ hello from the pod" in shown.stdout.splitlines()
        assert asked.read_text().split() == [
            "port-forward",
            "--namespace",
            NAMESPACE,
            "pod/tilt-operator-leader",
            ":10350",
        ]
        listening = {line for line in pod.log_text().splitlines() if "dashboard and logs at" in line}
        assert all("http://127.0.0.1:" in line for line in listening), listening

        ui = subprocess.Popen(
            [str(Path(sys.executable).parent / "kubectl-tilt"), "ui", "--no-browser"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert ui.stdout is not None
            url = f"http://127.0.0.1:{serving.group(1)}/"
            assert ui.stdout.readline() == f"dashboard: {url}\n"
            assert ui.stdout.readline() == "forwarding from the operator's pod; Ctrl-C to stop\n"
            with urllib.request.urlopen(url, timeout=10) as page:
                assert b'<script src="/static/app.js"' in page.read()
            assert ui.poll() is None  # the forward stays open while the page is used
        finally:
            ui.send_signal(signal.SIGINT)
            assert ui.wait(30) == 130
    finally:
        standby.stop()
        pod.stop()
        api.delete("tiltfiles", name)
        operator.start()
