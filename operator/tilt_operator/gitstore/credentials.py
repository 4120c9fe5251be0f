"""Credentials for a private repo: read from a Secret, handed to git without leaving a trace.

An ExtensionRepo's ``spec.secretRef`` names a Secret in the operator's own namespace, with the
keys Flux's GitRepository uses: ``username`` + ``password`` (basic auth, which is also how GitHub,
GitLab and Bitbucket take a token) or ``bearerToken``, optionally ``ca.crt`` (a CA to trust in
addition to the system's); for ``ssh://`` urls ``identity`` (a private key) and ``known_hosts``,
which is required: host keys are always checked strictly.

Credentials are bound to URLs, as Argo CD's repository credentials are: the Secret's ``url`` key is
the URL prefix they are for, and they go to no repo whose URL is not under it (:func:`covers`), so
an ExtensionRepo that names the Secret with a URL of its own (one an extension registered, say) gets
nothing but :class:`URLMismatch`.

How they reach git (:func:`git_settings`), so that they are never in a process's argv, a file in
the checkout, its ``.git/config``, or anything git prints:

- an https secret becomes an ``Authorization`` header in ``http.extraHeader``, passed through
  ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` in git's environment (readable only by the operator's
  own user), with redirects off so the header goes to no other host;
- ``ca.crt``, ``identity`` and ``known_hosts`` are files written 0600 in a private (0700) temp
  dir under the data dir, named in git's config, and removed when the git command is done.

A :class:`Credentials` never shows its values: its ``repr`` is the Secret's name.
"""

from __future__ import annotations

import base64
import binascii
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HTTPS_KEYS = "username and password, or bearerToken (and optionally ca.crt)"
SSH_KEYS = "identity (a private key) and known_hosts"


class SecretInvalid(ValueError):
    """The Secret exists but has no usable credentials; the message says which keys are expected."""


class URLMismatch(ValueError):
    """The Secret's credentials are not for this URL: it names no ``url``, or the URL is not under it."""


def covers(prefix: str, url: str) -> bool:
    """Whether credentials for the URL prefix ``prefix`` may go to ``url``: the same URL, or one under
    it on a path boundary (``https://host/org`` covers ``https://host/org/repo`` and
    ``https://host/org.git``, never ``https://host/org-other`` or ``https://host/organisation``)."""
    if not prefix or not url.startswith(prefix):
        return False
    rest = url[len(prefix) :]
    return rest in ("", ".git") or prefix.endswith("/") or rest.startswith("/")


def bound_url(namespace: str, name: str, data: Mapping[str, str] | None, repo_url: str) -> str:
    """The Secret's ``url`` when it covers ``repo_url``; :class:`URLMismatch` (which names both) otherwise."""
    where = f"Secret {namespace}/{name}"
    try:
        prefix = base64.b64decode((data or {}).get("url", ""), validate=True).decode().strip()
    except (binascii.Error, ValueError):
        raise SecretInvalid(f"{where}: key 'url' is not valid base64 text") from None
    if not prefix:
        raise URLMismatch(
            f"{where} has no url: name the URL prefix its credentials are for in its key url "
            f"(kubectl tilt create secret git {name} --url PREFIX ...); they go to no other URL"
        )
    if not covers(prefix, repo_url):
        raise URLMismatch(f"{where} is for {prefix}, not for {repo_url}: its credentials go to no other URL")
    return prefix


@dataclass(frozen=True, repr=False)
class Credentials:
    """What one Secret holds for git. ``source`` (``namespace/name``) is all that is ever shown."""

    source: str
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    ca_crt: bytes = b""
    identity: bytes = b""
    known_hosts: bytes = b""

    def __repr__(self) -> str:
        return f"Credentials({self.source})"

    __str__ = __repr__

    def secrets(self) -> list[bytes]:
        """Every value that must never be seen outside git: for tests and for scrubbing messages."""
        values = [self.password.encode(), self.bearer_token.encode(), self.identity]
        if self.username and self.password:
            values.append(_basic(self.username, self.password).encode())
        return [value for value in values if value]


