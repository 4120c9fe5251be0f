"""The contract between the operator and a Tiltfile host process: request, events, result.

The host is the Go program in ``engine/host/`` (its ``protocol.go`` is the other half of this
module). A warm host says ``ready``; then each request goes to its stdin as one line of JSON, and
it answers on stdout with one JSON event per line, flushed as it happens and ending with ``done``,
so a host killed for time or memory still leaves behind what it printed and which files it read
(the reconciler watches those to know when to re-run).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The Tilt release whose Tiltfile semantics the host follows, and its date: what `tilt version`
# says (in Tilt's format, which upstream extensions such as min_tilt_version parse) and what
# version_settings(constraint=...) is checked against.
TILT_VERSION = "0.37.6"
TILT_BUILD_DATE = "2026-08-08"

# The host's exit code when it stops itself for using more memory than allowed.
EXIT_MEMORY = 3

# Event keys, one per line of host output.
EVENT_PRINT = "print"
EVENT_WARNING = "warning"
EVENT_FILE = "file"
EVENT_DONE = "done"
# Sent once by a new host when it is warm: its pid.
EVENT_READY = "ready"


# The signature of a file that does not exist (read_file(path, default=...) of a missing file).
MISSING = "missing"


# How many entries below a directory its signature covers (``host/files.go``'s maxTreeEntries): a
# watched directory is one record however large its tree; past the cap a change goes unnoticed.
MAX_TREE_ENTRIES = 10_000


def file_signature(path: str) -> str:
    """What a run saw of a file: changes whenever it is rewritten or replaced (a new checkout is a new inode).

    A directory's covers everything below it (:func:`tree_entries`), as Tilt watches a directory
    recursively. The host takes it just before it reads the file, so an edit during the run still
    counts as a change; its ``fileSignature`` (``host/files.go``) gives the same text.
    """
    try:
        info = os.stat(path)
    except OSError:
        return MISSING
    if not stat.S_ISDIR(info.st_mode):
        return _stat_signature(info)
    digest = hashlib.sha256(b".\0" + _stat_signature(info).encode() + b"\n")
    for relative, entry, _ in tree_entries(path):
        digest.update(relative + b"\0" + _stat_signature(entry).encode() + b"\n")
    return "tree:" + digest.hexdigest()


def _stat_signature(info: os.stat_result) -> str:
    return f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}"


def tree_entries(root: str) -> Iterator[tuple[bytes, os.stat_result, bool]]:
    """What a directory's signature covers: each entry below ``root`` as (its path relative to
    ``root``, its ``lstat``, whether it is a directory), depth first in name order, ``.git`` left
    out, at most :data:`MAX_TREE_ENTRIES`. A directory that cannot be read adds nothing."""
    return itertools.islice(_walk(os.fsencode(root), b""), MAX_TREE_ENTRIES)


def _walk(directory: bytes, relative: bytes) -> Iterator[tuple[bytes, os.stat_result, bool]]:
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.name == b".git":
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # gone since the directory was read
        path = relative + b"/" + entry.name if relative else entry.name
        is_dir = stat.S_ISDIR(info.st_mode)
        yield path, info, is_dir
        if is_dir:
            yield from _walk(os.path.join(directory, entry.name), path)


@dataclass(frozen=True)
class RepoRoot:
    """One ExtensionRepo as ``load('ext://...')`` sees it: its ``loadHost``, and its extensions
    directory (its checkout joined with its ``gitSubpath``), None while it is not Ready."""

    load_host: str = ""
    path: Path | None = None


@dataclass(frozen=True)
class ExtensionRoots:
    """The ExtensionRepos ``load('ext://...')`` resolves against, by name, as the caller sees them.

    The host picks the Extension a load names and so its repo, as Tilt's loader does
    (docs/design.md, "load() and include()"); a load whose repo is missing here, or has no path,
    ends the run waiting for it.
    """

    repos: Mapping[str, RepoRoot] = field(default_factory=dict)

    @classmethod
    def default_at(cls, path: Path | None) -> ExtensionRoots:
        """Only the repo named ``default``, at ``path``: a run with no cluster behind it."""
        return cls({"default": RepoRoot(path=path)} if path else {})


def crds_digest(crds: Sequence[Mapping[str, Any]]) -> str:
    """Names the CRDs a run's builtins come from, so a worker that has them is not sent them again."""
    versions = [(crd["metadata"].get("name"), crd["metadata"].get("resourceVersion")) for crd in crds]
    # CRDs read from files carry no resourceVersion: their whole text names them then.
    versioned = all(version for _, version in versions)
    text = json.dumps(versions) if versioned else json.dumps(list(crds), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RunRequest:
    """One Tiltfile run, as the host receives it: one line of JSON.

    ``crds`` is empty when the host already has the CRDs named by ``crds_digest``. With ``call``
    set (``{"kind": KIND, "kwargs": {...}}``) the host runs no file: it calls that kind's builtin
    once and answers with the object, which is how ``kubectl tilt create`` builds objects.
    """

    path: Path
    root: Path
    args: tuple[str, ...]
    crds_digest: str
    crds: tuple[Mapping[str, Any], ...]
    ext_roots: ExtensionRoots
    call: Mapping[str, Any] | None = None
    # The environment the run sees (os.getenv, local()): the one a Cmd gets.
    env: Mapping[str, str] = field(default_factory=dict)
    # Whether local() may run commands: the operator's process execution setting.
    exec_enabled: bool = False

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "path": str(self.path),
                    "root": str(self.root),
                    "args": list(self.args),
                    "crds_digest": self.crds_digest,
                    "crds": list(self.crds),
                    "ext_repos": {
                        name: {"load_host": repo.load_host, "path": str(repo.path) if repo.path else ""}
                        for name, repo in self.ext_roots.repos.items()
                    },
                    "call": self.call,
                    "env": dict(self.env),
                    "exec_enabled": self.exec_enabled,
                }
            )
            + "\n"
        )


