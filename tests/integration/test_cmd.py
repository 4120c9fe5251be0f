"""Cmd and UIButton on the real API server, and the flagship: the cancel extension, end to end."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import eventually
from tests.integration.conftest import REPO, Operator
from tests.integration.objects import Api, button, extension, obj, repo
from tilt_operator.devcluster import DevCluster
from tilt_operator.processes import alive

CMDS = "cmds"


def cmd(name: str, args: list[str], **spec) -> dict:
    return obj("Cmd", name, {"args": args, **spec})


def state(api: Api, name: str, which: str) -> dict | None:
    return (api.status(CMDS, name) or {}).get(which)


def test_the_cancel_extension_puts_a_working_cancel_button_on_a_running_cmd(
    cluster: DevCluster, api: Api, operator: Operator, name: str
):
    manifests = [
        repo(f"{name}-examples", f"file://{REPO / 'examples' / 'extensions'}"),
        extension("cancel", f"{name}-examples", "cancel"),
    ]
    applied = cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests), check=False)
    assert applied.returncode == 0, applied.stderr
    try:
        eventually(lambda: state(api, "cancel.watcher", "running"), timeout=60, what="the watcher to run")
        api.create(CMDS, cmd("sleeper", ["sleep", "600"]))
        pid = eventually(lambda: (state(api, "sleeper", "running") or {}).get("pid"), what="sleeper's pid")
        assert alive(pid)

        cancel = eventually(
            lambda: (b := api.get("uibuttons", "sleeper.cancel")) and not b["spec"].get("disabled") and b,
            what="an enabled cancel button",
        )
        assert cancel["spec"]["text"] == "Cancel"
        assert cancel["spec"]["location"] == {"componentType": "Resource", "componentID": "sleeper"}
        assert cancel["metadata"]["annotations"]["tilt.dev/name"] == "sleeper:cancel"
        eventually(lambda: api.get(CMDS, "sleeper.cancel.kill"), what="the kill Cmd")

        api.click("sleeper.cancel")
        eventually(lambda: not alive(pid), what="the sleep process to be gone")
        ended = eventually(lambda: state(api, "sleeper", "terminated"), what="sleeper to show terminated")
        assert ended["pid"] == pid
        assert ended["reason"] == "killed by SIGTERM"
        assert ended["exitCode"] == 143
        eventually(lambda: api.get("uibuttons", "sleeper.cancel")["spec"]["disabled"], what="the button to disable")

        api.delete(CMDS, "sleeper")
        eventually(lambda: api.get("uibuttons", "sleeper.cancel") is None, timeout=60, what="the button to go")
        eventually(lambda: api.get(CMDS, "sleeper.cancel.kill") is None, timeout=60, what="the kill Cmd to go")
    finally:
        api.delete(CMDS, "sleeper")
        api.delete("extensions", "cancel")
        eventually(lambda: api.get(CMDS, "cancel.watcher") is None, timeout=60, what="the watcher to go")


def test_a_cmd_that_exits_shows_its_exit_code(api: Api, operator: Operator, name: str):
    api.create(CMDS, cmd(name, ["sh", "-c", "echo hello from $0; exit 3"]))
    ended = eventually(lambda: state(api, name, "terminated"), what="the exit")
    assert ended["exitCode"] == 3
    assert ended["reason"] == "exited with code 3"
    assert api.status(CMDS, name)["ready"] is False
    eventually(lambda: f"[{name}] hello from sh" in operator.log_text(), what="its output in the operator log")


def test_a_missing_executable_is_a_clear_error(api: Api, operator: Operator, name: str):
    api.create(CMDS, cmd(name, ["no-such-program-anywhere", "x"]))
    ended = eventually(lambda: state(api, name, "terminated"), what="the failure")
    assert ended["reason"] == "cannot start 'no-such-program-anywhere': No such file or directory"
    assert ended["exitCode"] == 127


def test_dir_and_env_reach_the_process(api: Api, operator: Operator, tmp_path: Path, name: str):
    api.create(CMDS, cmd(name, ["sh", "-c", 'echo "$GREETING" > out'], dir=str(tmp_path), env=["GREETING=hi there"]))
    eventually(lambda: state(api, name, "terminated"), what="the exit")
    assert (tmp_path / "out").read_text() == "hi there\n"


def test_deleting_a_running_cmd_stops_its_process(api: Api, operator: Operator, name: str):
    api.create(CMDS, cmd(name, ["sleep", "600"]))
    pid = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the pid")
    api.delete(CMDS, name)
    eventually(lambda: not alive(pid), timeout=30, what="the process to stop")


def test_start_on_waits_for_a_click_and_restart_on_restarts(api: Api, operator: Operator, name: str):
    api.create("uibuttons", button(f"{name}-start"))
    api.create("uibuttons", button(f"{name}-restart"))
    api.create(
        CMDS,
        cmd(
            name,
            ["sleep", "600"],
            startOn={"uiButtons": [f"{name}-start"], "startAfter": "2020-01-01T00:00:00.000000Z"},
            restartOn={"uiButtons": [f"{name}-restart"]},
        ),
    )
    waiting = eventually(lambda: state(api, name, "waiting"), what="waiting")
    assert waiting["reason"] == f"waiting for a click on {name}-start"
    api.click(f"{name}-start")
    first = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the start")
    api.click(f"{name}-restart")
    second = eventually(
        lambda: (p := (state(api, name, "running") or {}).get("pid")) != first and p, what="the restart"
    )
    eventually(lambda: not alive(first), what="the first process to be stopped")
    assert alive(second)
    api.delete(CMDS, name)
    eventually(lambda: not alive(second), what="clean-up")


def test_with_execution_disabled_cmds_wait_and_nothing_runs(api: Api, operator: Operator, tmp_path: Path, name: str):
    marker = tmp_path / "ran"
    operator.stop()
    operator.args = ()
    operator.start()
    try:
        api.create(CMDS, cmd(name, ["touch", str(marker)]))
        waiting = eventually(lambda: state(api, name, "waiting"), what="the waiting reason")
        assert "process execution is disabled" in waiting["reason"]
        assert "--exec" in waiting["reason"]
        assert not marker.exists()
    finally:
        operator.stop()
        operator.args = ("--exec",)
        operator.start()
    eventually(marker.exists, what="the Cmd to run once execution is on")


def test_stopping_the_operator_stops_its_processes_and_a_restart_runs_them_again(
    api: Api, operator: Operator, name: str
):
    api.create(CMDS, cmd(name, ["sleep", "600"]))
    pid = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the pid")
    operator.stop()
    try:
        assert not alive(pid), "the operator stopped, its Cmd's process must stop with it"
        assert state(api, name, "terminated")["reason"] == "stopped with the operator"
    finally:
        operator.start()
    again = eventually(
        lambda: (p := (state(api, name, "running") or {}).get("pid")) != pid and p, what="the Cmd to run again"
    )
    assert alive(again)
    assert f"[{name}] starting (the operator restarted)" in operator.log_text()
    api.delete(CMDS, name)
    eventually(lambda: not alive(again), what="clean-up")


def test_a_killed_operator_leaves_no_orphan_process(api: Api, operator: Operator, name: str):
    api.create(CMDS, cmd(name, ["sleep", "600"]))
    pid = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the pid")
    operator.kill()
    try:
        eventually(lambda: not alive(pid), timeout=10, what="the child to die with the operator")
    finally:
        operator.start()
    api.delete(CMDS, name)
