"""Tiltfile against the real API server: runs, registrations, re-runs, limits, conflicts and buttons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import eventually, holds
from tests.integration.conftest import Operator
from tests.integration.objects import Api, button, ready, tiltfile
from tilt_operator.devcluster import DevCluster

TF = "tiltfiles"


def terminated(api: Api, name: str, *, after: str = "", timeout: float = 60) -> dict:
    """The terminated state of a run that started after ``after`` (an RFC 3339 time)."""

    def check() -> dict | None:
        state = api.status(TF, name).get("terminated")
        return state if state and state["startedAt"] > after else None

    return eventually(check, timeout=timeout, what=f"Tiltfile {name} to finish a run")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_seed_example_registers_a_repo_and_an_extension_that_runs_in_turn(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    extensions = tmp_path / "extensions"
    write(
        extensions / "cancel_button" / "Tiltfile",
        f"ui_button(name='{name}-btn', text='Cancel', location={{'component_type': 'Global', 'component_id': 'x'}})\n",
    )
    main = write(
        tmp_path / "Tiltfile",
        f"extension_repo(name='default', url='file://{extensions}')\n"
        "extension(name='cancel_button', repo_name='default', repo_path='cancel_button')\n",
    )
    api.create(TF, tiltfile(name, str(main), labels={"team": "tests"}))
    try:
        state = terminated(api, name)
        assert "error" not in state, state
        assert state["reasons"] == ["initial"]
        owner_uid = api.get(TF, name)["metadata"]["uid"]
        for plural, obj_name in (("extensionrepos", "default"), ("extensions", "cancel-button")):
            obj = api.get(plural, obj_name)
            assert obj is not None, f"{plural}/{obj_name} was not registered"
            [ref] = obj["metadata"]["ownerReferences"]
            assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Tiltfile", name, owner_uid, True)
            assert obj["metadata"]["labels"]["team"] == "tests"
            assert obj["metadata"]["labels"]["tilt.dev/tiltfile"] == name
        assert api.get("extensions", "cancel-button")["metadata"]["annotations"]["tilt.dev/name"] == "cancel_button"
        eventually(lambda: ready(api.status("extensions", "cancel-button")) == "True", what="the Extension")
        inner = terminated(api, "cancel-button")
        assert "error" not in inner, inner
        assert api.get("uibuttons", f"{name}-btn")["metadata"]["labels"]["tilt.dev/extension"] == "cancel-button"
    finally:
        api.delete(TF, name)
        eventually(lambda: api.get("extensionrepos", "default") is None, timeout=60, what="GC of the seed objects")


def test_edits_re_run_with_the_file_named_prune_what_is_gone_and_keep_the_last_good_run_on_errors(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(
        tmp_path / "Tiltfile",
        f"ui_button(name='{name}-a', text='A', location={{'component_type': 'Global', 'component_id': 'x'}})\n"
        f"ui_button(name='{name}-b', text='B', location={{'component_type': 'Global', 'component_id': 'x'}})\n",
    )
    api.create(TF, tiltfile(name, str(path)))
    first = terminated(api, name)
    assert api.get("uibuttons", f"{name}-a") is not None
    assert api.get("uibuttons", f"{name}-b") is not None

    write(
        path, f"ui_button(name='{name}-a', text='A2', location={{'component_type': 'Global', 'component_id': 'x'}})\n"
    )
    second = terminated(api, name, after=first["startedAt"])
    assert second["reasons"] == [f"file changed: {path}"]
    assert "error" not in second
    eventually(lambda: api.get("uibuttons", f"{name}-b") is None, what="the dropped registration to be pruned")
    assert api.get("uibuttons", f"{name}-a")["spec"]["text"] == "A2"

    write(path, "ui_button(name='x',\n  text=)\n")
    third = terminated(api, name, after=second["startedAt"])
    assert third["error"].startswith(f"{path}:2:"), third["error"]
    assert ready(api.status(TF, name)) == "False"
    assert api.get("uibuttons", f"{name}-a")["spec"]["text"] == "A2", "a failed run prunes nothing"


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("print('ok')\nextension_repo(name='r', urll='https://x')\n", 2, "extension_repo: unknown argument 'urll'"),
        ("extension(name='e', repo_name='r', repo_path=3)\n", 1, "extension: argument 'repo_path' must be a string"),
        ("extension(name='e', repo_name='r')\n", 1, "extension: missing required argument 'repo_path'"),
        (
            "extension(name='e', repo_name='r', repo_path='a')\n\nextension(name='e', repo_name='r', repo_path='b')\n",
            3,
            "extension",
        ),
    ],
)
def test_bad_registrations_name_the_line(
    api: Api, operator: Operator, tmp_path: Path, name: str, source: str, line: int, message: str
):
    path = write(tmp_path / "Tiltfile", source)
    api.create(TF, tiltfile(name, str(path)))
    state = terminated(api, name)
    assert state["error"].startswith(f"{path}:{line}:"), state["error"]
    assert message in state["error"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("while True:\n    pass\n", "Tiltfile timed out after"),
        ("x = ['a' * 1000000]\nfor i in range(100000):\n    x = x + x\n", "Tiltfile exceeded its memory limit"),
    ],
)
def test_runaway_tiltfiles_end_in_a_clear_error_while_others_are_served(
    api: Api, operator: Operator, tmp_path: Path, name: str, source: str, message: str
):
    runaway = write(tmp_path / "runaway" / "Tiltfile", source)
    healthy = write(tmp_path / "healthy" / "Tiltfile", "print('fine')\n")
    api.create(TF, tiltfile(name, str(runaway)))
    eventually(lambda: api.status(TF, name).get("running"), what="the runaway to start")
    api.create(TF, tiltfile(f"{name}-ok", str(healthy)))
    ok = terminated(api, f"{name}-ok")
    assert "error" not in ok
    assert api.status(TF, name).get("running"), "the healthy Tiltfile finished while the runaway still ran"
    state = terminated(api, name)
    assert state["error"].startswith(message), state["error"]
    assert operator.process.poll() is None


def test_two_tiltfiles_registering_one_repo_conflict_without_flapping(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    source = f"extension_repo(name='{name}-shared', url='file://{tmp_path}')\n"
    first, second = write(tmp_path / "a" / "Tiltfile", source), write(tmp_path / "b" / "Tiltfile", source)
    api.create(TF, tiltfile(f"{name}-a", str(first)))
    assert "error" not in terminated(api, f"{name}-a")
    api.create(TF, tiltfile(f"{name}-b", str(second)))
    state = terminated(api, f"{name}-b")
    assert (
        state["error"]
        == f"apply: ExtensionRepo {name}-shared is already owned by Tiltfile {name}-a: rename it or remove it there"
    )
    repo = api.get("extensionrepos", f"{name}-shared")
    assert repo["metadata"]["ownerReferences"][0]["name"] == f"{name}-a"

    def versions() -> list[str]:
        return [api.get(p, n)["metadata"]["resourceVersion"] for p, n in ((TF, f"{name}-a"), (TF, f"{name}-b"))]

    settled_at = versions()
    holds(
        lambda: versions() == settled_at,
        seconds=5,
        because="a flapping pair re-runs within a second of each other's write; neither may re-run or rewrite",
    )


def test_warnings_are_counted_and_output_reaches_the_log_and_an_event(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(tmp_path / "Tiltfile", "print('hello from the tiltfile')\nwarn('one')\nwarn('two')\n")
    api.create(TF, tiltfile(name, str(path)))
    state = terminated(api, name)
    assert state["warningCount"] == 2
    eventually(lambda: f"[{name}] print: hello from the tiltfile" in operator.log_text(), what="the log line")

    def output_event() -> bool:
        events = json.loads(
            cluster.kubectl("get", "events", "-A", f"--field-selector=involvedObject.name={name}", "-o", "json").stdout
        )["items"]
        return any("hello from the tiltfile" in e["message"] and e["reason"] == "Output" for e in events)

    eventually(output_event, what="an Output event")


def test_restart_on_and_stop_on_buttons(api: Api, operator: Operator, tmp_path: Path, name: str):
    api.create("uibuttons", button(f"{name}-restart"))
    api.create("uibuttons", button(f"{name}-stop"))
    path = write(tmp_path / "Tiltfile", "print('quick')\n")
    api.create(
        TF,
        tiltfile(name, str(path), restartOn={"uiButtons": [f"{name}-restart"]}, stopOn={"uiButtons": [f"{name}-stop"]}),
    )
    first = terminated(api, name)
    api.click(f"{name}-restart")
    second = terminated(api, name, after=first["startedAt"])
    assert second["reasons"] == [f"button clicked: {name}-restart"]

    write(path, "while True:\n    pass\n")
    eventually(lambda: api.status(TF, name).get("running"), what="the endless run to start")
    api.click(f"{name}-stop")
    stopped = terminated(api, name, after=second["startedAt"], timeout=10)
    assert stopped["error"] == f"stopped by button {name}-stop"


def test_a_restarted_operator_does_not_re_run_a_settled_tiltfile(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(tmp_path / "Tiltfile", "print('once')\n")
    api.create(TF, tiltfile(name, str(path)))
    terminated(api, name)
    before = api.get(TF, name)["metadata"]["resourceVersion"]
    operator.stop()
    operator.start()
    # The new operator's run loop has had several ticks once it has re-run another, changed Tiltfile.
    probe = write(tmp_path / "probe" / "Tiltfile", "print('probe')\n")
    api.create(TF, tiltfile(f"{name}-probe", str(probe)))
    terminated(api, f"{name}-probe")
    assert api.get(TF, name)["metadata"]["resourceVersion"] == before
