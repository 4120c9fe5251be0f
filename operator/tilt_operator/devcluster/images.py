"""The operator's image, built without a daemon: the repo's Dockerfile with ``buildah bud``, on local bases.

No registry needs to be reachable. The three bases the Dockerfile takes as build arguments
(its defaults are the public images a ``docker build`` pulls) are made here instead:

- ``debian``: a Debian bookworm root filesystem from debootstrap, with python3 and its venv
  module, and nothing of this machine's: not its resolver or host name (debootstrap copies both),
  its CAs or its apt settings;
- ``golang``: that, with this machine's Go toolchain and its module proxy setting;
- ``kubectl``: the dev cluster's own kubectl, where the official image keeps it (``/bin/kubectl``);

and a node's pod sandbox image, ``pause`` (``hack/node/pause.go``). What the build's RUN steps need
of this machine to reach the package mirrors as it does, its CA bundle and its apt settings, they
get as build secrets: mounted for the one step that uses them, in no layer of any image. Each
image is named after what it is made of, so it is made once; the operator's image is named after
its build context, its Dockerfile and its bases, so an unchanged tree builds nothing. The result
leaves as an OCI archive, which the local node's containerd imports (tilt_operator.devcluster.node).
Needs root, as debootstrap and buildah's storage do.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tilt_operator.config import xdg_dir
from tilt_operator.devcluster.binaries import Binaries, repo_root

SUITE = "bookworm"
_DEBIAN_PACKAGES = ("ca-certificates", "python3", "python3-venv")
# What debootstrap copies from this machine into the root filesystem, and its own log.
_MACHINE_FILES = ("etc/resolv.conf", "etc/hostname", "var/log/bootstrap.log")
# Lent to the build as secrets (the Dockerfile's `--mount=type=secret` steps).
_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_APT_SETTINGS = (Path("/etc/apt/apt.conf"), Path("/etc/apt/apt.conf.d"))
# The build context: what .dockerignore lets in (the package, its metadata, the CRDs it ships, the
# runtime lock), less what it leaves out.
_CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "requirements/runtime.txt",
    "crds",
    "operator",
)
_SKIPPED = ("__pycache__", ".egg-info")
_LEFT_OUT = (Path("operator/tilt_operator/devcluster"),)


@dataclass(frozen=True)
class Image:
    """A built image: its name in buildah's storage and the OCI archive a node imports."""

    ref: str
    archive: Path


def cache_root() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / "images"


