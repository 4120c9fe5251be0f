"""The git store: turns an https or ssh ExtensionRepo's (url, ref) into a checkout under the data dir.

The ExtensionRepo handler calls :meth:`GitStore.sync` (and :meth:`GitStore.current` to keep
serving an older checkout when a fetch fails); file:// repos never come here, they are used in
place. Nothing here knows about kopf or Kubernetes. This module swaps checkouts into place where
:mod:`~tilt_operator.gitstore.layout` says they live; :mod:`~tilt_operator.gitstore.git` runs git
and says what its failures mean, :mod:`~tilt_operator.gitstore.environment` builds the hardened
environment git runs in.

Crash safety. A checkout at its final path is always complete. Every fetch, first or update,
builds a whole new tree in a temp dir next to the final path (``git init`` + shallow
``git fetch`` + ``git checkout``) and only then renames it into place; an older tree is renamed
aside first and deleted after. A crash at any point leaves either the old checkout, the new
one, or (between the two renames) none, never half of one; the temp dirs left behind are
removed by the next sync of that checkout. Fetching into the live checkout and running
``checkout --force`` would instead show readers a mix of two commits, and a crash could leave
it so. A new tree costs a full shallow fetch, which is small for extension repos.

Re-checks. ``git ls-remote`` runs once per sync of a checkout on disk: when the commit is the one
on disk, it is the only network call. With nothing on disk the fetch itself resolves the ref.
GitPython reads what is on disk (the commit a checkout holds) without running git at all.

Credentials. A repo with ``spec.secretRef`` syncs with the Secret's credentials
(:mod:`~tilt_operator.gitstore.credentials`: an http header or ssh key files, through git's
environment, never argv), into a checkout keyed by the Secret as well as (url, ref), so a repo
without them never reads what they fetched. git's directory in the data dir is 0700, the
checkouts 0750: only the operator's user and its group (a runner) may read a private repo's files.

The layout before ``tilt_modules``. A checkout an earlier version left in ``repos/`` is renamed to
its place on the first sync that looks for it, under the same lock, before anything is fetched:
after an upgrade each repo costs the usual re-check, not a fetch. A rename is atomic, so a crash
leaves the checkout in one place or the other, never in both; the next sync finishes the move.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git

from tilt_operator.config import Settings
from tilt_operator.gitstore import environment, layout
from tilt_operator.gitstore.credentials import Credentials, git_settings
from tilt_operator.gitstore.git import FULL_COMMIT, Call, Git, RefNotFound
from tilt_operator.gitstore.urls import parse_repo_url, validate_ref
from tilt_operator.messages import clip, quoted

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkout:
    """A complete working tree on disk and the commit it holds."""

    path: Path
    commit: str
    fetched: bool


class GitStore:
    """Checkouts of https and ssh extension repos under ``settings.data_dir/tilt_modules``."""

    def __init__(
        self, settings: Settings, *, git: Git | None = None, config: environment.Config = environment.GIT_CONFIG
    ) -> None:
        """``git`` and ``config`` are for tests: a runner that records, a protocol to speak."""
        self._data_dir = settings.data_dir.resolve()
        self._root = self._data_dir / layout.CHECKOUTS
        self._git = git or Git(settings.git_timeout)
        git_dir = self._data_dir / "git"
        # git's own directories (credentials pass through its temp dir) are the operator's alone;
        # the checkouts its group may read too: a runner's processes run extensions from them.
        for directory, mode in (
            (self._root, 0o750),
            (git_dir, 0o700),
            (git_dir / "home", 0o700),
            (git_dir / "tmp", 0o700),
        ):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(mode)
        # The CAs git trusts: the system's, plus the operator's extra bundle when set. A Secret's
        # ca.crt is added to these for that repo's fetches.
        self._system_ca = environment.system_ca_file()
        if settings.git_ca_bundle is not None:
            self._system_ca = environment.combined_ca_bundle(settings.git_ca_bundle, git_dir)
        extra_ca = self._system_ca if settings.git_ca_bundle else None
        self._env = environment.hardened_env(self._data_dir, self._scratch, extra_ca, config)

    @property
    def root(self) -> Path:
        """The directory every checkout is in."""
        return self._root

    def checkout_dir(self, url: str, ref: str, credentials: Credentials | None = None) -> Path:
        """Where the checkout of (url, ref) lives: readable, unique per (url, ref, Secret), inside the data dir.

        A checkout fetched with a Secret's credentials is keyed by that Secret too, so a repo with
        the same url and no (or other) credentials never shares it: it must prove access itself.
        """
        checkout = self._root / layout.checkout_dir(url, ref, credentials.source if credentials else None)
        return _confined(checkout, self._root, url)

    def remote_head(self, url: str, ref: str) -> str:
        """The commit the remote has for ref (its default branch if ref is empty)."""
        remote = self._remote(url)
        validate_ref(ref)
        return self._git.resolve(Call(self._env), remote, ref, self._root)[1]

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout:
        """Make the checkout of (url, ref) hold the remote's commit; fetch only if it moved."""
        remote = self._remote(url)
        validate_ref(ref)
        if url.startswith("ssh://") and not (credentials and credentials.identity):
            raise ValueError("ssh:// urls need a secretRef to a Secret with identity and known_hosts")
        path = self.checkout_dir(url, ref, credentials)
        with self._locked(path), self._call(credentials) as call:
            self._move_old_checkout(url, ref, credentials, path)
            _remove_leftovers(path)
            current = self._current_commit(path)
            if current is None and not FULL_COMMIT.fullmatch(ref):
                checkout = Checkout(path, self._first_fetch(call, remote, ref, path), fetched=True)
            else:
                what, commit = self._git.resolve(call, remote, ref, self._root)
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
            yield Call(environment.with_settings(self._env, extra), credentials)

    def _first_fetch(self, call: Call, url: str, ref: str, path: Path) -> str:
        """With nothing on disk the fetch itself resolves the ref: no ls-remote round trip first.

        Only when the fetch finds no such ref does ls-remote run, to say exactly why (no such
        ref, or an empty repository).
        """
        logger.info("fetching %s of %s into %s", clip(ref) or "the default branch", clip(url), path)
        try:
            return self._replace(call, url, ref, ref or "HEAD", path)
        except RefNotFound:
            self._git.resolve(call, url, ref, self._root)
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

    def _move_old_checkout(self, url: str, ref: str, credentials: Credentials | None, path: Path) -> None:
        """Move the checkout the layout before ``tilt_modules`` kept of (url, ref) to path, lock held; see above.

        Each step can be done again, so a sync after a crash finishes what one before it began.
        """
        old_root = self._data_dir / layout.OLD_CHECKOUTS
        source = credentials.source if credentials else None
        old = _confined(old_root / layout.old_checkout_dir(url, ref, source), old_root, url)
        if not old.parent.is_dir():  # nothing of its host left there: the usual case, one stat
            return
        _remove_leftovers(old)
        _check_stamp(old).unlink(missing_ok=True)
        if old.is_dir() and not self._adopt(old, path):
            return
        (old.parent / f".{old.name}.lock").unlink(missing_ok=True)
        for directory in (old.parent, old_root):
            with contextlib.suppress(OSError):  # still holds other checkouts
                directory.rmdir()

    def _adopt(self, old: Path, path: Path) -> bool:
        """Rename old to path, or delete it if path has a checkout of its own; False when old stays."""
        if self._current_commit(path) is not None:  # fetched here since: the old copy is no one's
            shutil.rmtree(old, ignore_errors=True)
            logger.info("removed %s, an old copy of the checkout at %s", old, path)
            return True
        try:
            _move_into_place(old, path)
        except OSError as error:  # not one file system: fetch as if new; the next sync removes old
            logger.warning("cannot move %s to %s (%s): fetching it again", old, path, error.strerror)
            return False
        logger.info("moved %s to %s: checkouts live under tilt_modules/ now, as in Tilt", old, path)
        return True

    def _replace(self, call: Call, url: str, ref: str, what: str, path: Path) -> str:
        """Build the new tree next to path, then swap it in; return its commit."""
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
        tmp.chmod(0o750)  # readable by the group, as tilt_modules/ is: a runner's processes run extensions from it
        try:
            commit = self._git.build_tree(call, url, ref, what, tmp)
            _move_into_place(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
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

    @property
    def _scratch(self) -> Path:
        """Where credential files live while git runs: inside the data dir, never in a checkout."""
        return self._data_dir / "git" / "tmp"


def _confined(path: Path, root: Path, url: str) -> Path:
    """path, checked to stay inside root once its symlinks are resolved."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"checkout dir for {quoted(url)} would leave {root}")
    return path


def _check_stamp(path: Path) -> Path:
    return path.parent / f".{path.name}.checked"


# What follows the prefix: mkdtemp's eight random characters, or a tree renamed aside.
_TEMP_SUFFIX = re.compile(r"[a-z0-9_]{8}|old-[0-9a-f]{8}")


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _remove_leftovers(path: Path) -> None:
    """Delete temp trees an earlier, crashed sync of this checkout left next to it (lock held).

    Matched whole: the checkouts of other refs of the repo are beside it, and a ref may start
    as this one's temp trees do (``v1`` and ``v1.tmp-x``), but never a temp tree's suffix.
    """
    prefix = _temp_prefix(path)
    for entry in path.parent.iterdir():
        if entry.name.startswith(prefix) and _TEMP_SUFFIX.fullmatch(entry.name.removeprefix(prefix)):
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
