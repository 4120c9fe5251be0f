"""Tilt's own Tiltfile spellings: local_resource, include, v1alpha1.<builtin> and os.getcwd()."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_engine import _run
from tilt_operator.engine.loads import rewrite_namespaces
from tilt_operator.engine.local_resources import plan


def test_local_resource_registers_the_cmds_tilt_would(tmp_path: Path):
    result = _run(
        tmp_path,
        {"Tiltfile": "local_resource(name='operator:cancel', cmd='make', serve_cmd='./ctl.sh', labels=['ops'])\n"},
    )
    assert result.error is None, result.error
    update, serve = result.objects
    common = {"tilt.dev/resource": "operator:cancel", "tilt.dev/labels": "ops"}
    assert update["metadata"] == {
        "name": "operator.cancel.update",
        "annotations": {**common, "tilt.dev/name": "operator:cancel:update"},
    }
    assert update["spec"] == {"args": ["sh", "-c", "make"], "dir": str(tmp_path)}
    assert serve["metadata"]["name"] == "operator.cancel.serve"
    assert serve["spec"] == {"args": ["sh", "-c", "./ctl.sh"], "dir": str(tmp_path)}


def test_local_resource_options_without_effect_are_warnings_and_unknown_ones_errors(tmp_path: Path):
    result = _run(
        tmp_path, {"Tiltfile": "local_resource('x', serve_cmd=['a', 'b'], deps=['f'], resource_deps=['y'])\n"}
    )
    assert result.error is None
    assert result.warnings == [
        "local_resource x: deps has no effect here",
        "local_resource x: resource_deps has no effect here",
    ]
    assert result.objects[0]["spec"]["args"] == ["a", "b"]
    bad = _run(tmp_path, {"Tiltfile": "local_resource('x', cmd='a', colour='red')\n"})
    assert bad.error is not None
    assert bad.error.endswith("local_resource: unknown argument 'colour'")


def test_local_resource_dirs_and_env_are_relative_to_the_declaring_file():
    cmds = plan("r", "make", None, {"dir": "sub", "env": {"A": "1"}}, "/repo/ext").cmds
    assert cmds[0]["dir"] == "/repo/ext/sub"
    assert cmds[0]["env"] == ["A=1"]
    with pytest.raises(ValueError, match="give cmd or serve_cmd"):
        plan("r", None, None, {}, "/x")


def test_include_runs_another_tiltfile_into_the_same_run_relative_to_the_includer(tmp_path: Path):
    result = _run(
        tmp_path,
        {
            "Tiltfile": (
                "include('./sub/Tiltfile')\n"
                "ui_button(name='main', text='m', location={'component_type': 'global', 'component_id': 'x'})\n"
            ),
            "sub/Tiltfile": "local_resource('inner', serve_cmd='true')\nprint(os.getcwd())\n",
        },
    )
    assert result.error is None, result.error
    names = [obj["metadata"]["name"] for obj in result.objects]
    assert names == ["inner.serve", "main"]
    assert result.objects[0]["spec"]["dir"] == str(tmp_path / "sub")
    assert result.output == f"{tmp_path / 'sub'}\n"
    assert str(tmp_path / "sub" / "Tiltfile") in result.files_read


def test_tilts_v1alpha1_namespace_works(tmp_path: Path):
    result = _run(
        tmp_path,
        {
            "Tiltfile": (
                "v1alpha1.extension_repo(name='r', url='https://example.com/r')\n"
                "v1alpha1.extension(name='e', repo_name='r', repo_path='p')\n"
            )
        },
    )
    assert result.error is None, result.error
    assert [obj["kind"] for obj in result.objects] == ["ExtensionRepo", "Extension"]


def test_the_rewrite_leaves_strings_and_comments_alone_and_keeps_lines():
    source = "x = 'v1alpha1.a'  # os.getcwd()\nv1alpha1.cmd(name='c')\ny = os.getcwd()\n"
    assert rewrite_namespaces(source) == "x = 'v1alpha1.a'  # os.getcwd()\ncmd(name='c')\ny = tiltfile_dir()\n"


def test_include_takes_exactly_one_path(tmp_path: Path):
    result = _run(tmp_path, {"Tiltfile": "include('a', 'b')\n"})
    assert result.error is not None
    assert "include: takes one argument" in result.error
