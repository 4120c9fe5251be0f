"""Private repos on the real API server: credentials from a Secret, over https and ssh, never leaked.

The servers are real and on loopback: ``git http-backend`` behind TLS that demands a login, and
Debian's OpenSSH server with a host key of its own. Secrets are made as a user makes them, with
``kubectl tilt create secret git``, in the operator's namespace.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import eventually, holds
from tests.integration.conftest import Operator
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api, ready, repo
from tests.integration.objects import tiltfile as tiltfile_obj
from tests.integration.sshserver import SshServer, keypair
from tests.integration.test_logs import cli_env
from tilt_operator import reasons
from tilt_operator.config import DEFAULT_NAMESPACE
from tilt_operator.devcluster import DevCluster

REPOS = "extensionrepos"
PASSWORD = "pa55-Word-that-must-never-show"
TOKEN = "bearer-t0ken-that-must-never-show"


@pytest.fixture(scope="module", autouse=True)
def namespace(cluster: DevCluster) -> str:
    """The operator's namespace, Active (another module's clean-up may still be deleting it)."""

    def active() -> bool:
        found = cluster.kubectl("get", "namespace", DEFAULT_NAMESPACE, "-o", "jsonpath={.status.phase}", check=False)
        if found.returncode != 0:
            cluster.kubectl("create", "namespace", DEFAULT_NAMESPACE, check=False)
            return False
        return found.stdout == "Active"

    eventually(active, timeout=120, what=f"namespace {DEFAULT_NAMESPACE} to be Active")
    return DEFAULT_NAMESPACE


@pytest.fixture(autouse=True)
def repos_deleted(api: Api, name: str) -> Iterator[None]:
    """Each test's repos go with it: their servers stop, and a repo left behind would retry for ever."""
    yield
    for item in api.custom.list_cluster_custom_object("tilt.dev", "v1alpha1", REPOS)["items"]:
        if item["metadata"]["name"].startswith(name):
            api.delete(REPOS, item["metadata"]["name"])


@pytest.fixture
def https_server(git_server: GitServer, tmp_path: Path) -> Iterator[GitServer]:
    """A server of its own (logins are per server), trusted through the operator's CA setting."""
    server = GitServer(tmp_path / "https", pki_dir=git_server.pki.directory)
    yield server
    server.stop()


