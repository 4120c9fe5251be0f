"""local_resource as Tilt runs it, on the real API server: trigger modes, deps, serve after cmd, resource_deps,
readiness probes and Tilt's names."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, tiltfile
from tests.integration.test_cli import succeeds
from tests.integration.test_cmd import state
from tests.integration.test_logs import logs
from tests.integration.test_tiltfile import terminated, write
from tilt_operator.devcluster import DevCluster


def runs(path: Path) -> list[str]:
    """The lines a command appended to ``path``, one per run."""
    return path.read_text().splitlines() if path.exists() else []


def test_a_manual_resource_runs_only_when_triggered(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(
        tmp_path / "Tiltfile",
        f"local_resource('{name}', 'echo ran >> runs.txt', trigger_mode=TRIGGER_MODE_MANUAL, auto_init=False)\n"
        f"local_resource('{name}-auto', 'echo ran >> auto.txt')\n",
    )
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    # The auto resource beside it has run: the manual one, created at the same time, has not.
    eventually(lambda: runs(tmp_path / "auto.txt") == ["ran"], what="the auto resource to run")
    waiting = eventually(lambda: state(api, f"{name}.update", "waiting"), what="the manual Cmd to wait")
    assert waiting["reason"] == f"waiting for a click on {name}.trigger"
    assert runs(tmp_path / "runs.txt") == []

    assert succeeds(cluster, "trigger", name) == f'Successfully triggered update for resource: "{name}"\n'
    eventually(lambda: runs(tmp_path / "runs.txt") == ["ran"], what="the trigger to run it")
    eventually(lambda: (state(api, f"{name}.update", "terminated") or {}).get("exitCode") == 0, what="its status")
    # Triggered again, it runs again: a trigger is Tilt's "update now".
    succeeds(cluster, "trigger", name)
    eventually(lambda: runs(tmp_path / "runs.txt") == ["ran", "ran"], what="a second trigger to run it again")


def test_deps_run_the_update_again_on_a_change_and_ignore_what_ignore_says(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    (tmp_path / "src" / "deep").mkdir(parents=True)
    path = write(
        tmp_path / "Tiltfile", f"local_resource('{name}', 'echo ran >> runs.txt', ['src'], ignore=['src/*.tmp'])\n"
    )
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    eventually(lambda: runs(tmp_path / "runs.txt") == ["ran"], what="the first run")
    watch = eventually(
        lambda: (
            api.status("filewatches", f"local.{name}").get("monitorStartTime")
            and api.get("filewatches", f"local.{name}")
        ),
        what="the FileWatch to watch",
    )
    assert watch["spec"]["watchedPaths"] == [str(tmp_path / "src")]

    (tmp_path / "src" / "deep" / "main.c").write_text("int main;\n")
    eventually(lambda: runs(tmp_path / "runs.txt") == ["ran", "ran"], what="a change deep inside deps to re-run it")
    events = api.status("filewatches", f"local.{name}")["fileEvents"]
    assert str(tmp_path / "src" / "deep" / "main.c") in events[-1]["seenFiles"]

    # An ignored file is no event: a later change that is not ignored shows the count went up by one only.
    (tmp_path / "src" / "scratch.tmp").write_text("x\n")
    (tmp_path / "src" / "deep" / "main.c").write_text("int main(void);\n")
    eventually(lambda: len(runs(tmp_path / "runs.txt")) == 3, what="the next real change to re-run it")
    seen = [file for event in api.status("filewatches", f"local.{name}")["fileEvents"] for file in event["seenFiles"]]
    assert str(tmp_path / "src" / "scratch.tmp") not in seen


def test_serve_cmd_starts_after_cmd_succeeds_and_restarts_when_it_runs_again(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(
        tmp_path / "Tiltfile",
        f"local_resource('{name}', 'sleep 1; echo built >> builds.txt', serve_cmd='cat builds.txt; exec sleep 600')\n",
    )
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    waiting = eventually(lambda: state(api, f"{name}.serve", "waiting"), what="the serve Cmd to wait for the update")
    assert waiting["reason"] == f"waiting for {name}:update to succeed"
    first = eventually(lambda: state(api, f"{name}.serve", "running"), what="the serve Cmd to start")
    update = state(api, f"{name}.update", "terminated")
    assert update is not None
    assert update["exitCode"] == 0
    assert first["startedAt"] > update["finishedAt"]

    succeeds(cluster, "trigger", name)
    second = eventually(
        lambda: (running := state(api, f"{name}.serve", "running")) and running["pid"] != first["pid"] and running,
        what="the serve Cmd to restart after the update ran again",
    )
    assert runs(tmp_path / "builds.txt") == ["built", "built"]
    assert second["startedAt"] > state(api, f"{name}.update", "terminated")["finishedAt"]


def test_resource_deps_wait_for_readiness_and_a_probe_decides_it(
    api: Api, operator: Operator, tmp_path: Path, name: str
):
    path = write(
        tmp_path / "Tiltfile",
        f"local_resource('{name}-db', serve_cmd='sleep 600',\n"
        "    readiness_probe=probe(period_secs=1, exec=exec_action(['test', '-e', 'db.ready'])))\n"
        f"local_resource('{name}-app', 'echo ran >> app.txt', resource_deps=['{name}-db'])\n",
    )
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    eventually(lambda: state(api, f"{name}-db.serve", "running"), what="the db to start")
    waiting = eventually(lambda: state(api, f"{name}-app.update", "waiting"), what="the app to wait")
    assert waiting["reason"] == f"waiting for resource {name}-db to be ready"
    assert api.status("cmds", f"{name}-db.serve")["ready"] is False
    assert runs(tmp_path / "app.txt") == []

    (tmp_path / "db.ready").write_text("")
    eventually(lambda: api.status("cmds", f"{name}-db.serve")["ready"] is True, what="the probe to pass")
    eventually(lambda: runs(tmp_path / "app.txt") == ["ran"], what="the app to run once its dependency is ready")


def test_a_name_tilt_accepts_with_spaces_and_symbols_runs(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    tilt_name = f"API Server Logs & {name}"
    path = write(tmp_path / "Tiltfile", f"local_resource('{tilt_name}', serve_cmd='echo up; exec sleep 600')\n")
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    object_name = f"api-server-logs-{name}.serve"
    eventually(lambda: state(api, object_name, "running"), what="the Cmd with the mapped name to run")
    annotations = api.get("cmds", object_name)["metadata"]["annotations"]
    assert annotations["tilt.dev/resource"] == tilt_name
    assert annotations["tilt.dev/name"] == f"{tilt_name}:serve"
    # Tilt's name works where a person types it.
    eventually(lambda: "up" in logs(cluster, operator, tilt_name).stdout, what="its logs by its Tilt name")
    assert succeeds(cluster, "trigger", tilt_name).startswith("Successfully triggered")
