"""Every extension acts as its own ServiceAccount on the real API server, never as the operator.

The operator of these tests runs with the admin's kubeconfig, as `tilt-operator dev` does; what its
extensions do must still be only what their ServiceAccount may: `kubectl auth whoami` from a Cmd
and from `local()`, a Secret they may not read, a Cmd a read-only account may not register, an
account that does not exist yet, and a token renewed under a process that keeps running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, extension, ready, repo
from tests.integration.test_cmd import state
from tilt_operator import reasons
from tilt_operator.config import DEFAULT_NAMESPACE
from tilt_operator.devcluster import DevCluster

NAMESPACE = DEFAULT_NAMESPACE


def user(account: str) -> str:
    return f"system:serviceaccount:{NAMESPACE}:{account}"


# What an extension's process finds out about itself, one file a question.
PROBE = f"""\
kubectl auth whoami -o jsonpath='{{{{.status.userInfo.username}}}}' > {{out}}/whoami
kubectl get cmds -o name > {{out}}/cmds 2>&1; echo "exit $?" >> {{out}}/cmds
kubectl get secrets -n {NAMESPACE} -o name > {{out}}/secrets 2>&1; echo "exit $?" >> {{out}}/secrets
kubectl get pods -n default -o name > {{out}}/pods 2>&1; echo "exit $?" >> {{out}}/pods
env > {{out}}/env
"""


def extension_repo(tmp_path: Path, tiltfile: str) -> Path:
    directory = tmp_path / "repo" / "probe"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Tiltfile").write_text(tiltfile)
    return directory.parent


@pytest.fixture
def accounts(cluster: DevCluster) -> Iterator[list[str]]:
    """ServiceAccounts (and their bindings, labelled with the account) a test makes; they go with it."""
    made: list[str] = []
    yield made
    for account in made:
        cluster.kubectl("delete", "serviceaccount", account, "-n", NAMESPACE, "--ignore-not-found")
        for kind in ("clusterrolebinding", "rolebinding"):
            cluster.kubectl("delete", kind, "-A", "-l", f"test-account={account}", "--ignore-not-found")


def make_account(cluster: DevCluster, accounts: list[str], account: str, *bindings: tuple[str, str]) -> None:
    """An account of the operator's namespace bound to each (ClusterRole, namespace or "" for everywhere)."""
    accounts.append(account)
    cluster.kubectl("create", "serviceaccount", account, "-n", NAMESPACE)
    for role, namespace in bindings:
        kind, where = ("rolebinding", ["-n", namespace]) if namespace else ("clusterrolebinding", [])
        binding = f"{account}-{role}"
        subject = f"--serviceaccount={NAMESPACE}:{account}"
        cluster.kubectl("create", kind, binding, *where, f"--clusterrole={role}", subject)
        cluster.kubectl("label", kind, binding, *where, f"test-account={account}")


def answers(out: Path) -> dict[str, str]:
    return {name: (out / name).read_text() for name in ("whoami", "cmds", "secrets", "pods")}


def env_of(out: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)


def test_an_extensions_cmd_and_local_act_as_tilt_extension_may_read_cmds_and_no_secret(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    local_out, cmd_out = tmp_path / "local", tmp_path / "cmd"
    local_out.mkdir()
    cmd_out.mkdir()
    tiltfile = (
        f"local({json.dumps(PROBE.format(out=local_out))}, quiet=True)\n"
        f"cmd(name='{name}', args=['sh', '-c', {json.dumps(PROBE.format(out=cmd_out) + 'sleep 600')}])\n"
    )
    api.create("extensionrepos", repo(name, f"file://{extension_repo(tmp_path, tiltfile)}"))
    api.create("extensions", extension(name, name, "probe"))
    try:
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="the Extension")
        eventually(lambda: (cmd_out / "env").exists(), what="the Cmd to have asked its questions")
        for out in (local_out, cmd_out):
            found = answers(out)
            assert found["whoami"] == user("tilt-extension")
            assert found["cmds"].endswith("exit 0\n"), "it may list Cmds"
            assert "forbidden" in found["secrets"]
            assert not found["secrets"].endswith("exit 0\n")
            assert "forbidden" in found["pods"], "nothing outside the tilt.dev group"
            env = env_of(out)
            assert env["KUBECONFIG"] == str(operator.data_dir / "identities" / "tilt-extension" / "kubeconfig")
            assert not [key for key in env if key.startswith("TILT_OPERATOR_")], "none of the operator's settings"
            assert env["HOME"] != str(operator.home)
        assert f"cmd.tilt.dev/{name}" in answers(cmd_out)["cmds"], "the Cmd lists itself"
        cmd = api.get("cmds", name)
        assert cmd["metadata"]["annotations"]["tilt.dev/service-account"] == "tilt-extension"
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)


