"""Conditions and minimal status patches."""

from __future__ import annotations

import kopf

from tilt_operator.status import ready_condition, status_patch, write_status


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
    patch = kopf.Patch()
    changed = write_status(patch, {"path": "/a", "error": "old", "kopf": {}}, {"path": "/a", "error": None, "x": 1})
    assert changed
    assert dict(patch.status) == {"error": None, "x": 1}


def test_an_unchanged_status_patches_nothing():
    patch = kopf.Patch()
    assert not write_status(patch, {"path": "/a"}, {"path": "/a"})
    assert not patch


def test_nested_fields_that_go_are_removed_explicitly():
    current = {"terminated": {"error": "boom", "reasons": ["initial"]}}
    desired = {"terminated": {"reasons": ["spec changed"]}}
    assert status_patch(current, desired) == {"terminated": {"error": None, "reasons": ["spec changed"]}}


def test_a_state_that_goes_is_removed_whole():
    assert status_patch({"running": {"pid": 1}}, {"running": None, "terminated": {"x": 1}}) == {
        "running": None,
        "terminated": {"x": 1},
    }
