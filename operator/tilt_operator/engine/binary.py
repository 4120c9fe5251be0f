"""The Tiltfile host's binary: built from ``engine/host/`` with the Go toolchain once per source, then cached.

The host is a small Go program on go.starlark.net (docs/design.md, "The Tiltfile language"); its
sources ship inside this package, so a pip install can build it wherever Go is installed. The
build goes to ``$XDG_CACHE_HOME/tilt-operator/tiltfile-host/<digest of the sources>/`` (default
``~/.cache/…``), under a lock and renamed into place, so two processes never build it twice and
an edit of the sources builds anew. ``TILT_OPERATOR_TILTFILE_HOST`` names a binary built
elsewhere (the container image builds it in a stage of its own and has no Go).

Called by ``engine.pool`` before it starts a host, and by ``hack/bootstrap.sh`` so that the
first Tiltfile run does not wait for a build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from tilt_operator.config import xdg_dir

BINARY_NAME = "tiltfile-host"
ENV_BINARY = "TILT_OPERATOR_TILTFILE_HOST"
_SOURCE_SUFFIXES = (".go", ".mod", ".sum")
_BUILD_TIMEOUT = 600


class HostUnavailable(RuntimeError):
    """The host cannot be built or found; the message is one line that says what to do."""


def _sources() -> Path:
    return Path(str(resources.files("tilt_operator") / "engine" / "host"))


def source_digest(directory: Path | None = None) -> str:
    """Names the host's sources: every .go file, go.mod and go.sum, by name and content."""
    directory = directory or _sources()
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.suffix in _SOURCE_SUFFIXES):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / BINARY_NAME


def ensure_host() -> Path:
    """The host binary, built first if this version of the sources has not been built yet."""
    configured = os.environ.get(ENV_BINARY)
    if configured:
        if not os.access(configured, os.X_OK):
            raise HostUnavailable(f"{ENV_BINARY}={configured} is not an executable file")
        return Path(configured)
    target = cache_dir() / source_digest() / BINARY_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            _build(target)
    return target


def _build(target: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise HostUnavailable(
            "the Tiltfile host is built once with the Go toolchain (1.22+), and `go` is not on PATH:"
            f" install Go, or set {ENV_BINARY} to a built {BINARY_NAME}"
        )
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / BINARY_NAME
        # The sources may sit in a read-only site-packages: build from a copy.
        source = Path(scratch) / "src"
        shutil.copytree(_sources(), source, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            subprocess.run(
                [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(built), "."],
                cwd=source,
                env={**os.environ, "CGO_ENABLED": "0"},
                check=True,
                capture_output=True,
                text=True,
                timeout=_BUILD_TIMEOUT,
            )
        except subprocess.CalledProcessError as error:
            last = (error.stderr.strip().splitlines() or ["no output"])[-1]
            raise HostUnavailable(f"building the Tiltfile host failed: {last}") from None
        except subprocess.TimeoutExpired:
            raise HostUnavailable(f"building the Tiltfile host took longer than {_BUILD_TIMEOUT}s") from None
        os.replace(built, target)