def kubectl_tilt(
    cluster: DevCluster, operator: Operator, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(cluster, operator)
    return subprocess.run(["kubectl-tilt", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def create_secret(cluster: DevCluster, operator: Operator, name: str, *args: str, stdin: str | None = None) -> None:
    created = kubectl_tilt(cluster, operator, "create", "secret", "git", name, *args, stdin=stdin)
    assert created.returncode == 0, created.stderr
    assert created.stdout == f"secret/{name} created\n"


def replace_secret(cluster: DevCluster, operator: Operator, name: str, *args: str, stdin: str | None = None) -> None:
    """Rotation, as the CLI's error message says to do it: a dry run piped into kubectl apply."""
    made = kubectl_tilt(
        cluster, operator, "create", "secret", "git", name, *args, "--dry-run=client", "-o", "yaml", stdin=stdin
    )
    assert made.returncode == 0, made.stderr
    cluster.kubectl("apply", "-f", "-", stdin=made.stdout)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def settled(api: Api, name: str, reason: str, timeout: float = 60) -> dict:
    """The repo's status once its Ready condition gives ``reason``."""

    def check() -> dict | None:
        status = api.status(REPOS, name)
        conditions = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
        return status if conditions and conditions[0]["reason"] == reason else None

    return eventually(check, timeout=timeout, what=f"{name} to be {reason}: {api.status(REPOS, name)}")


def test_basic_auth_then_a_bearer_token_then_a_ca_of_the_secrets_own(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, tmp_path: Path, name: str
):
    https_server.create_repo(name, {"Tiltfile": "print('private')\n"})
    https_server.authorized = {basic("alice", PASSWORD), f"Bearer {TOKEN}"}
    https_server.start()

    bound = ("--url", https_server.url(name))
    create_secret(
        cluster, operator, f"{name}-basic", *bound, "--username", "alice", "--password-stdin", stdin=PASSWORD + "\n"
    )
    api.create(REPOS, repo(f"{name}-basic", https_server.url(name), secretRef={"name": f"{name}-basic"}))
    status = settled(api, f"{name}-basic", reasons.CHECKOUT_READY)
    checkout = Path(status["path"])
    assert (checkout / "Tiltfile").read_text() == "print('private')\n"
    assert PASSWORD not in (checkout / ".git" / "config").read_text()
    assert "extraheader" not in (checkout / ".git" / "config").read_text().lower()

    create_secret(cluster, operator, f"{name}-token", *bound, "--bearer-token-stdin", stdin=TOKEN)
    api.create(REPOS, repo(f"{name}-token", https_server.url(name), secretRef={"name": f"{name}-token"}))
    assert ready(settled(api, f"{name}-token", reasons.CHECKOUT_READY)) == "True"

    # A server whose certificate comes from a CA the operator was never told about: only the
    # Secret's ca.crt makes it trusted, for this repo alone.
    private_ca = GitServer(tmp_path / "private-ca")
    private_ca.create_repo(name, {"Tiltfile": "print('own CA')\n"})
    private_ca.authorized = {basic("alice", PASSWORD)}
    private_ca.start()
    try:
        login = ("--url", private_ca.url(name), "--username", "alice", "--password-stdin")
        create_secret(cluster, operator, f"{name}-ca", *login, stdin=PASSWORD)
        api.create(REPOS, repo(f"{name}-ca", private_ca.url(name), secretRef={"name": f"{name}-ca"}))
        failed = settled(api, f"{name}-ca", reasons.FETCH_FAILED)
        assert "certificate" in failed["error"], failed["error"]
        replace_secret(cluster, operator, f"{name}-ca", *login, "--ca-file", str(private_ca.ca_bundle), stdin=PASSWORD)
        status = settled(api, f"{name}-ca", reasons.CHECKOUT_READY, timeout=30)
        assert (Path(status["path"]) / "Tiltfile").read_text() == "print('own CA')\n"
    finally:
        private_ca.stop()

    # git's own directory is the operator's alone; the checkouts its group's too (a runner's processes).
    assert (operator.data_dir / "git").stat().st_mode & 0o077 == 0
    assert (operator.data_dir / "tilt_modules").stat().st_mode & 0o027 == 0
    assert checkout.is_relative_to(operator.data_dir / "tilt_modules")


def test_a_wrong_password_fails_once_and_a_rotated_secret_fetches_at_once(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, name: str
):
    https_server.create_repo(name, {"Tiltfile": "print(1)\n"})
    https_server.authorized = {basic("alice", PASSWORD)}
    https_server.start()
    bound = ("--url", https_server.url(name))
    create_secret(cluster, operator, name, *bound, "--username", "alice", "--password-stdin", stdin="wrong")
    api.create(REPOS, repo(name, https_server.url(name), secretRef={"name": name}))

    failed = settled(api, name, reasons.AUTHENTICATION_FAILED)
    secret = f"{DEFAULT_NAMESPACE}/{name}"
    assert (
        failed["error"]
        == f"fetch: {https_server.url(name)} refused the credentials in Secret {secret}: check the Secret"
    )
    assert ready(failed) == "False"
    # No retry storm: a refused login is tried again only after the interval, or when the Secret changes.
    attempts = len(https_server.requests)
    holds(
        lambda: len(https_server.requests) == attempts,
        seconds=5,
        because="the queue's backoff starts at half a second: a retry storm shows within five",
    )

    replace_secret(cluster, operator, name, *bound, "--username", "alice", "--password-stdin", stdin=PASSWORD)
    status = settled(api, name, reasons.CHECKOUT_READY, timeout=20)
    assert "error" not in status


def test_a_missing_secret_is_named_and_creating_it_fetches_within_seconds(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, name: str
):
    https_server.create_repo(name, {"Tiltfile": "print(1)\n"})
    https_server.authorized = {f"Bearer {TOKEN}"}
    https_server.start()
    api.create(REPOS, repo(name, https_server.url(name), secretRef={"name": name}))
    missing = settled(api, name, reasons.SECRET_NOT_FOUND)
    assert missing["error"].startswith(f"Secret {DEFAULT_NAMESPACE}/{name} not found")
    assert https_server.requests == []  # nothing was tried without the credentials

    url = f"--from-literal=url={https_server.url(name)}"
    cluster.kubectl("create", "secret", "generic", name, "-n", DEFAULT_NAMESPACE, "--from-literal=token=x", url)
    invalid = settled(api, name, reasons.SECRET_INVALID, timeout=20)
    assert "expected the keys username and password, or bearerToken" in invalid["error"]

    cluster.kubectl("delete", "secret", name, "-n", DEFAULT_NAMESPACE)
    settled(api, name, reasons.SECRET_NOT_FOUND, timeout=20)
    create_secret(cluster, operator, name, "--url", https_server.url(name), "--bearer-token-stdin", stdin=TOKEN)
    assert ready(settled(api, name, reasons.CHECKOUT_READY, timeout=20)) == "True"


def test_the_twin_without_credentials_gets_nothing_the_private_one_fetched(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, name: str
):
    https_server.create_repo(name, {"Tiltfile": "print('secret sauce')\n"})
    https_server.authorized = {basic("alice", PASSWORD)}
    https_server.start()
    login = ("--url", https_server.url(name), "--username", "alice", "--password-stdin")
    create_secret(cluster, operator, name, *login, stdin=PASSWORD)
    api.create(REPOS, repo(name, https_server.url(name), secretRef={"name": name}))
    private = settled(api, name, reasons.CHECKOUT_READY)

    api.create(REPOS, repo(f"{name}-twin", https_server.url(name)))
    twin = settled(api, f"{name}-twin", reasons.FETCH_FAILED)
    assert "not public: for a private one, set spec.secretRef" in twin["error"]
    assert not {"path", "checkoutRef", "extensions"} & twin.keys()
    host_dir = operator.data_dir / "tilt_modules" / f"127.0.0.1_{https_server.port}"
    on_disk = [p for p in host_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert on_disk == [Path(private["path"])]


def test_ssh_with_a_pinned_host_key_and_a_host_key_that_does_not_match(
    cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    server = GitServer(tmp_path / "git")
    server.create_repo(name, {"Tiltfile": "print('over ssh')\n"})
    sshd = SshServer(tmp_path)
    sshd.start()
    try:
        url = sshd.url(server.root / f"{name}.git")
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(sshd.known_hosts())
        key = ("--url", url, "--identity-file", str(sshd.client_key), "--known-hosts-file", str(known_hosts))
        create_secret(cluster, operator, name, *key)
        created = kubectl_tilt(cluster, operator, "create", "repo", name, url, "--secret", name)
        assert created.returncode == 0, created.stderr
        status = settled(api, name, reasons.CHECKOUT_READY)
        assert (Path(status["path"]) / "Tiltfile").read_text() == "print('over ssh')\n"

        impostor = tmp_path / "impostor_known_hosts"
        impostor.write_text(sshd.known_hosts(keypair(tmp_path / "other_host_key")))
        pinned_wrong = ("--url", url, "--identity-file", str(sshd.client_key), "--known-hosts-file", str(impostor))
        create_secret(cluster, operator, f"{name}-mismatch", *pinned_wrong)
        api.create(REPOS, repo(f"{name}-mismatch", url, secretRef={"name": f"{name}-mismatch"}))
        mismatch = settled(api, f"{name}-mismatch", reasons.HOST_KEY_MISMATCH)
        assert "is not in the known_hosts of Secret" in mismatch["error"]
        assert ready(mismatch) == "False"

        # The key went to ssh as a file that is gone now; nothing under the data dir holds it.
        private_key = sshd.client_key.read_bytes()
        body = private_key.splitlines()[1]
        assert not [p for p in files(operator.data_dir) if body in p.read_bytes()]
        events = cluster.kubectl("get", "events", "-A", "-o", "yaml").stdout
        statuses = yaml.safe_dump([api.status(REPOS, name), mismatch])
        for text in (operator.log_text(), events, statuses):
            assert body.decode() not in text
    finally:
        sshd.stop()


def test_the_password_the_token_and_the_key_appear_nowhere(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, name: str
):
    # A large, slow fetch, so that ps catches git while it runs.
    https_server.create_repo(name, {"Tiltfile": "print(1)\n", "blob": os.urandom(2 * 1024 * 1024).hex()})
    https_server.authorized = {basic("alice", PASSWORD)}
    https_server.throttle = 0.05
    https_server.start()
    login = ("--url", https_server.url(name), "--username", "alice", "--password-stdin")
    create_secret(cluster, operator, name, *login, stdin=PASSWORD)
    api.create(REPOS, repo(name, https_server.url(name), secretRef={"name": name}))
    header = basic("alice", PASSWORD).split()[1]
    seen_git = False
    deadline = time.monotonic() + 120
    while not ready(api.status(REPOS, name)) and time.monotonic() < deadline:
        processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        seen_git = seen_git or "git-remote-https" in processes or "fetch --quiet" in processes
        assert PASSWORD not in processes
        assert header not in processes
        time.sleep(0.05)
    assert seen_git, "ps never caught git fetching"
    assert settled(api, name, reasons.CHECKOUT_READY)

    secrets = [PASSWORD, header, TOKEN]
    for path in files(operator.data_dir):
        content = path.read_bytes()
        assert not [s for s in secrets if s.encode() in content], path
    log = operator.log_text()
    events = cluster.kubectl("get", "events", "-A", "-o", "yaml").stdout
    statuses = yaml.safe_dump([api.status(REPOS, name)])
    for text in (log, events, statuses):
        assert not [s for s in secrets if s in text]


def files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]


def test_a_secrets_credentials_never_reach_a_url_outside_its_own(
    cluster: DevCluster, api: Api, operator: Operator, https_server: GitServer, tmp_path: Path, name: str
):
    """Argo CD's rule, against a person's repo and a repo an extension's Tiltfile registers alike:
    a URL that is not under the Secret's `url` gets no request at all, and the repo says why."""
    https_server.create_repo(name, {"Tiltfile": "print('private')\n"})
    https_server.authorized = {f"Bearer {TOKEN}"}
    https_server.start()
    elsewhere = GitServer(tmp_path / "elsewhere", pki_dir=https_server.pki.directory)
    elsewhere.create_repo(name, {"Tiltfile": "print('anyone')\n"})
    elsewhere.start()
    try:
        create_secret(cluster, operator, name, "--url", https_server.url(name), "--bearer-token-stdin", stdin=TOKEN)
        api.create(REPOS, repo(name, https_server.url(name), secretRef={"name": name}))
        settled(api, name, reasons.CHECKOUT_READY)

        # A person names the Secret for another server.
        api.create(REPOS, repo(f"{name}-person", elsewhere.url(name), secretRef={"name": name}))
        refused = settled(api, f"{name}-person", reasons.SECRET_URL_MISMATCH)
        assert refused["error"] == (
            f"Secret {DEFAULT_NAMESPACE}/{name} is for {https_server.url(name)}, not for {elsewhere.url(name)}: "
            "its credentials go to no other URL"
        )
        # An extension's Tiltfile does, as its ServiceAccount may register any ExtensionRepo.
        tiltfile = tmp_path / "ext" / "Tiltfile"
        tiltfile.parent.mkdir()
        tiltfile.write_text(
            f"extension_repo(name='{name}-tiltfile', url='{elsewhere.url(name)}', secret_ref={{'name': '{name}'}})\n"
        )
        api.create("tiltfiles", tiltfile_obj(f"{name}-tiltfile", str(tiltfile)))
        settled(api, f"{name}-tiltfile", reasons.SECRET_URL_MISMATCH)
        # A Secret without a url is for no URL at all.
        cluster.kubectl(
            "create",
            "secret",
            "generic",
            f"{name}-unbound",
            "-n",
            DEFAULT_NAMESPACE,
            f"--from-literal=bearerToken={TOKEN}",
        )
        api.create(REPOS, repo(f"{name}-unbound", https_server.url(name), secretRef={"name": f"{name}-unbound"}))
        unbound = settled(api, f"{name}-unbound", reasons.SECRET_URL_MISMATCH)
        assert unbound["error"].startswith(f"Secret {DEFAULT_NAMESPACE}/{name}-unbound has no url")
        holds(
            lambda: elsewhere.requests == [],
            seconds=3,
            because="a refused repo is Stalled: nothing retries it within seconds",
        )
    finally:
        api.delete("tiltfiles", f"{name}-tiltfile")
        elsewhere.stop()
