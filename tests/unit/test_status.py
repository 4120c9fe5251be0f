"""Conditions, minimal status patches and conflict-safe writes, through the one status writer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.fakes import FakeCluster
from tilt_operator import reasons
from tilt_operator.api import EXTENSION
from tilt_operator.kube import ApiError
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import (
    StaleStatus,
    StatusWriter,
    conditions,
    desired_status,
    failed_status,
    merged,
    status_patch,
    summarizing,
)


def ready_condition(**kwargs: Any) -> list[dict[str, Any]]:
    return conditions(**kwargs)


def write_status(cluster: FakeCluster, current: dict, desired: dict) -> bool:
    """Write ``desired`` over an Extension whose status is ``current``; whether the writer patched."""
    obj = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": current})
    return asyncio.run(StatusWriter(cluster).write(EXTENSION, obj, desired))


def test_the_transition_time_moves_only_when_ready_flips():
    first = ready_condition(ready=False, reason="A", message="a", generation=1, previous=None)
    same = ready_condition(ready=False, reason="B", message="b", generation=2, previous=first)
    flipped = ready_condition(ready=True, reason="C", message="c", generation=2, previous=same)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"]
    assert same[0]["reason"] == "B"
    assert flipped[0]["status"] == "True"
    assert flipped[0]["observedGeneration"] == 2


def test_other_conditions_are_kept_after_ours():
    previous = [{"type": "Other", "status": "True"}, {"type": "Stalled", "status": "True"}]
    written = ready_condition(ready=True, reason="R", message="m", generation=None, previous=previous)
    assert [c["type"] for c in written] == ["Ready", "Other"]  # Stalled went: nothing says it now


@pytest.mark.parametrize(
    ("reason", "progress"),
    [
        (reasons.URL_INVALID, "Stalled"),
        (reasons.TILTFILE_FAILED, "Stalled"),
        (reasons.EXEC_DISABLED, "Stalled"),
        (reasons.TILTFILE_PENDING, "Reconciling"),
        (reasons.FETCH_FAILED, "Reconciling"),
        (reasons.REPO_NOT_READY, "Reconciling"),
        (reasons.CHECKOUT_READY, None),
        (reasons.RUN_SUCCEEDED, None),
    ],
)
def test_kstatus_reads_reconciling_and_stalled_from_the_ready_reason(reason: str, progress: str | None):
    obj = {"metadata": {"name": "x", "generation": 3}}
    status = desired_status({}, obj=obj, current={}, ready=False, reason=reason, message="why")
    types = [c["type"] for c in status["conditions"]]
    assert types == ["Ready"] + ([progress] if progress else [])
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert status["observedGeneration"] == 3


def test_only_changed_fields_are_patched_and_dropped_ones_removed():
    cluster = FakeCluster()
    changed = write_status(cluster, {"path": "/a", "error": "old"}, {"path": "/a", "error": None, "x": 1})
    assert changed
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/a", "x": 1}
    assert cluster.calls["patch status Extension"] == 1


def test_an_unchanged_status_patches_nothing():
    cluster = FakeCluster()
    assert not write_status(cluster, {"path": "/a"}, {"path": "/a"})
    assert cluster.writes == 0


def test_nested_fields_that_go_are_removed_explicitly():
    current = {"terminated": {"error": "boom", "reasons": ["initial"]}}
    desired = {"terminated": {"reasons": ["spec changed"]}}
    assert status_patch(current, desired) == {"terminated": {"error": None, "reasons": ["spec changed"]}}


def test_a_state_that_goes_is_removed_whole():
    assert status_patch({"running": {"pid": 1}}, {"running": None, "terminated": {"x": 1}}) == {
        "running": None,
        "terminated": {"x": 1},
    }


def test_a_status_written_but_not_yet_watched_is_the_current_one():
    """The watch lags behind a write: the next write must diff against what was written, not the stale copy.

    ``stale`` is the watch's copy from before the first write (the fake hands out copies): a writer
    that diffed against it would send ``running: None`` again and leave ``waiting`` alone... and
    would be refused, since its precondition is the stale resourceVersion.
    """
    cluster = FakeCluster()
    stale = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {"waiting": {"x": 1}}})
    writer = StatusWriter(cluster)
    running = {"waiting": None, "running": {"pid": 1}, "terminated": None}
    asyncio.run(writer.write(EXTENSION, stale, running))
    assert stale["status"] == {"waiting": {"x": 1}}, "the watch's copy has not seen the write"
    assert writer.current(stale) == {"running": {"pid": 1}}
    terminated = {"waiting": None, "running": None, "terminated": {"exitCode": 0}}
    asyncio.run(writer.write(EXTENSION, stale, terminated))
    assert cluster.get_object("Extension", "e")["status"] == {"terminated": {"exitCode": 0}}
    assert cluster.calls["conflict"] == 0, "each write was made against the object as it was"


def test_a_write_that_meets_anothers_is_made_again_against_what_is_there_now():
    """Someone wrote in between (a click, another field): the precondition fails, the writer reads
    the object again and patches only the difference, losing neither write."""
    cluster = FakeCluster()
    seen = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {"path": "/a"}})
    cluster.put({**cluster.get_object("Extension", "e"), "status": {"path": "/a", "note": "theirs"}})
    writer = StatusWriter(cluster)
    assert asyncio.run(writer.write(EXTENSION, seen, {"path": "/b", "note": "theirs"}))
    assert cluster.calls["conflict"] == 1
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/b", "note": "theirs"}


def test_a_write_meant_for_an_object_since_deleted_and_made_again_writes_nothing():
    """A new object of the same name is not the one the reconcile looked at: its status is left alone."""
    cluster = FakeCluster()
    seen = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {"path": "/a"}})
    del cluster.objects[("Extension", "e")]
    cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {"path": "/new"}})
    assert not asyncio.run(StatusWriter(cluster).write(EXTENSION, seen, {"path": "/b"}))
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/new"}


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            ApiError(500, "etcdserver: request timed out"),
            "etcdserver: request timed out",
        ),  # the API server mid-reconcile
        (KeyError("spec"), "'spec'"),  # a bug in a reconciler
    ],
    ids=["api-error", "exception"],
)
def test_an_exception_in_a_reconcile_is_in_the_status_and_still_retried(error: Exception, said: str):
    """Flux's deferred summary: the object says Ready False with the error, Reconciling while retried."""
    cluster = FakeCluster()
    obj = cluster.put(
        {"kind": "Extension", "metadata": {"name": "e", "generation": 1}, "spec": {}, "status": {"path": "/a"}}
    )
    writer = StatusWriter(cluster)

    async def broken(name: str) -> Result:
        raise error

    reconcile = summarizing(EXTENSION, broken, writer=writer, get=lambda name: cluster.get_object("Extension", name))
    with pytest.raises(type(error)):
        asyncio.run(reconcile("e"))
    status = cluster.get_object("Extension", "e")["status"]
    ready, reconciling = status["conditions"]
    assert status["path"] == "/a", "what the status said is kept"
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", reasons.RECONCILE_FAILED)
    assert ready["message"] == f"reconcile failed, retrying: {said}"
    assert (reconciling["type"], reconciling["status"]) == ("Reconciling", "True")
    assert reconciling["reason"] == reasons.PROGRESSING_WITH_RETRY
    assert obj["metadata"]["name"] == "e"


