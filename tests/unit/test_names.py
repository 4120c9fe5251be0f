"""Tilt names to Kubernetes names."""

from __future__ import annotations

import pytest

from tilt_operator.names import InvalidName, map_references, object_name


@pytest.mark.parametrize(
    ("tilt", "kube"),
    [
        ("default", "default"),
        ("cancel_button", "cancel-button"),
        ("sleeper:cancel", "sleeper.cancel"),
        ("operator:cancel:serve", "operator.cancel.serve"),
        ("MyRepo", "myrepo"),
    ],
)
def test_tilt_names_map_to_object_names(tilt: str, kube: str):
    assert object_name(tilt) == kube


@pytest.mark.parametrize("tilt", ["", "a b", "-x", "x:", "a/b", "x" * 254, "é"])
def test_names_no_mapping_can_fix_are_refused(tilt: str):
    with pytest.raises(InvalidName, match="cannot be an object name"):
        object_name(tilt)


def test_reference_fields_are_mapped_and_other_strings_are_not():
    spec = {
        "repoName": "my_repo",
        "repoPath": "cancel_button",
        "startOn": {"uiButtons": ["sleeper:cancel"], "startAfter": "x"},
        "args": ["a_b"],
    }
    assert map_references(spec) == {
        "repoName": "my-repo",
        "repoPath": "cancel_button",
        "startOn": {"uiButtons": ["sleeper.cancel"], "startAfter": "x"},
        "args": ["a_b"],
    }