def test_service_account_name_grants_exactly_what_its_roles_grant(
    cluster: DevCluster, api: Api, operator: Operator, accounts: list[str], tmp_path: Path, name: str
):
    """The README's way to give an extension more: an account of its own with one more role."""
    account = f"{name}-pods"
    cluster.kubectl("create", "clusterrole", account, "--verb=get,list", "--resource=pods")
    make_account(cluster, accounts, account, ("tilt-extension", ""), (account, "default"))
    out = tmp_path / "out"
    out.mkdir()
    tiltfile = f"cmd(name='{name}', args=['sh', '-c', {json.dumps(PROBE.format(out=out))}])\n"
    api.create("extensionrepos", repo(name, f"file://{extension_repo(tmp_path, tiltfile)}"))
    api.create("extensions", extension(name, name, "probe", serviceAccountName=account))
    try:
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=60, what="the Extension")
        assert api.get("tiltfiles", name)["spec"]["serviceAccountName"] == account
        eventually(lambda: (out / "env").exists(), what="the Cmd to have asked its questions")
        found = answers(out)
        assert found["whoami"] == user(account)
        assert found["pods"].endswith("exit 0\n"), "its role in default: it may list pods there"
        assert "forbidden" in found["secrets"], "and still no Secret of the operator's"
        assert api.get("cmds", name)["metadata"]["annotations"]["tilt.dev/service-account"] == account
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)
        cluster.kubectl("delete", "clusterrole", account, "--ignore-not-found")


def test_a_read_only_account_cannot_register_a_cmd_and_the_extension_says_why(
    cluster: DevCluster, api: Api, operator: Operator, accounts: list[str], tmp_path: Path, name: str
):
    account = f"{name}-ro"
    cluster.kubectl("create", "clusterrole", account, "--verb=get,list,watch", "--resource=cmds.tilt.dev")
    try:
        make_account(cluster, accounts, account, (account, ""))
        tiltfile = f"cmd(name='{name}', args=['sleep', '600'])\n"
        api.create("extensionrepos", repo(name, f"file://{extension_repo(tmp_path, tiltfile)}"))
        api.create("extensions", extension(name, name, "probe", serviceAccountName=account))
        try:
            status = eventually(
                lambda: (s := api.status("extensions", name)) and ready(s) == "False" and s.get("error") and s,
                timeout=60,
                what="the Extension to fail",
            )
            condition = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert condition["reason"] == reasons.TILTFILE_FAILED
            assert status["error"].startswith(f"tiltfile: apply: Cmd {name}: ")
            assert f'User "{user(account)}" cannot patch resource "cmds"' in status["error"], "the API server's words"
            assert api.get("cmds", name) is None, "nothing it may not write is written"
        finally:
            api.delete("extensions", name)
            api.delete("extensionrepos", name)
    finally:
        cluster.kubectl("delete", "clusterrole", account, "--ignore-not-found")


def test_a_missing_account_is_named_and_the_extension_recovers_once_it_exists(
    cluster: DevCluster, api: Api, operator: Operator, accounts: list[str], tmp_path: Path, name: str
):
    account = f"{name}-later"
    tiltfile = f"cmd(name='{name}', args=['sleep', '600'])\n"
    api.create("extensionrepos", repo(name, f"file://{extension_repo(tmp_path, tiltfile)}"))
    api.create("extensions", extension(name, name, "probe", serviceAccountName=account))
    try:

        def missing() -> dict | None:
            status = api.status("extensions", name)
            conditions = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
            return status if conditions and conditions[0]["reason"] == reasons.SERVICE_ACCOUNT_NOT_FOUND else None

        status = eventually(missing, timeout=60, what="the Extension to name its missing account")
        assert status["error"].startswith(f"ServiceAccount {NAMESPACE}/{account} not found: create it")
        assert api.get("cmds", name) is None
        make_account(cluster, accounts, account, ("tilt-extension", ""))
        eventually(lambda: ready(api.status("extensions", name)) == "True", timeout=90, what="the Extension to recover")
        running = eventually(lambda: state(api, name, "running"), what="its Cmd to run")
        assert running["pid"]
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)


