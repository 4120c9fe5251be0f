"""Credentials from a Secret: which keys make a usable one, and how git gets them without a trace."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tilt_operator import reasons
from tilt_operator.gitstore.credentials import Credentials, SecretInvalid, covers, from_secret, git_settings
from tilt_operator.gitstore.git import AuthenticationFailed, HostKeyMismatch
from tilt_operator.gitstore.store import Checkout
from tilt_operator.reconcilers import extensionrepo as repos


def data(**values: str | bytes) -> dict[str, str]:
    """A Secret's data as the API server returns it: base64 of each value (``ca_crt`` is ``ca.crt``)."""
    encoded = {
        ("ca.crt" if key == "ca_crt" else key): value if isinstance(value, bytes) else value.encode()
        for key, value in values.items()
    }
    return {key: base64.b64encode(value).decode() for key, value in encoded.items()}


def test_basic_auth_a_bearer_token_or_a_ca_alone_are_usable_over_https():
    basic = from_secret("ns", "s", data(username="alice", password="pw\n"), ssh=False)
    assert (basic.username, basic.password, basic.source) == ("alice", "pw", "ns/s")
    assert from_secret("ns", "s", data(bearerToken="t"), ssh=False).bearer_token == "t"
    assert from_secret("ns", "s", data(ca_crt="PEM"), ssh=False).ca_crt == b"PEM"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "has no usable https credentials: expected the keys username and password, or bearerToken"),
        ({"token": "x"}, "expected the keys username and password, or bearerToken (and optionally ca.crt)"),
        ({"username": "alice"}, "a username without a password"),
        ({"password": "pw"}, "a password without a username"),
        ({"username": "a", "password": "p", "bearerToken": "t"}, "both username/password and bearerToken"),
        ({"password": "two\nlines", "username": "a"}, "key 'password' must be one line"),
        ({"username": b"\xff", "password": "p"}, "key 'username' is not UTF-8 text"),
    ],
)
def test_https_secrets_without_usable_keys_say_which_keys_are_expected(values: dict, message: str):
    with pytest.raises(SecretInvalid) as error:
        from_secret("ns", "s", data(**values), ssh=False)
    assert message in str(error.value)
    assert str(error.value).startswith("Secret ns/s")


@pytest.mark.parametrize(
    ("prefix", "url", "expected"),
    [
        ("https://host/org", "https://host/org", True),
        ("https://host/org", "https://host/org.git", True),
        ("https://host/org", "https://host/org/repo", True),
        ("https://host/org/", "https://host/org/repo", True),
        ("https://host/", "https://host/anything/at/all", True),
        ("ssh://git@host/org", "ssh://git@host/org/repo.git", True),
        ("https://host/org", "https://host/org-other/repo", False),
        ("https://host/org", "https://host/organisation", False),
        ("https://host", "https://host.evil.example/org", False),
        ("https://host/org", "http://host/org", False),
        ("https://host/org/repo", "https://host/org", False),
        ("", "https://host/org", False),
    ],
)
def test_credentials_cover_their_url_and_what_is_under_it_on_a_path_boundary(prefix: str, url: str, expected: bool):
    assert covers(prefix, url) is expected


def test_a_value_that_is_not_base64_is_named():
    with pytest.raises(SecretInvalid, match="key 'password' is not valid base64"):
        from_secret("ns", "s", {"username": "YQ==", "password": "not base64!"}, ssh=False)


def test_ssh_needs_a_key_and_known_hosts():
    with pytest.raises(SecretInvalid, match="expected the keys identity \\(a private key\\) and known_hosts"):
        from_secret("ns", "s", data(identity="KEY"), ssh=True)
    with pytest.raises(SecretInvalid, match="no usable ssh credentials"):
        from_secret("ns", "s", data(username="a", password="p"), ssh=True)
    credentials = from_secret("ns", "s", data(identity="KEY", known_hosts="host ssh-ed25519 AAAA"), ssh=True)
    assert credentials.identity == b"KEY\n", "ssh refuses a key file without its final newline"


def test_credentials_never_show_their_values():
    credentials = Credentials("ns/s", username="alice", password="pw", bearer_token="t", identity=b"KEY")
    assert repr(credentials) == str(credentials) == f"{credentials}" == "Credentials(ns/s)"


