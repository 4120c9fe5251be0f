"""Running git: one command at a time in a given environment, the fetch of one ref into a new tree,
and what a failure means to a user.

Every call is killed (with its helpers, such as git-remote-https) after the store's timeout. A
failure becomes one of the :class:`GitError` kinds below with one line a user can act on: git's
own last error line, without credentials (should a server echo one back) or control characters.

Refs. ``git ls-remote`` lists the remote's refs: that resolves a ref the way git does (exact,
``refs/…``, tag, branch; annotated tags peeled). A full 40-hex commit id needs no lookup and is
fetched by id, which servers speaking protocol v2 allow for any reachable commit; over protocol
v0 (e.g. ``git http-backend`` without ``GIT_PROTOCOL`` passed through) only with
``uploadpack.allowReachableSHA1InWant`` (or ``allowAnySHA1InWant``). When a server refuses, every
branch and tag is fetched and the commit looked for. Dumb http servers (static files) cannot send
a shallow history, so from them the history comes whole.

Called by :class:`~tilt_operator.gitstore.store.GitStore`, which decides where trees go.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tilt_operator.gitstore.credentials import Credentials
from tilt_operator.messages import clip, quoted

FULL_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
_ABBREVIATED_COMMIT = re.compile(r"[0-9a-fA-F]{7,39}")
_USERINFO = re.compile(r"(?<=://)[^/\s@]*@")
_GIT_PREFIX = re.compile(r"^(fatal|error|remote|warning): *")
# What servers say when they refuse to send a commit that no ref points at.
_UNADVERTISED = ("not our ref", "does not allow request for unadvertised object")
_NOT_FOUND = ("couldn't find remote ref", "Unable to find")
_DUMB_HTTP = "dumb http transport does not support shallow"
_NEEDS_AUTH = (
    "terminal prompts disabled",
    "Authentication failed",
    "could not read Username",
    "returned error: 401",
    "returned error: 403",
    "Permission denied (",
)
_HOST_KEY = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED", "host key is known")


class GitError(Exception):
    """A git step failed; the message is one line a user can act on."""


class RefNotFound(GitError):
    """The remote has no branch, tag or commit by that name."""


class EmptyRepository(GitError):
    """The remote exists but has no commits yet."""


class RemoteUnreachable(GitError):
    """The remote could not be reached, or refused us (not found, not public, TLS)."""


class AuthenticationFailed(GitError):
    """The server refused the credentials of the repo's Secret."""


class HostKeyMismatch(GitError):
    """The ssh server's host key is not one the Secret's known_hosts lists."""


class GitTimeout(GitError):
    """A git command ran longer than ``settings.git_timeout`` and was killed."""


class CommandFailed(GitError):
    """A git command exited non-zero; callers turn it into one of the errors above."""

    def __init__(self, what: str, stderr: str) -> None:
        self.stderr = stderr
        self.detail = last_error_line(stderr)
        super().__init__(f"{what}: {self.detail}")


@dataclass(frozen=True)
class Call:
    """How one sync runs git: the whole environment, credentials included, and whose they are."""

    env: dict[str, str]
    credentials: Credentials | None = None


