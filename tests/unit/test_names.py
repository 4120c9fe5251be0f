"""Tilt names to Kubernetes names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_engine import _run
from tilt_operator.names import InvalidName, map_references, named, object_name


@pytest.mark.parametrize(
    ("tilt", "kube"),
    [
        ("default", "default"),
        ("cancel_button", "cancel-button"),
        ("sleeper:cancel", "sleeper.cancel"),
        ("operator:cancel:serve", "operator.cancel.serve"),
        ("MyRepo", "myrepo"),
        ("API Server Logs", "api-server-logs"),
        ("Watch&Compile", "watch-compile"),
        ("-x", "x"),
        ("x:", "x"),
        ("a _b:-c.", "a--b.c"),
    ],
)
def test_tilt_names_map_to_object_names(tilt: str, kube: str):
    assert object_name(tilt) == kube


@pytest.mark.parametrize("tilt", ["", ".", "..", "a/b", "50%", "x" * 254, "é", "---"])
def test_names_tilt_refuses_or_no_mapping_can_fix_are_refused(tilt: str):
    with pytest.raises(InvalidName, match="cannot be a name"):
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


VALID = ["default", "cancel_button", "sleeper:cancel", "operator:cancel:serve", "MyRepo", "API Server Logs", "x:"]
INVALID = ["", ".", "a/b", "50%", "x" * 254, "é"]


def test_the_tiltfile_host_maps_names_by_the_same_rule(tmp_path: Path):
    """The rule is written twice (here, for the CLI and the `tilt` command, and in the host's names.go):
    the host must name every object, and refuse every name, as this module does."""
    lines = [f"cmd(name={tilt!r}, args=['true'], start_on={{'ui_buttons': [{tilt!r}]}})" for tilt in VALID]
    result = _run(tmp_path / "valid", {"Tiltfile": "\n".join(lines) + "\n"})
    assert result.error is None, result.error
    for tilt, obj in zip(VALID, result.objects, strict=True):
        assert obj["metadata"] == named({}, tilt)
        assert obj["spec"]["startOn"] == map_references({"uiButtons": [tilt]})
    for index, tilt in enumerate(INVALID[1:]):  # an empty name fails the builtin's own check first
        refused = _run(tmp_path / f"invalid{index}", {"Tiltfile": f"cmd(name={tilt!r}, args=['true'])\n"})
        with pytest.raises(InvalidName) as caught:
            object_name(tilt)
        assert refused.error is not None
        assert refused.error.endswith(f"cmd: {caught.value}")