def test_a_failed_status_keeps_the_fields_and_says_the_error():
    current = {"path": "/a", "observedGeneration": 2, "conditions": []}
    status = failed_status(current, RuntimeError("boom"))
    assert status["path"] == "/a"
    assert status["conditions"][0]["message"] == "reconcile failed, retrying: boom"
    assert status["conditions"][0]["observedGeneration"] == 2


def test_once_the_watch_catches_up_its_copy_is_the_current_one():
    cluster = FakeCluster()
    obj = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {}})
    writer = StatusWriter(cluster)
    asyncio.run(writer.write(EXTENSION, obj, {"path": "/a"}))
    watched = cluster.get_object("Extension", "e")
    cluster.put({**watched, "status": {"path": "/b"}})  # someone else wrote after us
    assert writer.current(cluster.get_object("Extension", "e")) == {"path": "/b"}


def stale_writer(before: dict, theirs: dict) -> tuple[FakeCluster, StatusWriter, dict]:
    """An Extension read with status ``before``; another writer then wrote ``theirs``."""
    cluster = FakeCluster()
    seen = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": before})
    cluster.put({**cluster.get_object("Extension", "e"), "status": theirs})
    return cluster, StatusWriter(cluster), seen


def test_two_writers_that_change_different_fields_both_survive():
    """Flux's three-way merge: the stale write goes on top of the other's, which it did not see."""
    cluster, writer, seen = stale_writer({"path": "/a", "error": "e"}, {"path": "/a", "error": "e", "note": "theirs"})
    assert asyncio.run(writer.write(EXTENSION, seen, {"path": "/b", "error": None}))
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/b", "note": "theirs"}


