"""Logs on the real API server: each Cmd and Tiltfile keeps its own; `kubectl tilt logs` shows them as Tilt does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, button, obj, tiltfile
from tests.integration.test_tiltfile import terminated, write
from tilt_operator.devcluster import DevCluster

VENV_BIN = Path(sys.executable).parent


def cmd(name: str, script: str, **spec) -> dict:
    return obj("Cmd", name, {"args": ["sh", "-c", script], **spec})


def cli_env(cluster: DevCluster, operator: Operator) -> dict[str, str]:
    """A user's shell on the operator's machine: its kubeconfig, and HOME where the operator says where it serves."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDG_")}
    return {
        **env,
        "HOME": str(operator.home),
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{VENV_BIN}{os.pathsep}{cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}",
    }


def logs(cluster: DevCluster, operator: Operator, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(cluster, operator)
    return subprocess.run(["kubectl-tilt", "logs", *args], env=env, capture_output=True, text=True, timeout=60)


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_cmds_output_on_both_streams_is_its_log_in_order(
    cluster: DevCluster, api: Api, operator: Operator, name: str
):
    script = "echo out-1; sleep 0.2; echo err-1 >&2; sleep 0.2; echo out-2; sleep 0.2; echo err-2 >&2"
    api.create("cmds", cmd(name, script))
    eventually(lambda: api.status("cmds", name).get("terminated"), what="the Cmd to finish")
    shown = eventually(lambda: (out := lines_of(logs(cluster, operator, name))) and "err-2" in out[-2] and out)
    assert [line.split(" │ ")[1] for line in shown if "│ out-" in line or "│ err-" in line] == [
        "out-1",
        "err-1",
        "out-2",
        "err-2",
    ]
    assert all(line.startswith(f"{name} │ ") for line in shown), shown
    assert shown[0] == f"{name} │ starting (created): sh -c {script}"
    assert shown[-1] == f"{name} │ process {api.status('cmds', name)['terminated']['pid']} exited successfully"
    streams = [json.loads(line)["stream"] for line in lines_of(logs(cluster, operator, name, "--json"))]
    assert streams == ["system", "stdout", "stderr", "stdout", "stderr", "system"]


def test_follow_shows_lines_as_they_come_and_goes_on_across_a_restart(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    api.create("uibuttons", button(f"{name}-restart"))
    go = tmp_path / "go"
    script = f"echo started; while [ ! -e {go} ]; do sleep 0.05; done; rm {go}; echo went; sleep 600"
    api.create("cmds", cmd(name, script, restartOn={"uiButtons": [f"{name}-restart"]}))
    eventually(lambda: api.status("cmds", name).get("running"), what="the Cmd to run")
    follower = subprocess.Popen(
        ["kubectl-tilt", "logs", name, "-f"],
        env=cli_env(cluster, operator),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().strip().endswith("starting (created): sh -c " + script)
        assert follower.stdout.readline().strip() == f"{name} │ started"
        go.touch()
        assert follower.stdout.readline().strip() == f"{name} │ went"
        api.click(f"{name}-restart")
        assert follower.stdout.readline().strip().endswith("killed by SIGTERM")
        assert follower.stdout.readline().strip().startswith(f"{name} │ starting (button clicked: {name}-restart)")
        assert follower.stdout.readline().strip() == f"{name} │ started"
        follower.send_signal(signal.SIGINT)  # Ctrl-C
        assert follower.wait(10) == 130
    finally:
        follower.kill()
        api.delete("cmds", name)


def test_a_tiltfiles_prints_warnings_and_errors_are_under_its_name(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(tmp_path / "Tiltfile", "print('hello from the tiltfile')\nwarn('careful')\nfail('it broke')\n")
    api.create("tiltfiles", tiltfile(name, str(path)))
    terminated(api, name)
    shown = eventually(lambda: (out := lines_of(logs(cluster, operator, name))) and "it broke" in out[-1] and out)
    assert shown[0] == f"{name} │ running {path} (initial)"
    assert f"{name} │ hello from the tiltfile" in shown
    assert f"{name} │ WARNING: careful" in shown
    # The error's first line, as the status says it, then Starlark's backtrace.
    error = shown.index(f"{name} │ ERROR: {path}:3:5: it broke")
    assert shown[error + 1 :] == [
        f"{name} │ Traceback (most recent call last):",
        f"{name} │   {path}:3:5: in <toplevel>",
        f"{name} │ Error in fail: it broke",
    ]


def test_a_resource_is_its_tiltfile_and_the_cmds_it_registered(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(tmp_path / "Tiltfile", f"local_resource('{name}-app', serve_cmd='echo serving; sleep 600')\n")
    api.create("tiltfiles", tiltfile(name, str(path)))
    try:
        eventually(lambda: any("serving" in line for line in lines_of(logs(cluster, operator, f"{name}-app"))))
        app = lines_of(logs(cluster, operator, f"{name}-app"))
        assert all(line.startswith(f"{name}-app │ ") for line in app)
        one = lines_of(logs(cluster, operator, f"cmd/{name}-app:serve"))
        assert one == app
        everything = lines_of(logs(cluster, operator))
        assert {f"{name} │ running {path} (initial)", f"{name}-app │ serving"} <= {
            " ".join(line.split()) for line in everything
        }
    finally:
        api.delete("tiltfiles", name)


def test_an_unknown_name_or_a_bad_since_is_one_line_and_exit_code_1(cluster: DevCluster, operator: Operator):
    missing = logs(cluster, operator, "no-such-resource-anywhere")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        'error: no resource named "no-such-resource-anywhere": `kubectl tilt get` and `kubectl get cmds` list them'
    ]
    bad = logs(cluster, operator, "--since", "yesterday")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: invalid --since: 'yesterday' is not a duration")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_tail_since_and_timestamps(cluster: DevCluster, api: Api, operator: Operator, name: str):
    api.create("cmds", cmd(name, "for i in 1 2 3 4 5; do echo line-$i; done"))
    eventually(lambda: len(lines_of(logs(cluster, operator, name))) == 7, what="the whole log")
    tail = [line.split(" │ ")[1] for line in lines_of(logs(cluster, operator, name, "--tail", "2"))]
    assert tail[0] == "line-5"
    assert tail[1].endswith("exited successfully")
    stamped = lines_of(logs(cluster, operator, name, "--timestamps", "--since", "1h"))
    assert len(stamped) == 7
    assert stamped[0].split()[0].endswith("Z")
    assert lines_of(logs(cluster, operator, name, "--since", "1ms")) == []


def test_logs_survive_an_operator_restart_and_go_with_their_object(
    cluster: DevCluster, api: Api, operator: Operator, name: str
):
    api.create("cmds", cmd(name, "echo before the restart"))
    eventually(lambda: any("before the restart" in line for line in lines_of(logs(cluster, operator, name))))
    uid = api.get("cmds", name)["metadata"]["uid"]
    log_file = operator.data_dir / "logs" / "cmds" / f"{uid}.log"
    assert log_file.exists()
    operator.stop()
    operator.start()
    assert any("before the restart" in line for line in lines_of(logs(cluster, operator, name)))
    api.delete("cmds", name)
    eventually(lambda: not log_file.exists(), what="the log to go with its Cmd")
    gone = logs(cluster, operator, f"cmd/{name}")
    assert gone.returncode == 1


def test_the_cap_holds_under_a_cmd_that_prints_50_mb(cluster: DevCluster, api: Api, operator: Operator, name: str):
    # 50 MB of lines as fast as it can, and one 10 MB line with no newline at all.
    script = "head -c 52428800 /dev/urandom | base64; head -c 10485760 /dev/zero | tr '\\0' x; echo; echo done"
    api.create("cmds", cmd(name, script))
    ended = eventually(lambda: api.status("cmds", name).get("terminated"), timeout=120, what="the Cmd to finish")
    assert ended["exitCode"] == 0
    uid = api.get("cmds", name)["metadata"]["uid"]
    log_file = operator.data_dir / "logs" / "cmds" / f"{uid}.log"
    eventually(lambda: "done" in log_file.read_text()[-200:], what="the last line in the log")
    assert log_file.stat().st_size <= 1 << 20
    shown = lines_of(logs(cluster, operator, name, "--json"))
    first = json.loads(shown[0])
    assert first["stream"] == "system"
    assert "older lines were dropped" in first["text"]
    assert max(len(json.loads(line)["text"]) for line in shown) <= 64 * 1024, "a 10 MB line is split"
    assert operator.process is not None
    assert operator.process.poll() is None
    api.delete("cmds", name)


def test_the_tilt_command_has_tilt_logs(cluster: DevCluster, api: Api, operator: Operator, name: str):
    api.create("cmds", cmd(name, "echo via tilt logs"))
    env = cli_env(cluster, operator)

    def shown() -> list[str]:
        result = subprocess.run(["tilt", "logs", name], env=env, capture_output=True, text=True, timeout=60)
        return lines_of(result)

    eventually(lambda: f"{name} │ via tilt logs" in shown(), what="tilt logs to show it")
    started = time.monotonic()
    assert subprocess.run(["tilt", "logs", "nope-nothing"], env=env, capture_output=True).returncode == 1
    assert time.monotonic() - started < 30
