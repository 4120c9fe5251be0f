"""The git store: turns an https or ssh ExtensionRepo's (url, ref) into a checkout under the data dir.

The ExtensionRepo handler calls :meth:`GitStore.sync` (and :meth:`GitStore.current` to keep
serving an older checkout when a fetch fails); file:// repos never come here, they are used in
place. Nothing here knows about kopf or Kubernetes.

Crash safety. A checkout at its final path is always complete. Every fetch, first or update,
builds a whole new tree in a temp dir next to the final path (``git init`` + shallow
``git fetch`` + ``git checkout``) and only then renames it into place; an older tree is renamed
aside first and deleted after. A crash at any point leaves either the old checkout, the new
one, or (between the two renames) none, never half of one; the temp dirs left behind are
removed by the next sync of that checkout. Fetching into the live checkout and running
``checkout --force`` would instead show readers a mix of two commits, and a crash could leave
it so. A new tree costs a full shallow fetch, which is small for extension repos.

Refs. ``git ls-remote`` lists the remote's refs once per sync: that resolves the ref the way
git does (exact, ``refs/…``, tag, branch; annotated tags peeled) and, when the commit is the
one on disk, is the only network call. A full 40-hex commit id needs no lookup and is fetched
by id, which servers speaking protocol v2 allow for any reachable commit; over protocol v0
(e.g. ``git http-backend`` without ``GIT_PROTOCOL`` passed through) only with
``uploadpack.allowReachableSHA1InWant`` (or ``allowAnySHA1InWant``). When a server refuses,
the store falls back to fetching every branch and tag and looking for the commit. Dumb http
servers (static files) cannot send a shallow history, so from them the history comes whole.

Credentials. A repo with ``spec.secretRef`` syncs with the Secret's credentials
(:mod:`~tilt_operator.gitstore.credentials`: an http header or ssh key files, through git's
environment, never argv), into a checkout keyed by the Secret as well as (url, ref), so a repo
without them never reads what they fetched. A refused login is :class:`AuthenticationFailed`, an
unknown ssh host key :class:`HostKeyMismatch`. The data dir's git and checkout directories are
0700: only the operator's user may read a private repo's files.

Hardening. git commands run as plain subprocesses with an environment built from nothing (PATH
and proxy variables only): GitPython's command runner always starts from ``os.environ`` and can
add but not remove variables, so an inherited ``GIT_SSL_NO_VERIFY``, ``GIT_DIR`` or
``GIT_CONFIG_PARAMETERS`` would silently undo the settings below. No system or global config,
HOME, XDG and TMPDIR inside the data dir, no prompts, no hooks, no submodules, https and file
transports only (and ssh for a repo whose Secret holds an ssh key), objects checked on fetch, TLS
always verified, and every call killed (with its helpers) after ``settings.git_timeout`` seconds.
With ``settings.git_ca_bundle`` set, git trusts the system bundle plus that one, combined into a
file under the data dir; variables such as ``GIT_SSL_CAINFO`` are ignored like every other
inherited one. GitPython reads what is on disk (the commit a checkout holds) without running git
at all.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import git

from tilt_operator.config import Settings
from tilt_operator.gitstore.credentials import Credentials, git_settings
from tilt_operator.gitstore.urls import parse_repo_url, validate_ref
from tilt_operator.messages import clip, quoted

logger = logging.getLogger(__name__)


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


class _CommandFailed(GitError):
    """A git command exited non-zero; callers turn it into one of the errors above."""

    def __init__(self, what: str, stderr: str) -> None:
        self.stderr = stderr
        self.detail = _last_error_line(stderr)
        super().__init__(f"{what}: {self.detail}")


@dataclass(frozen=True)
class Checkout:
    """A complete working tree on disk and the commit it holds."""

    path: Path
    commit: str
    fetched: bool


_FULL_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
_ABBREVIATED_COMMIT = re.compile(r"[0-9a-fA-F]{7,39}")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
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
_PASSED_THROUGH = ("PATH", "http_proxy", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy")
_SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


class GitStore:
    """Checkouts of https and ssh extension repos under ``settings.data_dir/repos``."""

    # Passed to every git call through GIT_CONFIG_COUNT/KEY/VALUE (kept out of argv).
    git_config: ClassVar[tuple[tuple[str, str], ...]] = (
        ("protocol.allow", "never"),
        ("protocol.https.allow", "always"),
        ("protocol.file.allow", "always"),
        ("http.sslVerify", "true"),
        ("core.hooksPath", os.devnull),
        ("core.fsmonitor", "false"),
        ("submodule.recurse", "false"),
        ("fetch.recurseSubmodules", "false"),
        # Rejects malformed objects and trees with '.git' or '..' entries before checkout.
        ("transfer.fsckObjects", "true"),
        # No background gc or maintenance that would outlive the lock.
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("advice.detachedHead", "false"),
    )

    def __init__(self, settings: Settings) -> None:
        self._data_dir = settings.data_dir.resolve()
        self._root = self._data_dir / "repos"
        self._timeout = settings.git_timeout
        executable = shutil.which("git")
        if executable is None:
            raise GitError("git is not installed: put git on the operator's PATH")
        self._git = executable
        git_dir = self._data_dir / "git"
        for directory in (self._root, git_dir, git_dir / "home", git_dir / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
        # The CAs git trusts: the system's, plus the operator's extra bundle when set. A Secret's
        # ca.crt is added to these for that repo's fetches.
        self._system_ca = _system_ca_file()
        if settings.git_ca_bundle is not None:
            self._system_ca = _combined_ca_bundle(settings.git_ca_bundle, self._data_dir / "git")
        self._env = self._hardened_env(self._system_ca if settings.git_ca_bundle else None)

    def checkout_dir(self, url: str, ref: str, credentials: Credentials | None = None) -> Path:
        """Where the checkout of (url, ref) lives: readable, unique per (url, ref, Secret), inside the data dir.

        A checkout fetched with a Secret's credentials is keyed by that Secret too, so a repo with
        the same url and no (or other) credentials never shares it: it must prove access itself.
        """
        try:
            netloc, path = urlsplit(url)[1:3]
        except ValueError:
            netloc, path = "", url
        commit_pin = _FULL_COMMIT.fullmatch(ref)
        key = f"{url}\n{ref.lower() if commit_pin else ref}" + (f"\nsecret {credentials.source}" if credentials else "")
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        host = _slug(netloc.rpartition("@")[2].lower(), 100) or "no-host"
        slug = _slug(path, 80)
        checkout = self._root / host / (f"{slug}-{digest}" if slug else digest)
        if not checkout.resolve().is_relative_to(self._root.resolve()):
            raise ValueError(f"checkout dir for {quoted(url)} would leave {self._root}")
        return checkout

    def remote_head(self, url: str, ref: str) -> str:
        """The commit the remote has for ref (its default branch if ref is empty)."""
        remote = self._remote(url)
        validate_ref(ref)
        return self._resolve(Call(self._env), remote, ref)[1]

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout:
        """Make the checkout of (url, ref) hold the remote's commit; fetch only if it moved."""
        remote = self._remote(url)
        validate_ref(ref)
        if url.startswith("ssh://") and not (credentials and credentials.identity):
            raise ValueError("ssh:// urls need a secretRef to a Secret with identity and known_hosts")
        path = self.checkout_dir(url, ref, credentials)
        with self._locked(path), self._call(credentials) as call:
            _remove_leftovers(path)
            current = self._current_commit(path)
            if current is None and not _FULL_COMMIT.fullmatch(ref):
                checkout = Checkout(path, self._first_fetch(call, remote, ref, path), fetched=True)
            else:
                what, commit = self._resolve(call, remote, ref)
                if current == commit:
                    checkout = Checkout(path, commit, fetched=False)
                else:
                    logger.info("fetching %s of %s into %s", clip(ref) or "the default branch", clip(remote), path)
                    checkout = Checkout(path, self._replace(call, remote, ref, what, path), fetched=True)
            _check_stamp(path).touch()
            return checkout

    @contextmanager
    def _call(self, credentials: Credentials | None) -> Iterator[Call]:
        """The environment of this sync's git commands: the hardened one, plus the credentials if any."""
        with git_settings(credentials, self._scratch, self._system_ca) as extra:
            env = dict(self._env)
            if extra.config:
                count = int(env["GIT_CONFIG_COUNT"])
                for index, (key, value) in enumerate(extra.config, start=count):
                    env[f"GIT_CONFIG_KEY_{index}"] = key
                    env[f"GIT_CONFIG_VALUE_{index}"] = value
                env["GIT_CONFIG_COUNT"] = str(count + len(extra.config))
            env.update(extra.env)
            yield Call(env, credentials)

    def _first_fetch(self, call: Call, url: str, ref: str, path: Path) -> str:
        """With nothing on disk the fetch itself resolves the ref: no ls-remote round trip first.

        Only when the fetch finds no such ref does ls-remote run, to say exactly why (no such
        ref, or an empty repository).
        """
        logger.info("fetching %s of %s into %s", clip(ref) or "the default branch", clip(url), path)
        try:
            return self._replace(call, url, ref, ref or "HEAD", path)
        except RefNotFound:
            self._resolve(call, url, ref)
            raise

    def seconds_since_check(self, url: str, ref: str, credentials: Credentials | None = None) -> float | None:
        """How long ago a sync last confirmed the checkout against the remote (None: never).

        Kept on disk beside the checkout, so re-check schedules survive an operator restart.
        """
        try:
            return time.time() - _check_stamp(self.checkout_dir(url, ref, credentials)).stat().st_mtime
        except FileNotFoundError:
            return None

    def current(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout | None:
        """The checkout already on disk, to keep serving when a fetch fails.

        Not locked, so that it never waits for another process's fetch; during that process's
        swap it may see no checkout for an instant.
        """
        path = self.checkout_dir(url, ref, credentials)
        commit = self._current_commit(path)
        return None if commit is None else Checkout(path, commit, fetched=False)

    def _remote(self, url: str) -> str:
        """The URL git may fetch: https or ssh, as file:// repos are used in place (tests override this)."""
        if parse_repo_url(url).scheme == "file":
            raise ValueError(
                f"the git store fetches only https and ssh urls, file:// repos are used in place: {clip(url)}"
            )
        return url

    def _resolve(self, call: Call, url: str, ref: str) -> tuple[str, str]:
        """What to fetch for ref, and the commit the remote has for it now."""
        if _FULL_COMMIT.fullmatch(ref):
            return ref.lower(), ref.lower()
        refs = self._ls_remote(call, url)
        if not refs:
            raise EmptyRepository(f"repository {clip(url)} is empty: push a commit to it")
        for name in _ref_candidates(ref):
            if name in refs:
                return name, refs.get(f"{name}^{{}}", refs[name])
        raise _ref_not_found(url, ref)

    def _ls_remote(self, call: Call, url: str) -> dict[str, str]:
        try:
            out = self._run(call, ["ls-remote", "--", url], self._root, f"listing the refs of {clip(url)}")
        except _CommandFailed as failure:
            raise _unreachable(call, url, failure) from None
        lines = (line.partition("\t") for line in out.splitlines())
        return {name: commit for commit, _, name in lines if name}

    def _replace(self, call: Call, url: str, ref: str, what: str, path: Path) -> str:
        """Build the new tree next to path, then swap it in; return its commit."""
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
        try:
            commit = self._build_tree(call, url, ref, what, tmp)
            _move_into_place(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return commit

    def _build_tree(self, call: Call, url: str, ref: str, what: str, dest: Path) -> str:
        """init + fetch rather than clone, which cannot fetch a commit by id: one path for every kind of ref."""
        self._run(call, ["init", "--quiet", "--template=", "."], dest, "git init")
        self._run(call, ["remote", "add", "origin", "--", url], dest, "git remote add")
        target = self._fetch(call, url, ref, what, dest)
        step = f"checking out {clip(what)} of {clip(url)}"
        self._run(call, ["checkout", "--quiet", "--detach", target, "--"], dest, step)
        return self._run(call, ["rev-parse", "--verify", "HEAD^{commit}"], dest, "reading the new commit").strip()

    def _fetch(self, call: Call, url: str, ref: str, what: str, dest: Path) -> str:
        """Fetch what; return what to check out, or raise the failure in the user's terms."""
        try:
            self._fetch_one(call, url, what, dest)
        except _CommandFailed as failure:
            if _FULL_COMMIT.fullmatch(what) and any(text in failure.stderr for text in _UNADVERTISED):
                return self._fetch_everything(call, url, what, dest)
            if any(text in failure.stderr for text in _NOT_FOUND):
                raise _ref_not_found(url, ref) from None
            raise _unreachable(call, url, failure) from None
        return "FETCH_HEAD"

    def _fetch_one(self, call: Call, url: str, what: str, dest: Path) -> None:
        """Fetch only the commit what names, or its whole history from dumb http servers, which cannot send less."""
        fetch, step = ["fetch", "--quiet", "--no-tags"], f"fetching {clip(what)} from {clip(url)}"
        try:
            self._run(call, [*fetch, "--depth", "1", "origin", "--", what], dest, step)
        except _CommandFailed as failure:
            if _DUMB_HTTP not in failure.stderr:
                raise
            self._run(call, [*fetch, "origin", "--", what], dest, step)

    def _fetch_everything(self, call: Call, url: str, commit: str, dest: Path) -> str:
        """For servers that refuse a commit by id: fetch all branches and tags, then look for it."""
        refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        try:
            self._run(call, ["fetch", "--quiet", "origin", "--", *refspecs], dest, f"fetching {clip(url)}")
        except _CommandFailed as failure:
            raise _unreachable(call, url, failure) from None
        try:
            self._run(call, ["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], dest, "looking up")
        except _CommandFailed:
            raise _ref_not_found(url, commit) from None
        return commit

    def _current_commit(self, path: Path) -> str | None:
        """The commit checked out at path, or None when there is no usable checkout.

        Read with GitPython, in-process: no git command runs, so a re-check that finds the
        remote unchanged costs the ls-remote alone.
        """
        try:
            return git.Repo(path).head.commit.hexsha
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, OSError):
            return None

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Serialise syncs of one checkout across threads and processes sharing the data dir.

        flock is released by the kernel when a holder dies, so a crash never leaves it taken;
        the lock file itself is never deleted, since deleting it would let two holders race.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _run(self, call: Call, args: list[str], cwd: Path, what: str) -> str:
        """Run one git command; on timeout kill its process group, helpers such as git-remote-https included."""
        with subprocess.Popen(
            [self._git, *args],
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
            raise _CommandFailed(what, _scrubbed(err, call.credentials))
        return out

    @property
    def _scratch(self) -> Path:
        """Where credential files live while git runs: inside the data dir, never in a checkout."""
        return self._data_dir / "git" / "tmp"

    def _hardened_env(self, ca_bundle: Path | None) -> dict[str, str]:
        """The whole environment of every git call; see the module docstring for why."""
        home = self._data_dir / "git" / "home"
        env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
        env |= {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "TMPDIR": str(self._scratch),
            "LC_ALL": "C",
            "LANGUAGE": "C",
            # git never looks for a repository at or above the data dir.
            "GIT_CEILING_DIRECTORIES": str(self._data_dir),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_SYSTEM": os.devnull,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "false",
            "SSH_ASKPASS": "false",
            "GIT_PROTOCOL_FROM_USER": "0",
            "GIT_ALLOW_PROTOCOL": "https:file",
            "GIT_LFS_SKIP_SMUDGE": "1",
        }
        config = list(self.git_config)
        if ca_bundle is not None:
            config.append(("http.sslCAInfo", str(ca_bundle)))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env


def _ref_candidates(ref: str) -> list[str]:
    """The remote ref names ref may mean, in git's own order of precedence (tags before branches)."""
    if not ref:
        return ["HEAD"]
    return [ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"]


def _ref_not_found(url: str, ref: str) -> RefNotFound:
    if not ref:
        return RefNotFound(f"repository {clip(url)} has no default branch (its HEAD names no branch): set ref")
    if _FULL_COMMIT.fullmatch(ref):
        return RefNotFound(f"commit {ref.lower()} not found in {clip(url)}")
    hint = ": use the full 40-character commit id" if _ABBREVIATED_COMMIT.fullmatch(ref) else ""
    return RefNotFound(f"ref {quoted(ref)} not found in {clip(url)}{hint}")


@dataclass(frozen=True)
class Call:
    """How one sync runs git: the whole environment, credentials included, and whose they are."""

    env: dict[str, str]
    credentials: Credentials | None = None


def _unreachable(call: Call, url: str, failure: _CommandFailed) -> GitError:
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
        detail = _last_error_line(failure.stderr.replace(url, clip(url)))
    return RemoteUnreachable(f"cannot reach {clip(url)}: {detail}")


def _scrubbed(stderr: str, credentials: Credentials | None) -> str:
    """git prints no credentials; should a server echo one back, it goes no further than here."""
    for secret in credentials.secrets() if credentials else ():
        stderr = stderr.replace(secret.decode(errors="replace"), "***")
    return stderr


def _last_error_line(stderr: str) -> str:
    """git's last fatal/error line, without credentials or control characters, for status.error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    line = (errors or lines or ["git printed no message"])[-1]
    line = _USERINFO.sub("", _GIT_PREFIX.sub("", line))
    return "".join(char if char.isprintable() else "?" for char in line)[:300]


def _slug(text: str, limit: int) -> str:
    """One safe path component: no separators, never '.' or '..' or hidden, bounded length."""
    return _UNSAFE_RUN.sub("-", text)[:limit].strip(".-")


def _check_stamp(path: Path) -> Path:
    return path.parent / f".{path.name}.checked"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _remove_leftovers(path: Path) -> None:
    """Delete temp trees an earlier, crashed sync of this checkout left next to it (lock held)."""
    prefix = _temp_prefix(path)
    for entry in path.parent.iterdir():
        if entry.name.startswith(prefix):
            logger.info("removing %s left by an interrupted sync", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _move_into_place(new: Path, final: Path) -> None:
    """Rename the finished tree to final, the old one aside first; see "Crash safety" above."""
    if final.exists():
        aside = final.parent / f"{_temp_prefix(final)}old-{secrets.token_hex(4)}"
        final.rename(aside)
        new.rename(final)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        new.rename(final)


def _combined_ca_bundle(extra: Path, directory: Path) -> Path:
    """The system's CAs plus the extra bundle, so internal servers are trusted in addition, not instead."""
    system = _system_ca_file()
    if system is None:
        logger.warning("no system CA bundle found: git trusts only %s", extra)
    try:
        pem = (system.read_bytes() + b"\n" if system else b"") + extra.read_bytes()
    except OSError as err:
        raise GitError(f"cannot read the git CA bundle {extra}: {err.strerror}") from None
    target = directory / "ca-bundle.pem"
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".ca-bundle-", delete=False) as tmp:
        tmp.write(pem)
    os.replace(tmp.name, target)
    return target


def _system_ca_file() -> Path | None:
    """The bundle OpenSSL would use, else the usual distribution paths (git's libcurl reads these too)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_SYSTEM_CA_FILES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
