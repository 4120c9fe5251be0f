"""What the image and .venv are made of: pyproject.toml's dependencies, installed from hashed locks.

requirements/runtime.txt (the image) and requirements/dev.txt (.venv, with the `dev` and `test`
extras) are made from pyproject.toml by hack/lock.sh. These tests hold the locks to pyproject.toml
and to the commands that install from them, and keep what only `tilt-operator dev` needs out of
the image; test_manifests.py holds the Dockerfile's bases to their digests.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = REPO / "requirements" / "runtime.txt"
DEV = REPO / "requirements" / "dev.txt"
DOCKERFILE = (REPO / "Dockerfile").read_text()
BOOTSTRAP = (REPO / "hack" / "bootstrap.sh").read_text()


def _requirements(*groups: str) -> list[Requirement]:
    """The build backend, the dependencies, and the named extras, as pyproject.toml declares them."""
    project = PYPROJECT["project"]
    declared = [*PYPROJECT["build-system"]["requires"], *project["dependencies"]]
    declared += [line for group in groups for line in project["optional-dependencies"][group]]
    return [Requirement(line) for line in declared]


def _pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """Each package the lock pins: its version and the hashes its files may have."""
    pins: dict[str, tuple[str, list[str]]] = {}
    # A requirement is its first line and the indented `--hash` lines that continue it.
    text = re.sub(r"\s*\\\n\s*", " ", lock.read_text())
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?: --hash=sha256:[0-9a-f]{64})+)", line)
        assert match, f"{lock.name}: not a pin with hashes: {line[:120]}"
        name, version, hashes = match.groups()
        pins[canonicalize_name(name)] = (version, hashes.split())
    return pins


@pytest.mark.parametrize(("lock", "groups"), [(RUNTIME, ()), (DEV, ("dev", "test"))], ids=["runtime", "dev"])
def test_each_lock_pins_every_declared_dependency_by_a_version_that_fits_and_with_hashes(lock, groups):
    pins = _pins(lock)
    for requirement in _requirements(*groups):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} lacks {requirement}: run `bash hack/lock.sh`"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name}: {name}=={version}, {requirement}"
        )
        assert hashes


def test_the_locks_name_no_index_and_no_package_outside_them():
    """Where packages come from is the installing machine's setting: no index, link or editable line."""
    for lock in (RUNTIME, DEV):
        options = [line for line in lock.read_text().splitlines() if line.startswith("-")]
        assert not options, f"{lock.name}: {options}"
        assert "://" not in lock.read_text()


def test_the_runtime_lock_is_the_dev_lock_s_part_and_has_none_of_the_extras():
    runtime, dev = _pins(RUNTIME), _pins(DEV)
    assert {name: version for name, (version, _) in runtime.items()} == {
        name: dev[name][0] for name in runtime if name in dev
    }, "both locks pin the same versions (dev.txt is made with runtime.txt as constraints)"
    assert set(runtime) <= set(dev)
    extras = {canonicalize_name(r.name) for r in _requirements("dev", "test")} - {
        canonicalize_name(r.name) for r in _requirements()
    }
    assert not extras & set(runtime), "the image gets neither test tools nor the `dev` extra"
    assert "cryptography" not in runtime


def test_the_image_installs_from_the_runtime_lock_by_hash_and_the_package_alone():
    installs = re.findall(r"\bpip install ([^&\\\n]+)", DOCKERFILE)
    assert [install.split() for install in installs] == [
        ["--no-cache-dir", "--require-hashes", "--no-deps", "-r", "requirements/runtime.txt"],
        ["--no-cache-dir", "--no-deps", "--no-build-isolation", "."],
    ]
    assert "COPY requirements/runtime.txt requirements/" in DOCKERFILE


def test_bootstrap_installs_from_the_dev_lock_by_hash_and_the_package_editable_alone():
    installs = re.findall(r"\bpip install ([^\n]+)", BOOTSTRAP)
    assert [install.split() for install in installs] == [
        ["--quiet", "--require-hashes", "--no-deps", "-r", "requirements/dev.txt"],
        ["--quiet", "--no-deps", "--no-build-isolation", "-e", "."],
    ]
    # A changed lock installs again.
    assert re.search(r"stamp=.*requirements/dev\.txt", BOOTSTRAP)


def test_the_image_build_context_leaves_out_the_local_control_plane():
    from tilt_operator.devcluster import images

    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "operator/tilt_operator/devcluster/" in ignored
    assert "!requirements/runtime.txt" in ignored
    # What names the image: the same files.
    context = {str(path.relative_to(REPO)) for path in images._files(REPO, images._CONTEXT)}
    assert "requirements/runtime.txt" in context
    assert "operator/tilt_operator/cli/operator.py" in context
    assert not [path for path in context if "devcluster" in path]


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("cryptography", "need the `dev` extra: pip install 'tilt-operator[dev]'"),
        ("tilt_operator.devcluster", "this installation has no local cluster"),
    ],
)
@pytest.mark.parametrize("args", [["dev"], ["dev", "--node"], ["dev", "--clean"]], ids=" ".join)
def test_tilt_operator_dev_says_what_an_installation_lacks(missing, says, args):
    """The image has neither; a pip install without the `dev` extra has no cryptography."""
    code = f"import sys; sys.modules[{missing!r}] = None; from tilt_operator.cli.operator import main; main({args!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr
