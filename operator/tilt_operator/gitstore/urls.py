"""Validation of an ExtensionRepo's ``url`` and ``ref`` before anything reaches git.

git reads some URL forms as commands (``ext::sh -c …``), some arguments as options
(``--upload-pack=…``), and happily prompts for or stores credentials. The ExtensionRepo
handler calls :func:`parse_repo_url` and :func:`validate_ref` first, and the git store calls
them again, so a hostile spec is refused with a message that says what to fix and never
becomes an argument of a git process. Both errors are ``ValueError``: a spec that fails here
will not pass on a retry, only after the user edits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from tilt_operator.messages import clip, quoted


class InvalidRepoURL(ValueError):
    """The URL can never be fetched as written; the message says how to fix it."""


class InvalidRef(ValueError):
    """The ref is not a name git could resolve safely; the message says why."""


@dataclass(frozen=True)
class RepoURL:
    """A URL that passed validation; for ``file`` the directory it names."""

    scheme: Literal["https", "ssh", "file"]
    url: str
    path: Path | None = None


# One DNS label, then more labels after dots: no leading '-', no '..', no '%', no '\'.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# The shape git itself accepts for scp-like ssh addresses: user@host:path.
_SCP_LIKE = re.compile(r"([\w.-]+)@([\w.-]+):(.+)")
_REF_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
# The user part of ssh://user@host: a login name, nothing an ssh client could read as an option.
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def parse_repo_url(url: str) -> RepoURL:
    """Accept only https URLs, ``ssh://user@host[:port]/path`` and existing absolute file:// directories.

    Credentials never go in the URL: a private repo names a Secret in ``spec.secretRef``
    (which an ssh:// URL requires).
    """
    _check_url_characters(url)
    if url.startswith("https://"):
        return _parse_https(url)
    if url.startswith("ssh://"):
        return _parse_ssh(url)
    if url.startswith("file://"):
        return _parse_file(url)
    raise InvalidRepoURL(_scheme_hint(url))


def validate_ref(ref: str) -> None:
    """Refuse refs that git could read as options or that check-ref-format rejects.

    An empty ref is valid: it means "follow the remote's default branch".
    """
    if not ref:
        return
    if ref.startswith("-"):
        raise InvalidRef(f"ref {quoted(ref)} must not start with '-' (git would read it as an option)")
    bad = _first_unprintable(ref)
    if bad is not None:
        raise InvalidRef(f"ref must not contain whitespace or control characters (found {quoted(bad)})")
    for token in ("..", "::", "$"):
        if token in ref:
            raise InvalidRef(f"ref {quoted(ref)} must not contain {quoted(token)}")
    if not _REF_CHARS.fullmatch(ref):
        raise InvalidRef(f"ref {quoted(ref)} may only contain letters, digits, '.', '_', '-' and '/'")
    _check_ref_components(ref)


def _check_ref_components(ref: str) -> None:
    """The parts of git check-ref-format that the character set alone does not cover."""
    if ref.endswith((".", "/")) or ref.startswith("/") or "//" in ref:
        raise InvalidRef(f"ref {quoted(ref)} must not start or end with '/', end with '.', or contain '//'")
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            raise InvalidRef(f"ref {quoted(ref)}: no part may start with '.' or end with '.lock'")


def _check_url_characters(url: str) -> None:
    """The checks that hold whatever the scheme: they block option and transport injection."""
    if not url:
        raise InvalidRepoURL("url is empty: set it to an https://, ssh:// or file:/// URL")
    if url.startswith("-"):
        raise InvalidRepoURL("url must not start with '-' (git would read it as an option)")
    if "::" in url:
        raise InvalidRepoURL("url must not contain '::' (git's <transport>::<address> form runs commands)")
    if "$" in url:
        raise InvalidRepoURL("url must not contain '$'")
    bad = _first_unprintable(url)
    if bad is not None:
        raise InvalidRepoURL(f"url must not contain whitespace or control characters (found {quoted(bad)})")


def _first_unprintable(text: str) -> str | None:
    return next((char for char in text if char.isspace() or not char.isprintable()), None)


def _parse_https(url: str) -> RepoURL:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise InvalidRepoURL(
            "url must not contain credentials (user@ or user:password@): a private repo takes them from a Secret"
        )
    if not parts.netloc:
        raise InvalidRepoURL("https url needs a host, as in https://github.com/org/repo")
    _check_host_and_path(url, parts.netloc, parts)
    return RepoURL("https", url)


def _parse_ssh(url: str) -> RepoURL:
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    if not at or not _SSH_USER.fullmatch(user):
        raise InvalidRepoURL("ssh url needs a user and no password, as in ssh://git@github.com/org/repo")
    _check_host_and_path(url, host, parts)
    return RepoURL("ssh", url)


def _check_host_and_path(url: str, netloc: str, parts: SplitResult) -> None:
    """What https and ssh urls share: a valid host name, an optional port, a path, no query."""
    if netloc.startswith("-"):
        raise InvalidRepoURL(f"host {quoted(netloc)} must not start with '-'")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as err:
        raise InvalidRepoURL(f"url has an invalid port: {err}") from None
    if not _HOST.fullmatch(parts.hostname or ""):
        raise InvalidRepoURL(f"{quoted(parts.netloc)} is not a valid host name")
    if "?" in url or "#" in url:
        raise InvalidRepoURL("url must not contain a query ('?') or fragment ('#')")
    if not parts.path.strip("/"):
        raise InvalidRepoURL("url needs a repository path, as in https://github.com/org/repo")


def _parse_file(url: str) -> RepoURL:
    rest = url.removeprefix("file://")
    if not rest.startswith("/"):
        raise InvalidRepoURL(
            f"file url needs an absolute path: use file:///abs/path (three slashes), not {quoted(url)}"
        )
    path = Path("/" + rest.lstrip("/"))
    try:
        is_dir = path.is_dir()
    except OSError as error:  # a name too long for the file system, say
        raise InvalidRepoURL(f"{clip(str(path))} is not a usable directory: {error.strerror}") from None
    if not is_dir:
        raise InvalidRepoURL(f"{clip(str(path))} is not an existing directory")
    return RepoURL("file", url, path)


def _scheme_hint(url: str) -> str:
    """Say which URL to write instead, since the usual mistakes have an obvious fix."""
    scp = _SCP_LIKE.fullmatch(url)
    if scp:
        user, host, path = scp.groups()
        return (
            f"scp-style addresses are not supported: write it as {clip(f'ssh://{user}@{host}/{path}')} "
            "(with spec.secretRef), or use the repo's https url"
        )
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "url must start with https://, ssh:// or file:///"
    if scheme == "http":
        return f"plain http is not allowed: use https://{clip(rest)}"
    return f"unsupported url scheme {quoted(scheme)}: only https://, ssh:// and file:/// are allowed"
