"""When a Cmd's process starts, by Tilt's rules, and how its end is described."""

from __future__ import annotations

import signal

import pytest

from tests.unit.fakes import FakeCluster
from tilt_operator.processes import child_environment, exit_reason
from tilt_operator.reconcilers import buttons
from tilt_operator.reconcilers.cmd import (
    EXEC_DISABLED,
    STOPPED_WITH_OPERATOR,
    STOPPED_WITH_RUNNER,
    last_started,
    lost_with,
    start_reason,
    waiting_for,
    waiting_reason,
)
from tilt_operator.reconcilers.dependencies import resource_ready

T0, T1, T2, T3 = (f"2026-01-01T00:00:0{i}.000000Z" for i in range(4))
START_ON = {"startOn": {"uiButtons": ["go"], "startAfter": T1}}


def reason(spec, **kwargs):
    options = {"last_started": None, "spec_changed": False, "clicks": {}, **kwargs}
    return start_reason({"args": ["x"], **spec}, **options)


def test_a_plain_cmd_starts_once_when_created():
    assert reason({}) == "created"
    assert reason({}, last_started=T1) is None


def test_a_new_spec_restarts_a_plain_cmd():
    assert reason({}, last_started=T1, spec_changed=True) == "spec changed"


def test_a_lost_process_is_restarted_unless_it_waits_for_a_button():
    assert reason({}, last_started=T1, lost_process="the operator restarted") == "the operator restarted"
    assert reason(START_ON, last_started=T2, lost_process="the runner restarted") is None


@pytest.mark.parametrize(
    ("clicks", "last", "expected"),
    [
        ({}, None, None),
        ({"go": T0}, None, None),  # before startAfter
        ({"go": T2}, None, "button clicked: go"),
        ({"go": T2}, T3, None),  # already started after that click
        ({"go": T3}, T2, "button clicked: go"),
    ],
)
def test_start_on_needs_a_click_after_start_after_and_the_last_start(clicks, last, expected):
    assert reason(START_ON, clicks=clicks, last_started=last) == expected


def test_a_new_spec_of_a_button_started_cmd_waits_for_a_new_click():
    spec = {"startOn": {"uiButtons": ["go"], "startAfter": T2}}
    assert reason(spec, clicks={"go": T1}, last_started=T1, spec_changed=True) is None
    assert reason(spec, clicks={"go": T3}, last_started=T1, spec_changed=True) == "button clicked: go"


def test_restart_on_restarts_after_a_later_click():
    spec = {"restartOn": {"uiButtons": ["again"]}}
    assert reason(spec, clicks={"again": T2}, last_started=T1) == "button clicked: again"
    assert reason(spec, clicks={"again": T0}, last_started=T1) is None


def test_a_file_watch_event_after_the_last_start_runs_it_again_but_never_starts_it():
    spec = {"restartOn": {"fileWatches": ["local.b"]}}
    assert reason(spec, file_events={"local.b": T2}, last_started=T1) == "files changed: local.b"
    assert reason(spec, file_events={"local.b": T0}, last_started=T1) is None
    assert reason({**START_ON, **spec}, file_events={"local.b": T2}) is None


def test_a_serve_cmd_restarts_when_its_update_succeeds_after_it_started():
    assert reason({}, last_started=T1, succeeded=("b:update", T2)) == "b:update succeeded"
    assert reason({}, last_started=T2, succeeded=("b:update", T1)) is None


def _cmd(name: str, status: dict, **annotations: str) -> dict:
    return {"metadata": {"name": name, "annotations": annotations}, "status": status}


SUCCEEDED = {"terminated": {"pid": 7, "exitCode": 0, "finishedAt": T1}}
FAILED = {"terminated": {"pid": 7, "exitCode": 1, "finishedAt": T1}}


def test_a_resource_is_ready_when_each_cmd_is_ready_or_succeeded():
    assert resource_ready([_cmd("a.update", SUCCEEDED), _cmd("a.serve", {"running": {}, "ready": True})])
    assert not resource_ready([_cmd("a.update", SUCCEEDED), _cmd("a.serve", {"running": {}, "ready": False})])
    assert not resource_ready([_cmd("a.update", FAILED)])
    assert not resource_ready([])