def test_a_process_keeps_working_across_renewals_of_its_token(api: Api, operator: Operator, tmp_path: Path, name: str):
    """The operator of these tests renews tokens every 5 s; a watcher reads its kubeconfig as kubectl does."""
    out = tmp_path / "requests"
    loop = (
        "token=$(kubectl config view --raw -o jsonpath='{.users[0].user.tokenFile}'); "
        "while true; do "
        'seen=$(sha256sum < "$token" | cut -c1-16); '
        f'if kubectl get cmd {name} -o name > /dev/null 2>&1; then echo "$seen ok"; else echo "$seen failed"; fi; '
        "sleep 0.5; "
        f"done >> {out}"
    )
    api.create(
        "cmds",
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Cmd",
            "metadata": {"name": name},
            "spec": {"args": ["sh", "-c", loop]},
        },
    )
    try:
        pid = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the watcher to run")

        def tokens() -> set[str]:
            lines = out.read_text().splitlines() if out.exists() else []
            assert not [line for line in lines if line.endswith("failed")], lines
            return {line.split()[0] for line in lines}

        eventually(lambda: len(tokens()) >= 3, timeout=60, what="three tokens, each used by the same process")
        assert state(api, name, "running")["pid"] == pid, "the same process throughout"
    finally:
        api.delete("cmds", name)


def test_only_an_account_or_who_may_impersonate_it_may_make_an_object_run_as_it(
    cluster: DevCluster, api: Api, operator: Operator, accounts: list[str], tmp_path: Path, name: str
):
    """The admission policy tilt-extension-identity: an extension may not hand itself a stronger account."""
    strong = f"{name}-strong"
    make_account(cluster, accounts, strong, ("tilt-extension", ""))
    cmd = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Cmd",
        "metadata": {"name": f"{name}-cmd", "annotations": {"tilt.dev/service-account": strong}},
        "spec": {"args": ["sleep", "600"]},
    }
    deploy = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "KubernetesApply",
        "metadata": {"name": f"{name}-deploy", "annotations": {"tilt.dev/service-account": strong}},
        "spec": {"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
    }
    ext = extension(f"{name}-ext", name, "probe", serviceAccountName=strong)
    refusal = f"{user('tilt-extension')} may not make this object run as ServiceAccount {NAMESPACE}/{strong}"
    try:
        for manifest in (cmd, deploy, ext):
            written = cluster.kubectl(
                "apply", "-f", "-", f"--as={user('tilt-extension')}", stdin=json.dumps(manifest), check=False
            )
            assert written.returncode != 0
            assert refusal in written.stderr
        # The account itself may, and so may whoever may impersonate it (the admin of this cluster).
        as_itself = cluster.kubectl("apply", "-f", "-", f"--as={user(strong)}", stdin=json.dumps(cmd), check=False)
        assert as_itself.returncode == 0, as_itself.stderr
        assert cluster.kubectl("apply", "-f", "-", stdin=json.dumps(ext), check=False).returncode == 0
        api.delete("extensions", f"{name}-ext")

        # Nor can an extension's Tiltfile, which runs as tilt-extension: the run fails in the API server's words.
        tiltfile = (
            f"extension(name='{name}-ext', repo_name='{name}', repo_path='probe', service_account_name='{strong}')\n"
        )
        api.create("extensionrepos", repo(name, f"file://{extension_repo(tmp_path, tiltfile)}"))
        api.create("extensions", extension(name, name, "probe"))
        error = eventually(lambda: api.status("extensions", name).get("error"), timeout=60, what="the run to fail")
        assert error.startswith(f"tiltfile: apply: Extension {name}-ext: ")
        assert refusal in error
        assert api.get("extensions", f"{name}-ext") is None
    finally:
        for plural, obj in (
            ("extensions", name),
            ("extensions", f"{name}-ext"),
            ("cmds", f"{name}-cmd"),
            ("kubernetesapplys", f"{name}-deploy"),
        ):
            api.delete(plural, obj)
        api.delete("extensionrepos", name)


def test_a_tilt_config_json_that_leads_out_of_the_repo_is_refused(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    """A symlink in a repo must not read the operator's files as settings (its identity tokens, say)."""
    token = operator.data_dir / "identities" / "tilt-extension" / "token"
    root = extension_repo(tmp_path, "config.define_string('name')\nprint(config.parse())\n")
    (root / "probe" / "tilt_config.json").symlink_to(token)
    api.create("extensionrepos", repo(name, f"file://{root}"))
    api.create("extensions", extension(name, name, "probe"))
    try:
        error = eventually(lambda: api.status("extensions", name).get("error"), timeout=60, what="the run to fail")
        assert "config.parse: " in error
        assert f"is outside {root}" in error
        assert token.read_text() not in error
    finally:
        api.delete("extensions", name)
        api.delete("extensionrepos", name)