class Git:
    """The git executable, run with a timeout; the steps of a fetch."""

    def __init__(self, timeout: float) -> None:
        executable = shutil.which("git")
        if executable is None:
            raise GitError("git is not installed: put git on the operator's PATH")
        self._executable = executable
        self._timeout = timeout

    def run(self, call: Call, args: list[str], cwd: Path, what: str) -> str:
        """Run one git command; on timeout kill its process group, helpers such as git-remote-https included."""
        with subprocess.Popen(
            [self._executable, *args],
            cwd=cwd,
            env=call.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        ) as proc:
            try:
                out, err = proc.communicate(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise GitTimeout(f"{what} timed out after {self._timeout:g} s") from None
        if proc.returncode != 0:
            raise CommandFailed(what, scrubbed(err, call.credentials))
        return out

    def resolve(self, call: Call, url: str, ref: str, cwd: Path) -> tuple[str, str]:
        """What to fetch for ref, and the commit the remote has for it now."""
        if FULL_COMMIT.fullmatch(ref):
            return ref.lower(), ref.lower()
        try:
            out = self.run(call, ["ls-remote", "--", url], cwd, f"listing the refs of {clip(url)}")
        except CommandFailed as failure:
            raise unreachable(call, url, failure) from None
        lines = (line.partition("\t") for line in out.splitlines())
        refs = {name: commit for commit, _, name in lines if name}
        if not refs:
            raise EmptyRepository(f"repository {clip(url)} is empty: push a commit to it")
        for name in _ref_candidates(ref):
            if name in refs:
                return name, refs.get(f"{name}^{{}}", refs[name])
        raise ref_not_found(url, ref)

    def build_tree(self, call: Call, url: str, ref: str, what: str, dest: Path) -> str:
        """A working tree of ``what`` in the empty ``dest``; its commit.

        init + fetch rather than clone, which cannot fetch a commit by id: one path for every kind of ref.
        """
        self.run(call, ["init", "--quiet", "--template=", "."], dest, "git init")
        self.run(call, ["remote", "add", "origin", "--", url], dest, "git remote add")
        target = self._fetch(call, url, ref, what, dest)
        step = f"checking out {clip(what)} of {clip(url)}"
        self.run(call, ["checkout", "--quiet", "--detach", target, "--"], dest, step)
        return self.run(call, ["rev-parse", "--verify", "HEAD^{commit}"], dest, "reading the new commit").strip()

    def _fetch(self, call: Call, url: str, ref: str, what: str, dest: Path) -> str:
        """Fetch what; return what to check out, or raise the failure in the user's terms."""
        try:
            self._fetch_one(call, url, what, dest)
        except CommandFailed as failure:
            if FULL_COMMIT.fullmatch(what) and any(text in failure.stderr for text in _UNADVERTISED):
                return self._fetch_everything(call, url, what, dest)
            if any(text in failure.stderr for text in _NOT_FOUND):
                raise ref_not_found(url, ref) from None
            raise unreachable(call, url, failure) from None
        return "FETCH_HEAD"

    def _fetch_one(self, call: Call, url: str, what: str, dest: Path) -> None:
        """Fetch only the commit what names, or its whole history from dumb http servers, which cannot send less."""
        fetch, step = ["fetch", "--quiet", "--no-tags"], f"fetching {clip(what)} from {clip(url)}"
        try:
            self.run(call, [*fetch, "--depth", "1", "origin", "--", what], dest, step)
        except CommandFailed as failure:
            if _DUMB_HTTP not in failure.stderr:
                raise
            self.run(call, [*fetch, "origin", "--", what], dest, step)

    def _fetch_everything(self, call: Call, url: str, commit: str, dest: Path) -> str:
        """For servers that refuse a commit by id: fetch all branches and tags, then look for it."""
        refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        try:
            self.run(call, ["fetch", "--quiet", "origin", "--", *refspecs], dest, f"fetching {clip(url)}")
        except CommandFailed as failure:
            raise unreachable(call, url, failure) from None
        try:
            self.run(call, ["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], dest, "looking up")
        except CommandFailed:
            raise ref_not_found(url, commit) from None
        return commit


def _ref_candidates(ref: str) -> list[str]:
    """The remote ref names ref may mean, in git's own order of precedence (tags before branches).

    ``HEAD`` is the default branch, as no ref is (Tilt's rule too): both are one checkout (layout.py).
    """
    if ref in ("", "HEAD"):
        return ["HEAD"]
    return [ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"]


def ref_not_found(url: str, ref: str) -> RefNotFound:
    if not ref:
        return RefNotFound(f"repository {clip(url)} has no default branch (its HEAD names no branch): set ref")
    if FULL_COMMIT.fullmatch(ref):
        return RefNotFound(f"commit {ref.lower()} not found in {clip(url)}")
    hint = ": use the full 40-character commit id" if _ABBREVIATED_COMMIT.fullmatch(ref) else ""
    return RefNotFound(f"ref {quoted(ref)} not found in {clip(url)}{hint}")


def unreachable(call: Call, url: str, failure: CommandFailed) -> GitError:
    """A failed fetch or listing in the user's terms: a host key, a refused login, or why it could not reach."""
    credentials = call.credentials
    if credentials is not None and any(text in failure.stderr for text in _HOST_KEY):
        host = urlsplit(url).hostname or url
        return HostKeyMismatch(
            f"the host key of {clip(host)} is not in the known_hosts of Secret {credentials.source}: "
            "add the server's key (ssh-keyscan) to known_hosts, after checking it"
        )
    if any(text in failure.stderr for text in _NEEDS_AUTH):
        if credentials is not None:
            return AuthenticationFailed(
                f"{clip(url)} refused the credentials in Secret {credentials.source}: check the Secret"
            )
        detail = "the repository does not exist or is not public: for a private one, set spec.secretRef"
    else:
        # git's own message may quote the URL whole: quote it as every message does.
        detail = last_error_line(failure.stderr.replace(url, clip(url)))
    return RemoteUnreachable(f"cannot reach {clip(url)}: {detail}")


def scrubbed(stderr: str, credentials: Credentials | None) -> str:
    """git prints no credentials; should a server echo one back, it goes no further than here."""
    for secret in credentials.secrets() if credentials else ():
        stderr = stderr.replace(secret.decode(errors="replace"), "***")
    return stderr


def last_error_line(stderr: str) -> str:
    """git's last fatal/error line, without credentials or control characters, for status.error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    line = (errors or lines or ["git printed no message"])[-1]
    line = _USERINFO.sub("", _GIT_PREFIX.sub("", line))
    return "".join(char if char.isprintable() else "?" for char in line)[:300]
