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
    _, update, serve = result.objects
    common = {"tilt.dev/resource": "operator:cancel", "tilt.dev/labels": "ops"}
    assert update["metadata"] == {
        "name": "operator.cancel.update",
        "annotations": {**common, "tilt.dev/name": "operator:cancel:update"},
    }
    assert update["spec"] == {
        "args": ["sh", "-c", "make"],
        "dir": str(tmp_path),
        "restartOn": {"uiButtons": ["operator.cancel.trigger"]},
    }
    assert serve["metadata"]["name"] == "operator.cancel.serve"
    assert serve["spec"] == {"args": ["sh", "-c", "./ctl.sh"], "dir": str(tmp_path)}


def test_local_resource_takes_tilts_positional_order_and_refuses_unknown_options(tmp_path: Path):
    """Tilt's order is name, cmd, deps, trigger_mode, ...: the third argument is deps, not serve_cmd."""
    result = _run(tmp_path, {"Tiltfile": "local_resource('b', 'make', ['src'])\n"})
    assert result.error is None, result.error
    kinds = {obj["kind"]: obj for obj in result.objects}
    assert kinds["FileWatch"]["spec"]["watchedPaths"] == [str(tmp_path / "src")]
    assert kinds["Cmd"]["spec"]["args"] == ["sh", "-c", "make"]
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
    cmds = {obj["metadata"]["name"]: obj for obj in result.objects if obj["kind"] == "Cmd"}
    # Declared while lib.star loads: its directory. Declared by a call from the Tiltfile: the caller's.
    assert cmds["top.update"]["spec"]["dir"] == str(tmp_path / "ext")
    assert cmds["r.update"]["spec"]["dir"] == str(tmp_path / "sub")
    assert cmds["r.update"]["spec"]["env"] == ["A=1"]


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
    # As in Tilt, local resources are made when the Tiltfile has run.
    assert names == ["main", "inner.trigger", "inner.serve"]
    assert result.objects[2]["spec"]["dir"] == str(tmp_path / "sub")
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


def test_kind_builtins_read_local_paths_against_the_declaring_file_as_tilt_does(tmp_path: Path):
    files = {
        "Tiltfile": "load('lib/lib.star', 'declare')\ndeclare()\ncmd(name='top', args=['true'], dir='sub')\n",
        "lib/lib.star": (
            "cmd(name='here', args=['true'])\n"
            "file_watch(name='w', watched_paths=['src', '/abs'], ignores=[{'base_path': 'src', 'patterns': ['*.o']}])\n"
            "def declare():\n    cmd(name='called', args=['true'])\n"
        ),
    }
    result = _run(tmp_path, files)
    assert result.error is None, result.error
    specs = {obj["metadata"]["name"]: obj["spec"] for obj in result.objects}
    assert specs["here"]["dir"] == str(tmp_path / "lib")
    assert specs["called"]["dir"] == str(tmp_path)  # called from the Tiltfile: its directory, as in Tilt
    assert specs["top"]["dir"] == str(tmp_path / "sub")
    assert specs["w"] == {
        "watchedPaths": [str(tmp_path / "lib" / "src"), "/abs"],
        "ignores": [{"basePath": str(tmp_path / "lib" / "src"), "patterns": ["*.o"]}],
    }


def test_an_extension_function_called_later_reads_its_own_repo_and_what_the_tiltfile_gave_it(tmp_path: Path):
    """dotenv-style: the function reads a file of its own repo, and a file the Tiltfile names in its own
    directory; neither reaches past those two roots."""
    from tests.unit.test_engine import _write
    from tilt_operator.engine import ExtensionRoots

    _write(
        tmp_path / "exts",
        {
            "lib/Tiltfile": (
                "def settings(path):\n"
                "    return str(read_file(os.path.join(os.path.dirname(__file__), 'defaults.txt'))).strip() + '+' + "
                "str(read_file(path)).strip()\n"
            ),
            "lib/defaults.txt": "ext\n",
        },
    )
    (tmp_path / "secret.txt").write_text("no\n")
    result = _run(
        tmp_path / "project",
        {"Tiltfile": "load('ext://lib', 'settings')\nprint(settings('mine.txt'))\n", "mine.txt": "main\n"},
        ext_roots=ExtensionRoots.default_at(tmp_path / "exts"),
    )
    assert result.error is None, result.error
    assert result.output == "ext+main\n"
    escape = _run(
        tmp_path / "project2",
        {"Tiltfile": f"load('ext://lib', 'settings')\nsettings('{tmp_path / 'secret.txt'}')\n"},
        ext_roots=ExtensionRoots.default_at(tmp_path / "exts"),
    )
    assert escape.error is not None
    assert "is outside" in escape.error