def test_https_credentials_are_a_header_in_git_config_and_redirects_are_off(tmp_path: Path):
    credentials = Credentials("ns/s", username="alice", password="pw")
    with git_settings(credentials, tmp_path, None) as settings:
        config = dict(settings.config)
    expected = "Authorization: Basic " + base64.b64encode(b"alice:pw").decode()
    assert config == {"http.extraHeader": expected, "http.followRedirects": "false"}
    with git_settings(Credentials("ns/s", bearer_token="t"), tmp_path, None) as settings:
        assert dict(settings.config)["http.extraHeader"] == "Authorization: Bearer t"
    assert list(tmp_path.iterdir()) == []


def test_key_files_are_private_while_git_runs_and_gone_afterwards(tmp_path: Path):
    system_ca = tmp_path / "system.pem"
    system_ca.write_text("SYSTEM\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    credentials = Credentials("ns/s", identity=b"KEY\n", known_hosts=b"KNOWN\n", ca_crt=b"EXTRA\n")
    with git_settings(credentials, scratch, system_ca) as settings:
        config = dict(settings.config)
        (directory,) = scratch.iterdir()
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for name in ("identity", "known_hosts", "ca.crt"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
        assert (directory / "ca.crt").read_bytes() == b"SYSTEM\n\nEXTRA\n"
        assert config["http.sslCAInfo"] == str(directory / "ca.crt")
        command = config["core.sshCommand"]
        assert f"-i {directory / 'identity'}" in command
        assert f"UserKnownHostsFile={directory / 'known_hosts'}" in command
        assert "StrictHostKeyChecking=yes" in command
        assert "accept-new" not in command
        assert f"-F {os.devnull}" in command
        assert dict(settings.env) == {"GIT_ALLOW_PROTOCOL": "https:file:ssh"}
    assert list(scratch.iterdir()) == []


def test_the_files_go_even_when_git_fails(tmp_path: Path):
    with (
        pytest.raises(RuntimeError),
        git_settings(Credentials("ns/s", identity=b"K\n", known_hosts=b"H"), tmp_path, None),
    ):
        raise RuntimeError("git failed")
    assert list(tmp_path.iterdir()) == []


# The reconciler's view: what a Secret's absence, its contents and the server's answer become.


def secrets(**by_name: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda name: by_name.get(name)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "ssh://git@host/r"}, "invalid spec: ssh:// urls need spec.secretRef"),
        ({"url": "file:///tmp", "secretRef": {"name": "s"}}, "secretRef is not supported for file:// repos"),
        ({"url": "https://host/r", "secretRef": {"name": "gone"}}, "Secret tilt-operator/gone not found"),
    ],
)
def test_a_secret_ref_that_cannot_work_is_reported(spec: dict, message: str):
    with pytest.raises(repos.CredentialsUnusable) as unusable:
        repos.repo_credentials(spec, secrets(), "tilt-operator")
    assert message in unusable.value.outcome.message
    assert not unusable.value.outcome.ready
    assert not unusable.value.outcome.retry


def test_no_secret_ref_means_no_credentials():
    assert repos.repo_credentials({"url": "https://host/r"}, secrets(), "tilt-operator") is None


class RefusingStore:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout:
        raise self.error

    def current(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout | None:
        return None

    def seconds_since_check(self, url: str, ref: str, credentials: Credentials | None = None) -> float | None:
        return None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AuthenticationFailed("https://host/r refused the credentials in Secret ns/s"), reasons.AUTHENTICATION_FAILED),
        (HostKeyMismatch("the host key of host is not in the known_hosts of Secret ns/s"), reasons.HOST_KEY_MISMATCH),
    ],
)
def test_refused_credentials_and_unknown_host_keys_are_not_ready_and_not_retried_in_a_loop(error, reason):  # type: ignore[no-untyped-def]
    outcome = repos.reconcile_repo({"url": "https://host/r"}, RefusingStore(error), None, Credentials("ns/s"))
    assert (outcome.ready, outcome.reason, outcome.retry) == (False, reason, False)
    assert outcome.message == f"fetch: {error}"
