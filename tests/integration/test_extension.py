"""Extension against the real API server: resolution in its repo, the owned Tiltfile, kubectl's view."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, extension, ready, repo
from tilt_operator.devcluster import DevCluster

EXTS, REPOS, TILTFILES = "extensions", "extensionrepos", "tiltfiles"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """A file:// repo with two extensions, an empty dir and a symlink out of the repo."""
    root = tmp_path / "repo"
    for ext in ("hello", "other"):
        (root / ext).mkdir(parents=True)
        (root / ext / "Tiltfile").write_text(f"print('{ext}')\n")
    (root / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "Tiltfile").write_text("print('escaped')\n")
    (root / "escape").symlink_to(tmp_path / "outside")
    return root


def settled(api: Api, name: str, want: str | None = None, timeout: float = 30) -> dict:
    def check() -> dict | None:
        body = api.get(EXTS, name) or {}
        status = body.get("status", {})
        fresh = status.get("observedGeneration") == body.get("metadata", {}).get("generation")
        return status if fresh and ready(status) and (want is None or ready(status) == want) else None

    return eventually(check, timeout=timeout, what=f"Extension {name} to settle ({want or 'any'})")


def test_an_extension_created_before_its_repo_becomes_ready_when_the_repo_appears(
    api: Api, operator: Operator, repo_dir: Path, name: str
):
    api.create(EXTS, extension(name, f"{name}-repo", "hello", args=["--verbose", "x"]))
    missing = settled(api, name, "False")
    assert missing["error"] == f"extension repo not found: {name}-repo"
    assert api.get(TILTFILES, name) is None

    api.create(REPOS, repo(f"{name}-repo", f"file://{repo_dir}"))
    status = settled(api, name, "True")
    assert status["path"] == str(repo_dir / "hello" / "Tiltfile")
    assert "error" not in status

    tiltfile = api.get(TILTFILES, name)
    ext = api.get(EXTS, name)
    assert tiltfile["spec"]["path"] == str(repo_dir / "hello" / "Tiltfile")
    assert tiltfile["spec"]["args"] == ["--verbose", "x"]
    assert tiltfile["metadata"]["labels"]["tilt.dev/extension"] == name
    [owner] = tiltfile["metadata"]["ownerReferences"]
    assert owner["kind"] == "Extension"
    assert owner["name"] == name
    assert owner["uid"] == ext["metadata"]["uid"]
    assert owner["controller"] is True


def test_a_repo_that_is_not_ready_is_named(api: Api, operator: Operator, name: str):
    api.create(REPOS, repo(f"{name}-repo", "file:///no/such/dir"))
    api.create(EXTS, extension(name, f"{name}-repo", "hello"))
    status = settled(api, name, "False")
    assert status["error"].startswith(f"extension repo not ready: {name}-repo")


@pytest.mark.parametrize(
    ("repo_path", "message"),
    [
        ("../../etc", "path: repoPath '../../etc' must not contain '..'"),
        ("/etc", "path: repoPath '/etc' must be relative to the repo"),
        ("escape", "path: repoPath 'escape' leads outside the repo (through a symlink)"),
        ("empty", "path: no Tiltfile at 'empty' in the repo"),
    ],
)
def test_a_bad_path_is_a_clear_error_and_creates_no_tiltfile(
    api: Api, operator: Operator, repo_dir: Path, name: str, repo_path: str, message: str
):
    api.create(REPOS, repo(f"{name}-repo", f"file://{repo_dir}"))
    api.create(EXTS, extension(name, f"{name}-repo", repo_path))
    status = settled(api, name, "False")
    assert status["error"].startswith(message), status["error"]
    assert "path" not in status
    assert api.get(TILTFILES, name) is None