def _run(*command: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(command, input=stdin, capture_output=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"{' '.join(command[:3])} … failed ({result.returncode}): {detail}")
    return result.stdout.decode().strip()


def _exists(ref: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", ref], capture_output=True).returncode == 0


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _files(root: Path, names: tuple[str, ...]) -> Iterator[Path]:
    """Every regular file under ``names`` (files or directories of ``root``) but those left out, in a stable order."""
    left_out = {root / path for path in _LEFT_OUT}
    for name in names:
        path = root / name
        if path.is_file():
            yield path
            continue
        for directory, subdirs, files in os.walk(path):
            subdirs[:] = sorted(d for d in subdirs if not d.endswith(_SKIPPED) and Path(directory, d) not in left_out)
            yield from (Path(directory) / file for file in sorted(files))


def _fingerprint(paths: Iterator[Path], root: Path) -> list[bytes]:
    return [part for path in paths for part in (str(path.relative_to(root)).encode(), path.read_bytes())]


def _commit(container: str, ref: str) -> str:
    _run("buildah", "commit", "--quiet", "--rm", container, ref)
    return ref


def debian_base() -> str:
    """Debian bookworm with python3 and venv, and no file of this machine's."""
    # Named after what it is made of and what is taken out of it, so a base made otherwise is never taken for it.
    ref = f"localhost/tilt-operator-base/debian:{SUITE}-" + _digest(SUITE, *_DEBIAN_PACKAGES, *_MACHINE_FILES)
    if _exists(ref):
        return ref
    print(f"making {ref} with debootstrap (once per machine)", file=sys.stderr)
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix=".rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(_DEBIAN_PACKAGES)}",
            SUITE,
            str(rootfs),
            "http://deb.debian.org/debian",
        )
        _run("chroot", str(rootfs), "apt-get", "clean")
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        for name in _MACHINE_FILES:
            (rootfs / name).unlink(missing_ok=True)
        archive = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        _run("podman", "import", "--quiet", "-", ref, stdin=archive)
    return ref


def golang_base(debian: str) -> str:
    """The Debian base with this machine's Go toolchain, and the module proxy it uses."""
    goroot, proxy = _run("go", "env", "GOROOT", "GOPROXY").splitlines()
    ref = "localhost/tilt-operator-base/golang:" + _digest(debian, _run("go", "version"), proxy)
    if _exists(ref):
        return ref
    container = _run("buildah", "from", "--quiet", debian)
    _run("buildah", "copy", "--quiet", container, goroot, "/usr/local/go")
    _run(
        "buildah",
        "config",
        "--env",
        "PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--env",
        f"GOPROXY={proxy}",
        container,
    )
    return _commit(container, ref)


def kubectl_base(binaries: Binaries) -> str:
    """The dev cluster's kubectl alone, at the path the official kubectl image has it."""
    ref = f"localhost/tilt-operator-base/kubectl:{binaries.directory.name}"
    if _exists(ref):
        return ref
    container = _run("buildah", "from", "--quiet", "scratch")
    _run("buildah", "copy", "--quiet", container, str(binaries.kubectl), "/bin/kubectl")
    return _commit(container, ref)


def pause_image() -> Image:
    """A node's pod sandbox image: the small program in hack/node/pause.go, alone."""
    source = repo_root() / "hack" / "node" / "pause.go"
    ref = "localhost/tilt-operator-base/pause:" + _digest(source.read_bytes())
    archive = cache_root() / f"pause-{ref.rpartition(':')[2]}.tar"
    if archive.is_file():
        return Image(ref, archive)
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        environment = {**os.environ, "CGO_ENABLED": "0"}
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), str(source)], check=True, env=environment
        )
        container = _run("buildah", "from", "--quiet", "scratch")
        _run("buildah", "copy", "--quiet", container, str(binary), "/pause")
        _run("buildah", "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container)
        _commit(container, ref)
    return Image(ref, _export(ref, archive))


def apt_settings() -> bytes:
    """This machine's apt configuration as one file, its parts in the order apt reads them."""
    main, parts = _APT_SETTINGS
    files = [main] if main.is_file() else []
    files += sorted(p for p in parts.iterdir() if p.is_file()) if parts.is_dir() else []
    return b"".join(f"// {path}\n".encode() + path.read_bytes() + b"\n" for path in files)


def _secrets(directory: Path) -> list[str]:
    """``buildah bud`` arguments lending the build this machine's CA bundle and apt settings.

    Each is mounted under /run/secrets for the RUN steps that ask for it (see the Dockerfile), never
    written to a layer: the image is the same whatever machine built it.
    """
    settings = directory / "apt-settings"  # in a directory only its owner reads: a proxy may carry a password
    settings.write_bytes(apt_settings())
    arguments = [f"--secret=id=apt-settings,src={settings}"]
    if _CA_BUNDLE.is_file():
        arguments.append(f"--secret=id=ca-certificates,src={_CA_BUNDLE}")
    return arguments


def _export(ref: str, archive: Path) -> Path:
    partial = archive.with_suffix(".partial")
    _run("buildah", "push", "--quiet", ref, f"oci-archive:{partial}:{ref}")
    partial.rename(archive)
    return archive


def ensure_image(binaries: Binaries) -> Image:
    """The operator's image built from the repo's Dockerfile, once per content of its build context."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "build.lock", "w") as lock:
        # Two test sessions starting at once build once: the second waits, then finds the result.
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(binaries)


def _build(binaries: Binaries) -> Image:
    debian = debian_base()
    bases = {"PYTHON_IMAGE": debian, "GOLANG_IMAGE": golang_base(debian), "KUBECTL_IMAGE": kubectl_base(binaries)}
    root = repo_root()
    tag = _digest(*bases.values(), *_fingerprint(_files(root, _CONTEXT), root))
    image = Image(f"localhost/tilt-operator:{tag}", cache_root() / f"tilt-operator-{tag}.tar")
    if image.archive.is_file():
        return image
    print(f"building {image.ref} from the Dockerfile with buildah", file=sys.stderr)
    arguments = [f"--build-arg={name}={ref}" for name, ref in bases.items()]
    # The host's network: the build's RUN steps reach the package mirrors as this machine does.
    with tempfile.TemporaryDirectory() as secrets:
        arguments += _secrets(Path(secrets))
        _run("buildah", "bud", "--quiet", "--layers", "--network=host", *arguments, "--tag", image.ref, str(root))
    # buildah (1.28) keeps the working container of a stage that is a FROM line alone (the
    # Dockerfile's kubectl stage), one per build: whatever the build left of its bases goes here.
    listed = _run("buildah", "containers", "--noheading", "--format", "{{.ContainerID}} {{.ImageName}}")
    leftover = [ident for ident, name in (line.split() for line in listed.splitlines()) if name in bases.values()]
    if leftover:
        _run("buildah", "rm", *leftover)
    # One operator image at a time: older builds go from the cache and from buildah's storage.
    for archive in cache_root().glob("tilt-operator-*.tar"):
        archive.unlink()
    listed = _run(
        "buildah",
        "images",
        "--noheading",
        "--format",
        "{{.Name}}:{{.Tag}}",
        "--filter",
        "reference=localhost/tilt-operator",
    )
    for old in listed.split():
        if old != image.ref:
            subprocess.run(["buildah", "rmi", old], capture_output=True)
    return Image(image.ref, _export(image.ref, image.archive))


def image_size(image: Image) -> int:
    """The image's size unpacked, in bytes, as ``docker images`` reports it."""
    return int(_run("podman", "image", "inspect", "--format", "{{.Size}}", image.ref))


def image_id(image: Image) -> str:
    """The image's ID (the digest of its configuration), as a kubelet reports it for a running container."""
    return "sha256:" + _run("podman", "image", "inspect", "--format", "{{.Id}}", image.ref)
