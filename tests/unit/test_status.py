"""Conditions and minimal status patches, through the one status writer."""

from __future__ import annotations

import asyncio

from tests.unit.fakes import FakeCluster
from tilt_operator.api import EXTENSION
from tilt_operator.reconcilers.status import StatusWriter, ready_condition, status_patch


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


def test_other_conditions_are_kept():
    previous = [{"type": "Other", "status": "True"}]
    conditions = ready_condition(ready=True, reason="R", message="m", generation=None, previous=previous)
    assert [c["type"] for c in conditions] == ["Other", "Ready"]


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
    """The watch lags behind a write: the next write must diff against what was written, not the stale copy."""
    cluster = FakeCluster()
    stale = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {"waiting": {"x": 1}}})
    writer = StatusWriter(cluster)
    running = {"waiting": None, "running": {"pid": 1}, "terminated": None}
    asyncio.run(writer.write(EXTENSION, stale, running))
    assert writer.current(stale) == {"running": {"pid": 1}}
    terminated = {"waiting": None, "running": None, "terminated": {"exitCode": 0}}
    asyncio.run(writer.write(EXTENSION, stale, terminated))
    assert cluster.get_object("Extension", "e")["status"] == {"terminated": {"exitCode": 0}}


def test_once_the_watch_catches_up_its_copy_is_the_current_one():
    cluster = FakeCluster()
    obj = cluster.put({"kind": "Extension", "metadata": {"name": "e"}, "spec": {}, "status": {}})
    writer = StatusWriter(cluster)
    asyncio.run(writer.write(EXTENSION, obj, {"path": "/a"}))
    watched = cluster.get_object("Extension", "e")
    cluster.put({**watched, "status": {"path": "/b"}})  # someone else wrote after us
    assert writer.current(cluster.get_object("Extension", "e")) == {"path": "/b"}
