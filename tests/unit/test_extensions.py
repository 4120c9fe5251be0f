"""resolve_extension and build_tiltfile: the Extension reconciler's decisions, without a cluster."""

from __future__ import annotations

from pathlib import Path

from tilt_operator import reasons
from tilt_operator.reconcilers import extension as extensions
from tilt_operator.reconcilers.extension import RepoView


def view(path: Path | None, *, ready: bool = True, error: str | None = None, commit: str | None = None) -> RepoView:
    return RepoView("r", ready, str(path) if path else None, "", commit, error)


def test_a_missing_repo_is_named():
    outcome = extensions.resolve_extension({"repoName": "r", "repoPath": "x"}, None)
    assert not outcome.ready
    assert outcome.message == "extension repo not found: r"


def test_a_repo_that_is_not_ready_says_why():
    outcome = extensions.resolve_extension({"repoName": "r", "repoPath": "x"}, view(None, ready=False, error="boom"))
    assert outcome.reason == reasons.REPO_NOT_READY
    assert outcome.message == "extension repo not ready: r (boom)"


def test_a_ready_repo_resolves_the_tiltfile(tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "Tiltfile").write_text("")
    outcome = extensions.resolve_extension({"repoName": "r", "repoPath": "x"}, view(tmp_path))
    assert outcome.ready
    assert outcome.path == tmp_path / "x" / "Tiltfile"


def test_the_owned_tiltfile_is_labelled_owned_and_carries_path_and_args():
    ext = {"kind": "Extension", "metadata": {"name": "e", "uid": "u-1"}, "spec": {"args": ["a"]}}
    tiltfile = extensions.build_tiltfile(ext, Path("/repo/e/Tiltfile"))
    assert tiltfile["metadata"]["name"] == "e"
    assert tiltfile["metadata"]["labels"] == {"tilt.dev/extension": "e"}
    assert tiltfile["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Extension",
            "name": "e",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert tiltfile["spec"] == {"path": "/repo/e/Tiltfile", "args": ["a"], "labels": {"tilt.dev/extension": "e"}}
