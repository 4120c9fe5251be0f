"""resolve_extension and build_tiltfile: the Extension reconciler's decisions, without a cluster."""

from __future__ import annotations

from pathlib import Path

from tilt_operator import reasons
from tilt_operator.reconcilers import extension as extensions
from tilt_operator.reconcilers.extension import RepoView
from tilt_operator.reconcilers.status import desired_status, failed_status, in_progress_status


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


def repo_object(status: dict, url: str = "https://h/r") -> dict:
    return {"metadata": {"name": "r"}, "spec": {"url": url}, "status": status}


def test_a_repo_serves_its_last_good_checkout_through_a_failed_reconcile():
    """Ready False after a reconcile that raised (or a failed fetch) stops nothing: the checkout is there."""
    status = failed_status({"path": "/c", "url": "https://h/r", "observedGeneration": 1}, RuntimeError("409"))
    served = RepoView.from_object(repo_object(status))
    assert served.serving
    assert served.extensions_dir == Path("/c")


def test_a_checkout_of_another_url_is_not_served_and_the_failure_is_the_reason():
    status = failed_status({"path": "/c", "url": "https://h/old", "observedGeneration": 1}, RuntimeError("boom"))
    served = RepoView.from_object(repo_object(status, url="https://h/new"))
    assert not served.serving
    outcome = extensions.resolve_extension({"repoName": "r", "repoPath": "x"}, served)
    assert outcome.reason == reasons.REPO_NOT_READY
    assert "reconcile failed, retrying: boom" in outcome.message


def tiltfile(status: dict) -> dict:
    return {"metadata": {"name": "t", "generation": 1}, "status": status}


def test_a_rerun_is_reconciling_not_stalled_and_keeps_what_the_last_run_said():
    obj = {"metadata": {"name": "t", "generation": 1}}
    failed = desired_status({}, obj=obj, current={}, ready=False, reason=reasons.RUN_FAILED, message="boom")
    rerun = in_progress_status({"running": {}}, current={**failed, "terminated": {"error": "boom"}}, message="running")
    ready, reason, message, error = extensions.run_readiness(tiltfile(rerun))
    assert (ready, reason, error) == (False, reasons.TILTFILE_PENDING, "tiltfile: boom")
    assert reason in reasons.RECONCILING
    assert reason not in reasons.STALLED
    assert message == "Tiltfile t: running"
    succeeded = desired_status({}, obj=obj, current={}, ready=True, reason=reasons.RUN_SUCCEEDED, message="ok")
    assert extensions.run_readiness(tiltfile(in_progress_status({}, current=succeeded, message="running")))[:2] == (
        True,
        reasons.TILTFILE_PENDING,
    ), "a working extension stays Ready while it runs again"


def deploy(name: str, ready: bool, reason: str, message: str, **fields: str) -> dict:
    obj = {"metadata": {"name": name, "generation": 1}}
    return {**obj, "status": desired_status(fields, obj=obj, current={}, ready=ready, reason=reason, message=message)}


def test_a_succeeded_extension_is_ready_once_what_it_deployed_is_applied_and_current(tmp_path: Path):
    obj = {"metadata": {"name": "t", "generation": 1}}
    succeeded = desired_status({}, obj=obj, current={}, ready=True, reason=reasons.RUN_SUCCEEDED, message="ok")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "Tiltfile").write_text("")
    outcome = extensions.resolve_extension({"repoName": "r", "repoPath": "p"}, view(tmp_path))

    def ready_of(*deploys: dict) -> tuple[str, str, str | None]:
        status = extensions.extension_status(obj, {}, outcome, tiltfile(succeeded), deploys)
        [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
        return ready["status"], ready["reason"], status["error"]

    applied = deploy("a", True, reasons.YAML_APPLIED, "2 objects applied as x, all Current")
    rolling = deploy("r", False, reasons.PROGRESSING, "Deployment n/web: readyReplicas: 0/1")
    failed = deploy("f", False, reasons.HEALTH_CHECK_FAILED, "Deployment n/web: progress deadline exceeded")
    refused = deploy("b", False, reasons.APPLY_FAILED, "x", error="ConfigMap default/x: forbidden")
    assert ready_of(applied) == ("True", reasons.TILTFILE_SUCCEEDED, None)
    assert ready_of(applied, rolling) == ("False", reasons.PROGRESSING, None)
    assert ready_of(applied, rolling, failed)[:2] == ("False", reasons.HEALTH_CHECK_FAILED)
    assert ready_of(rolling, failed, refused) == (
        "False",
        reasons.APPLY_FAILED,
        "KubernetesApply b: ConfigMap default/x: forbidden",
    ), "what the cluster refused comes first"
    assert ready_of(applied, {"metadata": {"name": "new", "generation": 1}}) == ("False", reasons.PROGRESSING, None)
    assert {reasons.APPLY_FAILED, reasons.PROGRESSING} <= reasons.RECONCILING, "retried and re-read with backoff"
