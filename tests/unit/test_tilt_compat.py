"""Tilt's own Tiltfile spellings: local_resource, include, v1alpha1.<builtin> and os.getcwd()."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_engine import _run


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
    assert bad.error.endswith('local_resource: unexpected keyword argument "colour"')


def test_local_resource_dirs_and_env_are_relative_to_the_declaring_file(tmp_path: Path):
    files = {
        "Tiltfile": "load('ext/lib.star', 'declare')\ndeclare()\n",
        "ext/lib.star": "def declare():\n    local_resource('r', 'make', dir='sub', env={'A': '1'})\n"
        "local_resource('top', 'make')\n",
    }
    result = _run(tmp_path, files)
    assert result.error is None, result.error
    top, called = result.objects
    # Declared while lib.star loads: its directory. Declared by a call from the Tiltfile: the caller's.
    assert top["spec"]["dir"] == str(tmp_path / "ext")
    assert called["spec"] == {"args": ["sh", "-c", "make"], "dir": str(tmp_path / "sub"), "env": ["A=1"]}
    empty = _run(tmp_path, {"Tiltfile": "local_resource('r')\n"})
    assert empty.error is not None
    assert empty.error.endswith("local_resource r: give cmd or serve_cmd")


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


def test_include_takes_exactly_one_path(tmp_path: Path):
    result = _run(tmp_path, {"Tiltfile": "include('a', 'b')\n"})
    assert result.error is not None
    assert result.error.endswith("include: got 2 arguments, want at most 1")