@dataclass(frozen=True)
class Waiting:
    """A run that stopped, without failing, at a load whose ExtensionRepo ``repo`` is not Ready;
    ``message`` names that load (``file:line:column: message``)."""

    repo: str
    message: str


@dataclass(frozen=True)
class RunResult:
    """What one Tiltfile run produced; ``dataclasses.asdict`` of it is JSON-serialisable.

    ``objects`` are complete Kubernetes objects in registration order, empty when the run failed
    (a failed run applies and prunes nothing). ``output`` and ``warnings`` are kept even then, up
    to where the run stopped. ``files_read`` holds absolute paths: the Tiltfile, every loaded file
    and every ``read_file`` (also those that did not exist, since creating them changes the run),
    and ``file_signatures`` what the run saw of each (:func:`file_signature`). ``error`` is one
    line (``file:line:column: message`` when Starlark failed); ``backtrace`` is the whole Starlark
    backtrace of that error, for the Tiltfile's log. ``waiting`` is set when the run stopped at a
    load whose ExtensionRepo is not Ready: ``objects`` are then what it registered before that load.
    """

    objects: list[dict[str, Any]]
    output: str
    warnings: list[str]
    files_read: list[str]
    error: str | None
    file_signatures: dict[str, str] = field(default_factory=dict)
    backtrace: str | None = None
    waiting: Waiting | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Transcript:
    """The operator's record of one run's events, fed a line at a time as the host writes them."""

    def __init__(self) -> None:
        self._output: list[str] = []
        self._warnings: list[str] = []
        self._files_read: dict[str, str] = {}
        self._done: Mapping[str, Any] | None = None

    @property
    def done(self) -> Mapping[str, Any] | None:
        """The ``done`` event, once it has come: the host has finished the run."""
        return self._done

    def record(self, line: bytes) -> tuple[str, Any] | None:
        """One line of host output, and the event it was; a line cut short (the host was killed
        writing it) is ignored."""
        try:
            ((key, value),) = json.loads(line).items()
        except (ValueError, AttributeError):
            return None
        if key == EVENT_PRINT:
            self._output.append(value)
        elif key == EVENT_WARNING:
            self._warnings.append(value)
        elif key == EVENT_FILE:
            path, signature = value
            self._files_read[path] = signature
        elif key == EVENT_DONE:
            self._done = value
        return key, value

    def result(self, error: str | None) -> RunResult:
        """The run's result; ``error`` (the host's fate, if it did not finish) wins over its own."""
        done = self._done or {}
        final_error = error or done.get("error") or None
        if error is None and self._done is None:
            final_error = "Tiltfile host ended without a result"
        return RunResult(
            objects=list(done.get("objects", [])) if final_error is None else [],
            output="".join(self._output),
            warnings=list(self._warnings),
            files_read=list(self._files_read),
            error=final_error,
            file_signatures=dict(self._files_read),
            backtrace=(done.get("backtrace") or final_error) if error is None else None,
            waiting=Waiting(**done["waiting"]) if final_error is None and done.get("waiting") else None,
        )
