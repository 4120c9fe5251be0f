"""The `tilt` command: Tilt's names mapped in arguments and manifests, kubectl tilt's verbs shared."""

from __future__ import annotations

import pytest

from tilt_operator.cli import kubectl_tilt as cli
from tilt_operator.cli import tilt as tilt_command
from tilt_operator.cli.tilt import UsageError, map_document, map_names


@pytest.mark.parametrize(
    ("args", "mapped"),
    [
        (["cmd", "sleeper:cancel", "-o", "json"], ["cmd", "sleeper.cancel", "-o", "json"]),
        (["cmd/operator:cancel:serve"], ["cmd/operator.cancel.serve"]),
        (["cmd", "--watch", "-o", "name"], ["cmd", "--watch", "-o", "name"]),
        (["uibutton", "a:b", "--ignore-not-found"], ["uibutton", "a.b", "--ignore-not-found"]),
        (
            ["cmd", "-o", "jsonpath={.status.running.pid}", "x_y"],
            ["cmd", "-o", "jsonpath={.status.running.pid}", "x-y"],
        ),
        (["cmd,uibutton", "-l", "a=b"], ["cmd,uibutton", "-l", "a=b"]),
        (["cmd", "--", "sleep:cancel"], ["cmd", "--", "sleep.cancel"]),
        (["cmd", "--ignore-not-found", "--", "a:b", "c_d"], ["cmd", "--ignore-not-found", "--", "a.b", "c-d"]),
        (["--", "cmd", "a:b"], ["--", "cmd", "a.b"]),
    ],
)
def test_names_in_arguments_are_mapped_and_flag_values_left_alone(args, mapped):
    assert map_names(args) == mapped


def test_applied_manifests_get_object_names_and_keep_the_tilt_name():
    doc = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Cmd",
        "metadata": {"name": "x:cancel-kill", "annotations": {"tilt.dev/resource": "x"}},
        "spec": {"args": ["./kill.sh", "x:serve"], "startOn": {"uiButtons": ["x:cancel"]}},
    }
    assert map_document(doc) == {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Cmd",
        "metadata": {
            "name": "x.cancel-kill",
            "annotations": {"tilt.dev/resource": "x", "tilt.dev/name": "x:cancel-kill"},
        },
        "spec": {"args": ["./kill.sh", "x:serve"], "startOn": {"uiButtons": ["x.cancel"]}},
    }
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Keep_Me"}}
    assert map_document(other) == other


def test_tilt_create_is_kubectl_tilt_create(capsys):
    argv = ["create", "ext", "my-team/image-builder", "--dry-run=client", "-o", "yaml"]
    assert tilt_command.run(argv) == 0
    through_tilt = capsys.readouterr().out
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == through_tilt
    assert "repoName: my-team" in through_tilt


def test_verbs_it_does_not_have_are_refused():
    with pytest.raises(UsageError, match="tilt up is not supported here"):
        tilt_command.run(["up"])


def test_tilt_version_is_in_tilts_format_which_upstream_scripts_parse(capsys):
    assert tilt_command.run(["version"]) == 0
    out = capsys.readouterr().out
    # min_tilt_version splits on ", " and drops "v" and "-dev": what remains must be numbers.
    version, built = out.strip().split(", ")
    assert [int(part) for part in version.removeprefix("v").split(".")] >= [0, 33, 0]
    assert built.startswith("built 20")