def test_edits_reach_the_owned_tiltfile_and_deleting_the_extension_removes_it(
    api: Api, operator: Operator, repo_dir: Path, name: str
):
    api.create(REPOS, repo(f"{name}-repo", f"file://{repo_dir}"))
    api.create(EXTS, extension(name, f"{name}-repo", "hello"))
    settled(api, name, "True")
    assert api.get(TILTFILES, name)["spec"]["args"] == []

    api.patch(EXTS, name, {"spec": {"args": ["a", "b"]}})
    eventually(lambda: api.get(TILTFILES, name)["spec"]["args"] == ["a", "b"], what="args to reach the Tiltfile")
    api.patch(EXTS, name, {"spec": {"repoPath": "other"}})
    eventually(
        lambda: api.get(TILTFILES, name)["spec"]["path"] == str(repo_dir / "other" / "Tiltfile"),
        what="repoPath to reach the Tiltfile",
    )

    api.delete(EXTS, name)
    eventually(lambda: api.get(TILTFILES, name) is None, timeout=60, what="the garbage collector")


def test_kubectl_shows_extensions_at_a_glance_and_waits_for_ready(
    cluster: DevCluster, api: Api, operator: Operator, repo_dir: Path, name: str
):
    api.create(REPOS, repo(f"{name}-repo", f"file://{repo_dir}"))
    api.create(EXTS, extension(name, f"{name}-repo", "hello"))
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=30s", check=False)
    assert waited.returncode == 0, waited.stderr
    table = cluster.kubectl("get", "extensions", name).stdout.splitlines()
    assert table[0].split() == ["NAME", "REPO", "PATH", "READY", "ERROR", "AGE"]
    assert table[1].split()[:4] == [name, f"{name}-repo", "hello", "True"]
    wide = cluster.kubectl("get", "ext", name, "-o", "wide").stdout
    assert str(repo_dir / "hello" / "Tiltfile") in wide


def test_a_restarted_operator_changes_nothing(api: Api, operator: Operator, repo_dir: Path, name: str):
    """Steady state: resuming a settled Extension touches neither it nor its Tiltfile."""
    api.create(REPOS, repo(f"{name}-repo", f"file://{repo_dir}"))
    api.create(EXTS, extension(name, f"{name}-repo", "hello"))
    settled(api, name, "True")
    # Settled means the owned Tiltfile's first run is over too.
    eventually(lambda: api.status(TILTFILES, name).get("terminated"), what="the Tiltfile's run")
    before = (
        api.get(EXTS, name)["metadata"]["resourceVersion"],
        api.get(TILTFILES, name)["metadata"]["resourceVersion"],
    )
    operator.restart_and_resume(name, "Extension", "Tiltfile")
    after = (
        api.get(EXTS, name)["metadata"]["resourceVersion"],
        api.get(TILTFILES, name)["metadata"]["resourceVersion"],
    )
    assert after == before


def test_an_extension_is_ready_only_when_its_tiltfile_ran_and_says_why_not(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    """`kubectl wait --for=condition=Ready` answers "does the extension work?", not "was its Tiltfile created?"."""
    tiltfile = tmp_path / "repo" / "slow" / "Tiltfile"
    tiltfile.parent.mkdir(parents=True)
    tiltfile.write_text("while True:\n    pass\n")  # runs until the operator's time limit ends it
    api.create(REPOS, repo(f"{name}-repo", f"file://{tmp_path / 'repo'}"))
    api.create(EXTS, extension(name, f"{name}-repo", "slow"))

    pending = eventually(lambda: (s := api.status(EXTS, name)) and api.status(TILTFILES, name).get("running") and s)
    [condition] = [c for c in pending["conditions"] if c["type"] == "Ready"]
    assert (condition["status"], condition["reason"]) == ("False", "TiltfilePending")
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=2s", check=False)
    assert waited.returncode != 0

    failed = settled(api, name, "False", timeout=60)
    eventually(lambda: "timed out" in (api.status(EXTS, name).get("error") or ""), what="the run's error")
    failed = api.status(EXTS, name)
    [condition] = [c for c in failed["conditions"] if c["type"] == "Ready"]
    assert condition["reason"] == "TiltfileFailed"
    assert failed["error"] == "tiltfile: Tiltfile timed out after 5s"
    assert failed["path"] == str(tiltfile)
    row = cluster.kubectl("get", "extension", name).stdout.splitlines()[1]
    assert "tiltfile: Tiltfile timed out after 5s" in row

    tiltfile.write_text("print('fixed')\n")
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=60s", check=False)
    assert waited.returncode == 0, waited.stderr
    assert "error" not in api.status(EXTS, name)
