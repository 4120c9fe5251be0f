"""Extensions written for Tilt, on the real API server: local_resource, include, the `tilt` command, bash + jq."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import eventually
from tests.integration.conftest import REPO, Operator
from tests.integration.objects import Api, extension, obj, repo, tiltfile
from tests.integration.test_cmd import state
from tests.integration.test_tiltfile import terminated, write
from tilt_operator.devcluster import DevCluster
from tilt_operator.processes import alive

VENV_BIN = Path(sys.executable).parent


def tilt(cluster: DevCluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The `tilt` command as an extension script (or a person) runs it."""
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{VENV_BIN}{os.pathsep}{cluster.binaries.directory}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(["tilt", *args], env=env, input=stdin, capture_output=True, text=True, check=False)


def test_local_resource_cmds_look_as_tilt_makes_them(api: Api, operator: Operator, tmp_path: Path, name: str):
    path = write(
        tmp_path / "Tiltfile", f"local_resource('{name}', cmd='echo built > built.txt', serve_cmd='sleep 600')\n"
    )
    api.create("tiltfiles", tiltfile(name, str(path)))
    assert "error" not in terminated(api, name)
    uid = api.get("tiltfiles", name)["metadata"]["uid"]
    for suffix, args in (("update", ["sh", "-c", "echo built > built.txt"]), ("serve", ["sh", "-c", "sleep 600"])):
        cmd = api.get("cmds", f"{name}.{suffix}")
        assert cmd["spec"]["args"] == args
        assert cmd["spec"]["dir"] == str(tmp_path)
        assert cmd["metadata"]["annotations"]["tilt.dev/resource"] == name
        assert cmd["metadata"]["annotations"]["tilt.dev/name"] == f"{name}:{suffix}"
        owner = cmd["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("Tiltfile", uid)
    eventually(lambda: (tmp_path / "built.txt").exists(), what="the update cmd to run in the Tiltfile's directory")
    pid = eventually(lambda: (state(api, f"{name}.serve", "running") or {}).get("pid"), what="the serve cmd")
    api.delete("tiltfiles", name)
    eventually(lambda: not alive(pid), timeout=60, what="the serve process to stop with its Tiltfile")


def test_include_is_relative_to_the_including_file(api: Api, operator: Operator, tmp_path: Path, name: str):
    write(tmp_path / "lib" / "Tiltfile", f"local_resource('{name}-inner', cmd='pwd > where.txt')\n")
    main = write(tmp_path / "Tiltfile", "include('./lib/Tiltfile')\n")
    api.create("tiltfiles", tiltfile(name, str(main)))
    assert "error" not in terminated(api, name)
    assert api.get("cmds", f"{name}-inner.update")["spec"]["dir"] == str(tmp_path / "lib")
    eventually(lambda: (tmp_path / "lib" / "where.txt").exists(), what="the included resource to run")
    assert (tmp_path / "lib" / "where.txt").read_text().strip() == str(tmp_path / "lib")


def test_tilts_lowercase_component_types_are_accepted(api: Api, name: str):
    for index, spelling in enumerate(("resource", "Resource", "global", "Global")):
        location = {"componentType": spelling, "componentID": "x"}
        created = api.create("uibuttons", obj("UIButton", f"{name}-{index}", {"text": "x", "location": location}))
        assert created["spec"]["location"]["componentType"] == spelling


def test_the_tilt_command_speaks_tilts_verbs_with_tilts_names(cluster: DevCluster, api: Api, name: str):
    manifest = f"""
apiVersion: tilt.dev/v1alpha1
kind: UIButton
metadata:
  name: {name}:cancel
spec:
  text: Cancel
  location: {{componentType: resource, componentID: {name}}}
"""
    applied = tilt(cluster, "apply", "-f", "-", stdin=manifest)
    assert applied.returncode == 0, applied.stderr
    assert api.get("uibuttons", f"{name}.cancel")["metadata"]["annotations"]["tilt.dev/name"] == f"{name}:cancel"
    got = tilt(cluster, "get", "uibutton", f"{name}:cancel", "-o", "jsonpath={.spec.text}")
    assert (got.returncode, got.stdout) == (0, "Cancel")
    assert tilt(cluster, "get", "uibutton", "-o", "name").stdout.count(f"uibutton.tilt.dev/{name}.cancel") == 1
    assert tilt(cluster, "delete", "uibutton", f"{name}:cancel").returncode == 0
    missing = tilt(cluster, "delete", "uibutton", f"{name}:cancel", "--ignore-not-found")
    assert missing.returncode == 0
    assert api.get("uibuttons", f"{name}.cancel") is None
    bad = tilt(cluster, "frobnicate")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: tilt frobnicate is not supported here")


def test_a_bash_extension_like_upstreams_cancel_works_unmodified(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    api.create("extensionrepos", repo(f"{name}-examples", f"file://{REPO / 'examples' / 'extensions'}"))
    api.create("extensions", extension(f"{name}-cancel-sh", f"{name}-examples", "cancel-sh"))
    app = write(tmp_path / "Tiltfile", f"local_resource('{name}-app', serve_cmd='sleep 600')\n")
    try:
        eventually(lambda: state(api, "operator.cancel-sh.serve", "running"), timeout=60, what="the controller")
        api.create("tiltfiles", tiltfile(f"{name}-app", str(app)))
        serve = f"{name}-app.serve"
        pid = eventually(lambda: (state(api, serve, "running") or {}).get("pid"), what="the app's pid")
        button = eventually(
            lambda: (b := api.get("uibuttons", f"{serve}.cancel")) and not b["spec"].get("disabled") and b,
            timeout=60,
            what="an enabled cancel button made by bash",
        )
        assert button["spec"]["location"] == {"componentType": "resource", "componentID": f"{name}-app"}
        eventually(lambda: api.get("cmds", f"{serve}.cancel-kill"), what="the kill Cmd")
        api.click(f"{serve}.cancel")
        eventually(lambda: not alive(pid), timeout=30, what="the app process to be killed")
        ended = eventually(lambda: state(api, serve, "terminated"), what="the app Cmd to show terminated")
        assert ended["reason"] == "killed by SIGTERM"
        eventually(lambda: api.get("uibuttons", f"{serve}.cancel")["spec"]["disabled"], timeout=30, what="disable")
        api.delete("tiltfiles", f"{name}-app")
        eventually(lambda: api.get("uibuttons", f"{serve}.cancel") is None, timeout=60, what="the button to go")
    finally:
        api.delete("tiltfiles", f"{name}-app")
        api.delete("extensions", f"{name}-cancel-sh")
        eventually(lambda: api.get("cmds", "operator.cancel-sh.serve") is None, timeout=60, what="controller gone")


def test_names_after_a_double_dash_are_mapped_too(cluster: DevCluster, api: Api, name: str):
    """A cleanup written as `tilt delete cmd -- x:cancel` must delete x.cancel, not miss it and leave it behind."""
    manifest = f"""
apiVersion: tilt.dev/v1alpha1
kind: UIButton
metadata: {{name: "{name}:cancel"}}
spec: {{text: Cancel, location: {{componentType: resource, componentID: {name}}}}}
---
apiVersion: tilt.dev/v1alpha1
kind: Cmd
metadata: {{name: "{name}:cancel"}}
spec: {{args: ["true"], startOn: {{uiButtons: ["{name}:cancel"]}}}}
"""
    assert tilt(cluster, "apply", "-f", "-", stdin=manifest).returncode == 0
    assert api.get("cmds", f"{name}.cancel") is not None
    deleted = tilt(cluster, "delete", "cmd", "--ignore-not-found", "--", f"{name}:cancel")
    assert deleted.returncode == 0, deleted.stderr
    assert tilt(cluster, "delete", "uibutton", "--", f"{name}:cancel").returncode == 0
    assert api.get("cmds", f"{name}.cancel") is None
    assert api.get("uibuttons", f"{name}.cancel") is None
