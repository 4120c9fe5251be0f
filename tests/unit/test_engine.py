"""The Tiltfile engine end to end: real host processes running go.starlark.net, no cluster.

Every test writes a small tree of files and runs it through ``run_tiltfile`` (or the async
variant), so loads, limits and error messages are checked the way the reconciler sees them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tilt_operator.api import shipped_crds
from tilt_operator.engine import ExtensionRoots, RepoRoot, RunResult, protocol
from tilt_operator.engine.pool import WorkerPool, run_tiltfile, run_tiltfile_async
from tilt_operator.engine.protocol import MISSING, file_signature

CRDS = shipped_crds()
SEED = """\
extension_repo(name='default', url='https://github.com/tilt-dev/tilt-extensions')
extension(name='cancel_button', repo_name='default', repo_path='cancel_button')
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


async def _until(check: Any, timeout: float = 30) -> Any:
    """Poll ``check`` until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        await asyncio.sleep(0.02)
    return value


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(root: Path, files: dict[str, str], **options: Any) -> RunResult:
    _write(root, files)
    options = {"timeout": 20.0, "memory_mb": 256, "crds": CRDS, **options}
    return run_tiltfile(root / "Tiltfile", **options)


def _error_at(result: RunResult, path: Path, line: int, message: str) -> None:
    """The error names the file and line (any column) and then says ``message``."""
    assert result.error is not None
    assert re.fullmatch(rf"{re.escape(str(path))}:{line}:\d+: {re.escape(message)}", result.error), result.error


# What a Tiltfile registers.


def test_seed_example_registers_exactly_its_two_objects(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": SEED})

    assert result.error is None
    assert result.objects == [
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "ExtensionRepo",
            "metadata": {"name": "default"},
            "spec": {"url": "https://github.com/tilt-dev/tilt-extensions"},
        },
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Extension",
            # Tilt's name, mapped to a Kubernetes name; the repo path is a path, not a name.
            "metadata": {"name": "cancel-button", "annotations": {"tilt.dev/name": "cancel_button"}},
            "spec": {"repoName": "default", "repoPath": "cancel_button"},
        },
    ]
    assert result.files_read == [str(tmp_path / "Tiltfile")]
    json.dumps(dataclasses.asdict(result))


def test_identical_registration_twice_is_one_object(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": SEED + SEED})

    assert result.error is None
    assert len(result.objects) == 2


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            "x = 1\nextension_repo(name='d', urll='x')\n",
            2,
            "extension_repo: unknown argument 'urll' (did you mean 'url'?)",
        ),
        ("cmd(name='c', args=5)\n", 1, "cmd: argument 'args' must be a list of strings, got int"),
        ("\n\nextension(name='e', repo_name='d')\n", 3, "extension: missing required argument 'repo_path'"),
        (
            "extension(name='e', repo_name='d', repo_path='a')\nextension(name='e', repo_name='d', repo_path='b')\n",
            2,
            "extension: Extension 'e' is already registered with different arguments",
        ),
        ("x = 1\n  y = 2\n", 2, "got indent, want primary expression"),
        ("x = undefined_thing\n", 1, "undefined: undefined_thing"),
        ("x = 1 + 'a'\n", 1, "unknown binary op: int + string"),
        ("fail('100% wrong')\n", 1, "100% wrong"),
        ("def f():\n    fail('deep')\n\nf()\n", 2, "deep"),
        ("warn(1)\n", 1, "warn: for parameter msg: got int, want string"),
        ("warn()\n", 1, "warn: missing argument for msg"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, source: str, line: int, message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source})

    _error_at(result, tmp_path / "Tiltfile", line, message)
    assert result.objects == []


def test_print_and_warn_are_captured(tmp_path: Path) -> None:
    result = _run(
        tmp_path, {"Tiltfile": "print('hello', 1)\nwarn('careful')\nwarn('100% careful')\nprint(args)\n"}, args=["a"]
    )

    assert result.error is None
    assert result.output == 'hello 1\n["a"]\n'
    assert result.warnings == ["careful", "100% careful"]


def test_output_before_an_error_is_kept(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "print('step 1')\nfail('stop')\n"})

    assert result.output == "step 1\n"
    assert result.error is not None


def test_printing_in_a_loop_is_cut_off(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "for i in range(200000):\n    print('0123456789')\nwarn('late')\n"})

    assert result.error is None
    assert result.output.endswith("0123456789\n[output truncated after 1048576 characters]\n")
    assert len(result.output) < 1100000
    assert result.warnings == []


def test_tilt_dialect_allows_while_recursion_and_sets(tmp_path: Path) -> None:
    source = "def f(n):\n    return 1 if n == 0 else n * f(n - 1)\n"
    source += "i = 0\nwhile i < 3:\n    i += 1\nprint(f(5), i, set([1]))\n"
    result = _run(tmp_path, {"Tiltfile": source})

    assert result.error is None
    assert result.output == "120 3 set([1])\n"


# read_file: confined to the root.


def test_read_file_inside_root(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        {
            "Tiltfile": "print(read_file('conf/a.txt'))\nprint(read_file('none.txt', default='dflt'))\n",
            "conf/a.txt": "A",
        },
    )

    assert result.error is None
    assert result.output == "A\ndflt\n"
    assert result.files_read == [str(tmp_path / name) for name in ("Tiltfile", "conf/a.txt", "none.txt")]


def test_read_file_refuses_paths_outside_root(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "read_file('../../etc/passwd')\n"})

    assert result.error is not None
    assert result.error.startswith(f"{tmp_path / 'Tiltfile'}:1:")
    assert f"read_file: {tmp_path}/../../etc/passwd (which resolves to " in result.error
    assert result.error.endswith(f"is outside {tmp_path}")


def test_read_file_refuses_a_symlink_leaving_root(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "link.txt").symlink_to(tmp_path / "outside.txt")
    result = _run(tmp_path / "repo", {"Tiltfile": "print(read_file('link.txt'))\n"})

    assert result.error is not None
    assert f"resolves to {tmp_path / 'outside.txt'}" in result.error
    assert "secret" not in result.output


def test_read_file_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "read_file('none.txt')\n"})

    _error_at(result, tmp_path / "Tiltfile", 1, f"open {tmp_path / 'none.txt'}: no such file or directory")


def test_root_may_be_wider_than_the_tiltfile_directory(tmp_path: Path) -> None:
    _write(tmp_path, {"shared.txt": "S", "ext/Tiltfile": "print(read_file('../shared.txt'))\n"})
    result = run_tiltfile(tmp_path / "ext" / "Tiltfile", crds=CRDS, timeout=20, memory_mb=256, root=tmp_path)

    assert result.output == "S\n"


# load()


def test_load_relative_files(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('./lib.star', 'repo')\nload(\n    'lib/more.star',  # a comment\n    ext = 'make_ext',\n)\n"
        "repo('default')\next('cancel')\n",
        "lib.star": "def repo(name):\n    extension_repo(name=name, url='https://example.com/x')\n",
        "lib/more.star": "load('helper.star', 'PATH')\n"
        "def make_ext(name):\n    extension(name=name, repo_name='default', repo_path=PATH)\n",
        "lib/helper.star": "PATH = 'cancel_button'\n",
    }
    result = _run(tmp_path, files)

    assert result.error is None
    assert [obj["metadata"]["name"] for obj in result.objects] == ["default", "cancel"]
    assert result.objects[1]["spec"]["repoPath"] == "cancel_button"
    assert result.files_read == [
        str(tmp_path / name) for name in ("Tiltfile", "lib.star", "lib/more.star", "lib/helper.star")
    ]


def test_load_keeps_line_numbers(tmp_path: Path) -> None:
    files = {"Tiltfile": "load(\n    'lib.star',\n    'x',\n)\ncmd(name='c', args=x)\n", "lib.star": "x = 1\n"}

    _error_at(
        _run(tmp_path, files), tmp_path / "Tiltfile", 5, "cmd: argument 'args' must be a list of strings, got int"
    )


def test_error_inside_a_loaded_file_names_that_file(tmp_path: Path) -> None:
    files = {"Tiltfile": "load('lib.star', 'f')\nf()\n", "lib.star": "def f():\n    cmd(name='c', args=[1])\n"}

    _error_at(_run(tmp_path, files), tmp_path / "lib.star", 2, "cmd: argument 'args[0]' must be a string, got int")


def test_each_module_runs_once_and_keeps_its_names_to_itself(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('a.star', 'a')\nload('b.star', 'b')\nprint(a, b)\n",
        "a.star": "load('common.star', 'shared')\na = shared + 1\n",
        "b.star": "load('common.star', 'shared')\nb = shared + 2\n",
        "common.star": "print('common runs')\nshared = 10\n",
    }
    result = _run(tmp_path, files)

    assert result.error is None
    assert result.output == "common runs\n11 12\n"

    files["Tiltfile"] += "print(shared)\n"
    _error_at(_run(tmp_path, files), tmp_path / "Tiltfile", 4, "undefined: shared")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("load('lib.star', 'nope')\n", "load: name nope not found in module lib.star"),
        ("load('lib.star', '_private')\n", "load: names with leading underscores are not exported: _private"),
        ("load('lib.star')\n", "load statement must import at least 1 symbol"),
        (
            "load('missing.star', 'x')\n",
            "cannot load missing.star: error reading file {root}/missing.star:"
            " open {root}/missing.star: no such file or directory",
        ),
        (
            "load('../x.star', 'x')\n",
            "cannot load ../x.star: ../x.star: {root}/../x.star (which resolves to {parent}/x.star) is outside {root}",
        ),
    ],
)
def test_bad_loads_name_the_load_line(tmp_path: Path, source: str, message: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source, "lib.star": "x = 1\n_private = 2\n"})

    _error_at(result, tmp_path / "Tiltfile", 1, message.format(root=tmp_path, parent=tmp_path.parent))


def test_cyclic_load_is_an_error(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('a.star', 'x')\n",
        "a.star": "load('b.star', 'y')\nx = 1\n",
        "b.star": "load('a.star', 'x')\ny = 2\n",
    }
    cycle = f"{tmp_path}/a.star -> {tmp_path}/b.star -> {tmp_path}/a.star"

    _error_at(_run(tmp_path, files), tmp_path / "b.star", 1, f"cannot load a.star: cycle: {cycle}")


def test_load_in_a_string_is_not_a_load(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": 'x = """\nload("nothing", "x")\n"""\nprint(len(x))\n'})

    assert result.error is None
    assert result.output == "22\n"


def test_load_ext_follows_tilts_rules_and_registers_what_it_loaded(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "default/foo/Tiltfile": "load('./helper.star', 'greeting')\nfoo = greeting + str(read_file('data.txt'))\n",
            "default/foo/helper.star": "greeting = 'hello '\n",
            "default/foo/data.txt": "from default",
            "team/tools/bar/Tiltfile": "bar = 'from team'\n",
        },
    )
    repos = {"default": RepoRoot(path=tmp_path / "default"), "team": RepoRoot("example.com", tmp_path / "team/tools")}
    files = {"Tiltfile": "load('ext://foo', 'foo')\nload('ext://example.com/bar', 'bar')\nprint(foo)\nprint(bar)\n"}
    result = _run(tmp_path / "project", files, ext_roots=ExtensionRoots(repos))

    assert result.error is None
    assert result.output == "hello from default\nfrom team\n"
    assert str(tmp_path / "default/foo/Tiltfile") in result.files_read
    assert str(tmp_path / "default/foo/data.txt") in result.files_read
    loader = {"tilt.dev/managed-by": "tiltfile.loader"}
    assert [(obj["metadata"], obj["spec"]) for obj in result.objects] == [
        ({"name": "foo", "annotations": loader}, {"repoName": "default", "repoPath": "foo"}),
        (
            {"name": "example.com-bar", "annotations": {"tilt.dev/name": "example.com_bar", **loader}},
            {"repoName": "team", "repoPath": "bar"},
        ),
    ]


def test_a_load_whose_repo_is_not_ready_ends_the_run_waiting_with_what_it_registered(tmp_path: Path) -> None:
    files = {"Tiltfile": "print('before')\ncmd(name='c', args=['true'])\nload('ext://foo', 'x')\nfail('no')\n"}
    result = _run(tmp_path, files)

    assert result.error is None
    assert result.output == "before\n"
    assert result.waiting is not None
    assert result.waiting.repo == "default"
    assert result.waiting.message.startswith(f"{tmp_path / 'Tiltfile'}:3:")
    assert result.waiting.message.endswith("cannot load ext://foo: ExtensionRepo 'default' is not ready")
    assert [obj["kind"] for obj in result.objects] == ["Cmd", "Extension"]


def test_an_extension_cannot_escape_its_repo(tmp_path: Path) -> None:
    _write(tmp_path, {"default/Tiltfile": "x = 1\n"})
    result = _run(
        tmp_path / "project",
        {"Tiltfile": "load('ext://../default', 'x')\n"},
        ext_roots=ExtensionRoots.default_at(tmp_path / "default" / "sub"),
    )

    assert result.error is not None
    assert "is outside" in result.error


# Limits and crashes.


@pytest.mark.parametrize(
    "source",
    [
        "while True:\n    pass\n",
        "for i in range(100000000000):\n    pass\n",
        "def f():\n    for i in range(100000):\n        for j in range(100000):\n            pass\n\nf()\n",
    ],
)
def test_a_runaway_loop_times_out(tmp_path: Path, source: str) -> None:
    started = time.monotonic()
    # No step limit here: the time limit is the one under test.
    result = _run(tmp_path, {"Tiltfile": "print('started')\n" + source}, timeout=2, max_steps=0)

    assert result.error == "Tiltfile timed out after 2s"
    assert time.monotonic() - started < 10
    assert result.output == "started\n"
    assert result.files_read == [str(tmp_path / "Tiltfile")]


@pytest.mark.parametrize(
    "source",
    [
        "x = 'a' * 1000000000\n",
        "x = [0] * 1000000000\n",
        "l = ['a']\nwhile True:\n    l = l + l\n",
        "d = {}\nfor i in range(100000000):\n    d[i] = str(i)\n",
    ],
)
def test_a_memory_bomb_hits_the_memory_limit(tmp_path: Path, source: str) -> None:
    result = _run(tmp_path, {"Tiltfile": source}, memory_mb=128, timeout=60)

    assert result.error == "Tiltfile exceeded its memory limit of 128 MiB"


def test_garbage_within_the_limit_is_no_memory_error(tmp_path: Path) -> None:
    source = "def f():\n    for i in range(200):\n        s = 'y' * 10000000\n\nf()\nprint('done')\n"
    result = _run(tmp_path, {"Tiltfile": source}, memory_mb=128)

    assert result.error is None
    assert result.output == "done\n"


def test_a_crashed_host_is_a_failed_run_and_the_pool_keeps_serving(tmp_path: Path) -> None:
    """A host that crashes mid-run is one failed run, and the next run gets a new host."""
    _write(tmp_path, {"Tiltfile": "print('started')\nwhile True:\n    pass\n", "ok/Tiltfile": SEED})

    async def scenario() -> tuple[RunResult, RunResult, int, list[int]]:
        pool = WorkerPool(size=1, memory_mb=256)
        pool.start()
        try:
            [pid] = await _until(pool.pids)
            idle = _cpu_seconds(pid)
            run = asyncio.create_task(pool.run(tmp_path / "Tiltfile", crds=CRDS, timeout=60))
            await _until(lambda: _cpu_seconds(pid) > idle + 0.3)  # spinning in the loop
            os.kill(pid, signal.SIGSEGV)
            crashed = await run
            after = await pool.run(tmp_path / "ok" / "Tiltfile", crds=CRDS, timeout=60)
            return crashed, after, pid, pool.pids()
        finally:
            await pool.stop()

    crashed, after, pid, pids = asyncio.run(scenario())
    # Go reports the signal itself and exits: the first line of its report is the run's error.
    assert crashed.error == "Tiltfile host crashed: SIGSEGV: segmentation violation", crashed.error
    assert crashed.output == "started\n"
    assert after.error is None
    assert pid not in pids


def test_async_run(tmp_path: Path) -> None:
    _write(tmp_path, {"Tiltfile": SEED, "loop": "print('looping')\nwhile True:\n    pass\n"})

    async def scenario() -> tuple[RunResult, RunResult]:
        done = await run_tiltfile_async(tmp_path / "Tiltfile", crds=CRDS, timeout=20, memory_mb=256)
        late = await run_tiltfile_async(tmp_path / "loop", crds=CRDS, timeout=2, memory_mb=256, max_steps=0)
        return done, late

    done, late = asyncio.run(scenario())

    assert done.error is None
    assert len(done.objects) == 2
    assert late.error == "Tiltfile timed out after 2s"
    assert late.output == "looping\n"


def test_cancelling_an_async_run_ends_it_promptly(tmp_path: Path) -> None:
    _write(tmp_path, {"Tiltfile": "while True:\n    pass\n"})

    async def scenario() -> float:
        task = asyncio.create_task(run_tiltfile_async(tmp_path / "Tiltfile", crds=CRDS, timeout=60, memory_mb=256))
        await asyncio.sleep(0.5)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 5


def test_os_getcwd_is_the_directory_of_the_file_executing_now(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        {
            "Tiltfile": "load('./lib/x.star', 'where')\nprint(os.getcwd())\nprint(where)\n",
            "lib/x.star": "where = os.getcwd()\n",
        },
    )
    assert result.error is None, result.error
    assert result.output.splitlines() == [str(tmp_path), str(tmp_path / "lib")]


# Tilt's dialect, as go.starlark.net with Tilt's options gives it.


def test_struct_prints_and_types_as_in_tilt(tmp_path: Path) -> None:
    source = "s = struct(a=1, b='x')\nprint(s)\nprint(type(s), str(s) == repr(s), s.a, s.b)\nprint(hasattr(s, 'c'))\n"
    result = _run(tmp_path, {"Tiltfile": source})

    assert result.error is None, result.error
    assert result.output == 'struct(a = 1, b = "x")\nstruct True 1 x\nFalse\n'


def test_namespaces_are_module_values(tmp_path: Path) -> None:
    source = "print(type(os), os, v1alpha1)\nprint(type(os.getcwd), module('m', x=1).x)\nos.nothing()\n"
    result = _run(tmp_path, {"Tiltfile": source})

    assert result.output == "module [module: os] [module: v1alpha1]\nbuiltin_function_or_method 1\n"
    _error_at(result, tmp_path / "Tiltfile", 3, "module has no .nothing field or method")


def test_a_loaded_module_is_frozen_and_keeps_its_own_globals(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('lib.star', 'reveal', 'items')\nprint(reveal())\nitems.append(2)\n",
        "lib.star": "_hidden = 'only lib.star sees me'\nitems = [1]\ndef reveal():\n    return _hidden\n",
    }
    result = _run(tmp_path, files)

    assert result.output == "only lib.star sees me\n"
    _error_at(result, tmp_path / "Tiltfile", 3, "append: cannot append to frozen list")


def test_each_file_knows_its_own_file_and_name(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('lib.star', 'who')\nprint(__name__, __file__)\nprint(who)\n",
        "lib.star": "who = __name__\n",
    }
    result = _run(tmp_path, files)

    assert result.output == f"__main__ {tmp_path / 'Tiltfile'}\nlib.star\n"


def test_an_error_carries_the_backtrace_across_files(tmp_path: Path) -> None:
    files = {
        "Tiltfile": "load('lib.star', 'outer')\n\nouter()\n",
        "lib.star": "def outer():\n    inner()\n\ndef inner():\n    fail('deep')\n",
    }
    result = _run(tmp_path, files)

    _error_at(result, tmp_path / "lib.star", 5, "deep")
    assert result.backtrace == (
        "Traceback (most recent call last):\n"
        f"  {tmp_path / 'Tiltfile'}:3:6: in <toplevel>\n"
        f"  {tmp_path / 'lib.star'}:2:10: in outer\n"
        f"  {tmp_path / 'lib.star'}:5:9: in inner\n"
        "Error in fail: deep"
    )


def test_a_syntax_error_in_a_loaded_file_names_that_file(tmp_path: Path) -> None:
    result = _run(tmp_path, {"Tiltfile": "load('lib.star', 'x')\n", "lib.star": "x = (\n"})

    assert result.error is not None
    assert result.error.startswith(f"{tmp_path / 'lib.star'}:2:1: ")
    assert result.backtrace is not None
    assert f"{tmp_path / 'Tiltfile'}:1:1: in <toplevel>" in result.backtrace


def test_the_host_never_sees_the_operators_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credential in the operator's environment never reaches the process that runs Tiltfiles."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    _write(tmp_path, {"Tiltfile": "print('ok')\n"})

    async def scenario() -> bytes:
        pool = WorkerPool(size=1, memory_mb=256)
        pool.start()
        try:
            [pid] = await _until(pool.pids)
            return Path(f"/proc/{pid}/environ").read_bytes()
        finally:
            await pool.stop()

    environ = asyncio.run(scenario())
    assert b"s3cr3t-value" not in environ
    assert b"PATH=" in environ


def test_the_host_signs_files_as_the_operator_checks_them(tmp_path: Path) -> None:
    """The host signs what a run read; the reconciler signs the file again to see whether it changed.
    Both must say the same of an unchanged file, of a missing one, and of a directory's tree."""
    files = {
        "Tiltfile": (
            "read_file('a.txt')\nread_file('gone.txt', default='')\nwatch_file('d')\nlistdir('e', recursive=True)\n"
        ),
        "a.txt": "A",
        "d/one.txt": "1",
        "d/sub/two.txt": "2",
        "d/.git/HEAD": "ref",
        "e/three.txt": "3",
    }
    (tmp_path / "d" / "link").parent.mkdir(parents=True)
    (tmp_path / "d" / "link").symlink_to(tmp_path / "a.txt")
    result = _run(tmp_path, files)
    assert result.error is None, result.error
    assert result.file_signatures == {path: file_signature(path) for path in result.files_read}
    assert result.file_signatures[str(tmp_path / "gone.txt")] == MISSING
    assert result.file_signatures[str(tmp_path / "d")].startswith("tree:")


def test_a_directory_signature_covers_its_tree_up_to_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything below a watched directory counts, except .git and what lies past MAX_TREE_ENTRIES."""
    _write(tmp_path, {"a/1.txt": "1", "a/2.txt": "2", "b/3.txt": "3", ".git/HEAD": "ref"})
    monkeypatch.setattr(protocol, "MAX_TREE_ENTRIES", 4)  # a, a/1.txt, a/2.txt, b: not b/3.txt
    seen = file_signature(str(tmp_path))
    (tmp_path / ".git" / "index").write_text("x")
    (tmp_path / "b" / "3.txt").write_text("past the cap")
    assert file_signature(str(tmp_path)) == seen
    (tmp_path / "a" / "2.txt").write_text("covered")
    assert file_signature(str(tmp_path)) != seen


def test_the_cap_on_a_directory_signature_is_the_hosts() -> None:
    """host/files.go says the same number (the copies must agree)."""
    source = (Path(protocol.__file__).parent / "host" / "files.go").read_text()
    assert f"const maxTreeEntries = {protocol.MAX_TREE_ENTRIES:_}\n" in source
