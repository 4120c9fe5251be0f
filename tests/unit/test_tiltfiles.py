"""When a Tiltfile is due to run, and the run records that decide it."""

from __future__ import annotations

from pathlib import Path

from tilt_operator import reasons
from tilt_operator.reconcilers import runrecords
from tilt_operator.reconcilers.runrecords import RunRecord, RunRecords
from tilt_operator.reconcilers.tiltfile import Run, due_reasons, finished_status

T0, T1, T2 = "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z", "2026-01-01T00:00:02.000000Z"


def record(tmp_path: Path, **changes) -> RunRecord:
    path = tmp_path / "Tiltfile"
    path.write_text("print(1)\n")
    fields = {"generation": 1, "started_at": T1, "files": runrecords.signatures([str(path)]), **changes}
    return RunRecord(**fields)


def due(rec: RunRecord | None, **kwargs) -> list[str]:
    options = {
        "generation": 1,
        "status": {},
        "record": rec,
        "repo_commit": None,
        "restart_clicks": {},
        "repo_ready": lambda name: False,
        **kwargs,
    }
    return due_reasons(**options)


def test_a_tiltfile_never_run_is_due_initially():
    assert due(None) == ["initial"]


def test_nothing_moved_means_no_run(tmp_path: Path):
    assert due(record(tmp_path)) == []


def test_a_new_generation_is_a_spec_change(tmp_path: Path):
    assert due(record(tmp_path), generation=2) == ["spec changed"]


def test_a_changed_file_is_named(tmp_path: Path):
    rec = record(tmp_path)
    (tmp_path / "Tiltfile").write_text("print(22)\n")
    assert due(rec) == [f"file changed: {tmp_path / 'Tiltfile'}"]


def test_a_file_that_appears_counts_as_changed(tmp_path: Path):
    rec = record(tmp_path, files={str(tmp_path / "later.star"): "missing"})
    (tmp_path / "later.star").write_text("x = 1\n")
    assert due(rec) == [f"file changed: {tmp_path / 'later.star'}"]


def test_a_new_commit_of_the_repo_is_a_repo_update(tmp_path: Path):
    assert due(record(tmp_path, repo_commit="a" * 40), repo_commit="b" * 40) == ["repo updated: bbbbbbbbbbbb"]


def test_only_clicks_after_the_last_run_count(tmp_path: Path):
    rec = record(tmp_path)
    assert due(rec, restart_clicks={"old": T0, "never": None}) == []
    assert due(rec, restart_clicks={"new": T2}) == ["button clicked: new"]


def test_a_run_the_operator_did_not_finish_is_run_again(tmp_path: Path):
    rec = record(tmp_path)
    assert due(rec, status={"running": {"startedAt": T2}}) == ["operator restarted during a run"]
    assert due(rec, status={"running": {"startedAt": T1}}) == [], "our own run, seen late, is not an interruption"


def test_a_run_that_waited_for_a_repo_is_due_once_that_repo_is_ready(tmp_path: Path):
    rec = record(tmp_path, waiting_for="myrepo")
    assert due(rec) == [], "still waiting: nothing to do"
    assert due(rec, repo_ready=lambda name: name == "other") == []
    assert due(rec, repo_ready=lambda name: name == "myrepo") == ["ExtensionRepo myrepo ready"]
    assert due(record(tmp_path), repo_ready=lambda name: True) == [], "a run that did not wait waits for nothing"


def test_records_round_trip_and_survive_garbage(tmp_path: Path):
    records = RunRecords(tmp_path / "records")
    assert records.load("uid") is None
    rec = record(tmp_path, waiting_for="myrepo")
    records.save("uid", rec)
    assert records.load("uid") == rec
    (tmp_path / "records" / "uid.json").write_text("{not json")
    assert records.load("uid") is None


def _finished(**changes: object) -> dict:
    run = Run("u", 1, ["initial"], None, queued_at="2026-12-05T10:00:00.000000Z")
    for key, value in changes.items():
        setattr(run, key, value)
    run.finish(str(changes.get("error", "")) or None)
    return finished_status(run, {}, {"metadata": {"name": "t", "generation": 1}})


def test_a_run_whose_code_fails_is_stalled_one_the_infrastructure_failed_is_retried():
    """kstatus as written: Stalled only where no retry helps."""
    code = _finished(error="Tiltfile:1:1: boom")
    assert [(c["type"], c["reason"]) for c in code["conditions"]] == [
        ("Ready", reasons.RUN_FAILED),
        ("Stalled", reasons.RUN_FAILED),
    ]
    infrastructure = _finished(error="internal error: 503", failure=RuntimeError("503"))
    assert [(c["type"], c["reason"]) for c in infrastructure["conditions"]] == [
        ("Ready", reasons.RECONCILE_FAILED),
        ("Reconciling", reasons.PROGRESSING_WITH_RETRY),
    ]
    assert infrastructure["conditions"][0]["message"] == "reconcile failed, retrying: 503"