def test_a_field_both_changed_is_decided_by_the_writer_that_saw_the_latest_object():
    """The stale writer neither overwrites nor gives up silently: it raises, and its reconcile runs
    again against the object as it now is, which it has been given."""
    cluster, writer, seen = stale_writer({"path": "/a"}, {"path": "/theirs"})
    with pytest.raises(StaleStatus) as raised:
        asyncio.run(writer.write(EXTENSION, seen, {"path": "/mine"}))
    assert raised.value.field == "path"
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/theirs"}
    assert writer.current(seen) == {"path": "/theirs"}, "the reconcile that runs again sees the other's write"


def test_conditions_are_merged_by_type_each_writer_keeping_its_own():
    before = [{"type": "Ready", "status": "False", "reason": "A"}]
    theirs = [*before, {"type": "Audited", "status": "True", "reason": "Seen"}]
    mine = [{"type": "Ready", "status": "True", "reason": "B"}]
    cluster, writer, seen = stale_writer({"conditions": before}, {"conditions": theirs})
    assert asyncio.run(writer.write(EXTENSION, seen, {"conditions": mine}))
    assert cluster.get_object("Extension", "e")["status"]["conditions"] == [*mine, theirs[1]]


def test_a_condition_type_both_changed_is_a_clash():
    before = [{"type": "Ready", "status": "False", "reason": "A"}]
    _, writer, seen = stale_writer(
        {"conditions": before}, {"conditions": [{"type": "Ready", "status": "False", "reason": "Theirs"}]}
    )
    with pytest.raises(StaleStatus, match=r"conditions\[Ready\]"):
        asyncio.run(writer.write(EXTENSION, seen, {"conditions": [{"type": "Ready", "status": "True"}]}))


def test_nested_fields_merge_where_each_writer_changed_its_own():
    assert merged({"t": {"a": 1, "b": 1}}, {"t": {"a": 2, "b": 1}}, {"t": {"a": 1, "b": 3}}) == {"t": {"a": 2, "b": 3}}
    assert merged({"a": 1}, {"a": 2}, {"a": 2}) == {"a": 2}, "the same change is no clash"


def test_a_stale_write_is_no_failure_its_reconcile_runs_again_at_once():
    cluster, writer, seen = stale_writer({"path": "/a"}, {"path": "/theirs"})

    async def reconcile(name: str) -> Result:
        await writer.write(EXTENSION, seen, {"path": "/mine"})
        return Result()

    get = lambda name: cluster.get_object("Extension", name)  # noqa: E731
    summarized = summarizing(EXTENSION, reconcile, writer=writer, get=get)
    assert asyncio.run(summarized("e")) == Result(requeue_after=0.0)
    assert cluster.get_object("Extension", "e")["status"] == {"path": "/theirs"}, "no failed status written"


def test_a_failed_status_says_not_ready_in_the_kinds_own_field_too():
    status = failed_status({"ready": True, "running": {"pid": 1}}, RuntimeError("boom"))
    assert status["ready"] is False
    assert status["conditions"][0]["status"] == "False"
    assert "ready" not in failed_status({"path": "/a"}, RuntimeError("boom"))