def test_what_a_cmd_waits_for_before_it_starts():
    serve = _cmd("b.serve", {}, **{"tilt.dev/start-after": "b:update"})
    assert waiting_for(serve, []) == "waiting for b:update to succeed"
    assert waiting_for(serve, [_cmd("b.update", FAILED)]) == "waiting for b:update to succeed"
    assert waiting_for(serve, [_cmd("b.update", SUCCEEDED)]) is None
    app = _cmd("app.update", {}, **{"tilt.dev/resource-deps": "My DB"})
    db = _cmd("my-db.serve", {"running": {}, "ready": False}, **{"tilt.dev/resource": "My DB"})
    assert waiting_for(app, [db]) == "waiting for resource My DB to be ready"
    assert waiting_for(app, [{**db, "status": {"running": {}, "ready": True}}]) is None


def test_waiting_reasons_say_what_to_do():
    assert waiting_reason(START_ON) == "waiting for a click on go"
    assert "--exec" in EXEC_DISABLED


def test_the_last_start_comes_from_the_status():
    assert last_started({"running": {"startedAt": T1}}) == T1
    assert last_started({"terminated": {"startedAt": T2}}) == T2
    assert last_started({}) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [(0, (0, "exited successfully")), (3, (3, "exited with code 3")), (-signal.SIGTERM, (143, "killed by SIGTERM"))],
)
def test_exit_reasons(code, expected):
    assert exit_reason(code) == expected


def test_children_get_their_env_on_top_and_the_operators_python_first_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = child_environment(["A=b=c", "LANG=2"], kubeconfig=tmp_path / "kubeconfig", home=tmp_path)
    assert env["A"] == "b=c"
    assert env["LANG"] == "2"
    assert env["PATH"].split(":")[0].endswith("bin")


def test_children_get_nothing_of_the_operators_credentials_or_settings(monkeypatch, tmp_path):
    for leaked in ("KUBECONFIG", "TILT_OPERATOR_EXEC", "AWS_SECRET_ACCESS_KEY", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.setenv(leaked, "the operator's")
    env = child_environment([], kubeconfig=tmp_path / "kubeconfig", home=tmp_path / "home")
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig")
    assert env["HOME"] == str(tmp_path / "home")
    assert "the operator's" not in env.values()


def test_a_process_the_operator_or_the_runner_took_down_counts_as_lost_and_one_that_ended_does_not():
    assert lost_with({"running": {"pid": 1}}) == "the operator restarted"
    assert lost_with({"terminated": {"reason": STOPPED_WITH_OPERATOR}}) == "the operator restarted"
    assert lost_with({"terminated": {"reason": STOPPED_WITH_RUNNER}}) == "the runner restarted"
    assert lost_with({"terminated": {"reason": "exited with code 3"}}) is None
    assert lost_with({}) is None


def _button(inputs: list[dict], clicked: list[dict] | None) -> dict:
    status = {"lastClickedAt": T2, "inputs": clicked} if clicked is not None else {}
    return {"kind": "UIButton", "metadata": {"name": "b"}, "spec": {"text": "b", "inputs": inputs}, "status": status}


@pytest.mark.parametrize(
    ("inputs", "clicked", "env"),
    [
        ([{"name": "MSG", "text": {}}], [{"name": "MSG", "text": {"value": "hi there"}}], ["MSG=hi there"]),
        ([{"name": "OK", "bool": {}}], [{"name": "OK", "bool": {"value": True}}], ["OK=true"]),
        ([{"name": "OK", "bool": {"falseString": "no"}}], [{"name": "OK", "bool": {"value": False}}], ["OK=no"]),
        ([{"name": "H", "hidden": {"value": "v"}}], [{"name": "H", "hidden": {"value": "v"}}], ["H=v"]),
        (
            [{"name": "C", "choice": {"choices": ["a", "b"]}}],
            [{"name": "C", "choice": {"value": "z"}}],
            ["C=a"],  # not one of the choices: the first, as Tilt does
        ),
        ([{"name": "MSG", "text": {}}], None, ["MSG="]),
    ],
)
def test_a_clicks_inputs_become_the_environment_tilt_gives(inputs: list, clicked: list | None, env: list) -> None:
    cluster = FakeCluster(_button(inputs, clicked))
    assert buttons.input_environment(cluster.cache(), "b") == env
    assert buttons.input_environment(cluster.cache(), "missing") == []