def from_secret(namespace: str, name: str, data: Mapping[str, str] | None, *, ssh: bool) -> Credentials:
    """The credentials in a Secret's ``data`` (base64 values, as the API server returns them)."""
    where = f"Secret {namespace}/{name}"
    values: dict[str, bytes] = {}
    for key, encoded in (data or {}).items():
        try:
            values[key] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SecretInvalid(f"{where}: key {key!r} is not valid base64") from None
    text = {key: _text(where, key, values) for key in ("username", "password", "bearerToken")}
    source = f"{namespace}/{name}"
    if ssh:
        if not values.get("identity") or not values.get("known_hosts"):
            raise SecretInvalid(f"{where} has no usable ssh credentials: expected the keys {SSH_KEYS}")
        identity = values["identity"] if values["identity"].endswith(b"\n") else values["identity"] + b"\n"
        return Credentials(source, identity=identity, known_hosts=values["known_hosts"])
    basic = bool(text["username"] or text["password"])
    if basic and not (text["username"] and text["password"]):
        raise SecretInvalid(f"{where} has a username without a password, or a password without a username")
    if basic and text["bearerToken"]:
        raise SecretInvalid(f"{where} has both username/password and bearerToken: keep one of them")
    if not (basic or text["bearerToken"] or values.get("ca.crt")):
        raise SecretInvalid(f"{where} has no usable https credentials: expected the keys {HTTPS_KEYS}")
    return Credentials(
        source,
        username=text["username"],
        password=text["password"],
        bearer_token=text["bearerToken"],
        ca_crt=values.get("ca.crt", b""),
    )


def _text(where: str, key: str, values: Mapping[str, bytes]) -> str:
    """A credential that goes into an HTTP header: one line of UTF-8, surrounding whitespace dropped."""
    try:
        text = values.get(key, b"").decode().strip()
    except UnicodeDecodeError:
        raise SecretInvalid(f"{where}: key {key!r} is not UTF-8 text") from None
    if any(char in text for char in "\r\n\0"):
        raise SecretInvalid(f"{where}: key {key!r} must be one line")
    return text


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class GitSettings:
    """What one git command needs to use the credentials: config entries and environment variables."""

    config: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@contextmanager
def git_settings(credentials: Credentials | None, scratch: Path, system_ca: Path | None) -> Iterator[GitSettings]:
    """The settings for git while the block runs; any file they name is removed afterwards.

    ``scratch`` is a directory inside the data dir (which only the operator's user can read);
    ``system_ca`` is the bundle ``ca.crt`` is added to.
    """
    if credentials is None:
        yield GitSettings()
        return
    private = Path(tempfile.mkdtemp(prefix="credentials-", dir=scratch))  # mode 0700
    try:
        config: list[tuple[str, str]] = []
        env: list[tuple[str, str]] = []
        if credentials.username:
            config.append(
                ("http.extraHeader", f"Authorization: Basic {_basic(credentials.username, credentials.password)}")
            )
        elif credentials.bearer_token:
            config.append(("http.extraHeader", f"Authorization: Bearer {credentials.bearer_token}"))
        if credentials.username or credentials.bearer_token:
            # A redirect would take the header to whatever host the server names.
            config.append(("http.followRedirects", "false"))
        if credentials.ca_crt:
            system = system_ca.read_bytes() + b"\n" if system_ca else b""
            config.append(("http.sslCAInfo", str(_private_file(private / "ca.crt", system + credentials.ca_crt))))
        if credentials.identity:
            key = _private_file(private / "identity", credentials.identity)
            known_hosts = _private_file(private / "known_hosts", credentials.known_hosts)
            config += [("protocol.ssh.allow", "always"), ("core.sshCommand", _ssh_command(key, known_hosts))]
            env.append(("GIT_ALLOW_PROTOCOL", "https:file:ssh"))
        yield GitSettings(tuple(config), tuple(env))
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _private_file(path: Path, content: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    return path


def _ssh_command(key: Path, known_hosts: Path) -> str:
    """ssh with nothing from the user's or the system's configuration, and strict host keys only."""
    options = {
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "UserKnownHostsFile": str(known_hosts),
        "GlobalKnownHostsFile": os.devnull,
        "UpdateHostKeys": "no",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "ConnectTimeout": "30",
    }
    words = ["ssh", "-F", os.devnull, "-i", str(key)]
    for option, value in options.items():
        words += ["-o", f"{option}={value}"]
    return shlex.join(words)
