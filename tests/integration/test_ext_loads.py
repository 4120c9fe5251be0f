"""load('ext://…') against the real API server: the Extension each load names, the repo a run waits
for, and the Tiltfiles that share what they load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api, extension, ready, repo, tiltfile
from tests.integration.test_logs import lines_of, logs
from tests.integration.test_tiltfile import terminated, write
from tilt_operator.devcluster import DevCluster

EXTS, REPOS, TF = "extensions", "extensionrepos", "tiltfiles"
LOADER = "tiltfile.loader"


def loaders(api: Api, name: str) -> list[tuple[str, str, bool]] | None:
    """(kind, name, controller) of each owner of the Extension ``name``, None once it is gone."""
    obj = api.get(EXTS, name)
    if obj is None:
        return None
    return sorted(
        (ref["kind"], ref["name"], ref.get("controller", False)) for ref in obj["metadata"]["ownerReferences"]
    )


def condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == "Ready")


def test_the_seed_recipe_waits_for_the_repo_it_registers_then_runs_what_it_loads(
    cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    hello = (
        "def hello(who):\n"
        "    print('hello, ' + who)\n"
        "    ui_button(name=who + '-hello', text='Hello', location={'component_type': 'Global', 'component_id': 'x'})\n"
    )
    git_server.create_repo(f"{name}-repo", {"myext/Tiltfile": hello})
    path = write(
        tmp_path / "Tiltfile",
        f"v1alpha1.extension_repo(name='{name}-repo', url='{git_server.url(f'{name}-repo')}')\n"
        f"v1alpha1.extension(name='{name}-ext', repo_name='{name}-repo', repo_path='myext')\n"
        f"load('ext://{name}-ext', 'hello')\n"
        f"hello('{name}')\n",
    )
    api.create(TF, tiltfile(name, str(path)))
    try:
        state = terminated(api, name)
        assert "error" not in state, state
        assert state["reasons"] == [f"ExtensionRepo {name}-repo ready"]
        assert ready(api.status(TF, name)) == "True"
        uid = api.get(TF, name)["metadata"]["uid"]
        assert api.get("uibuttons", f"{name}-hello")["metadata"]["ownerReferences"][0]["uid"] == uid

        shown = eventually(
            lambda: (out := lines_of(logs(cluster, operator, name))) and f"{name} │ hello, {name}" in out and out
        )
        waited = [line for line in shown if "waiting:" in line]
        assert len(waited) == 1, shown
        assert f"{path}:3:1: cannot load ext://{name}-ext: ExtensionRepo '{name}-repo' is not ready" in waited[0]

        ext = api.get(EXTS, f"{name}-ext")
        assert ext["metadata"]["annotations"]["tilt.dev/managed-by"] == LOADER
        assert ext["spec"] == {"repoName": f"{name}-repo", "repoPath": "myext"}
        assert loaders(api, f"{name}-ext") == [("Tiltfile", name, False)]
        status = eventually(lambda: (s := api.status(EXTS, f"{name}-ext")) and ready(s) == "True" and s)
        assert condition(status)["reason"] == "TiltfileFound"
        assert api.get(TF, f"{name}-ext") is None, "an Extension that is loaded runs no Tiltfile of its own"
    finally:
        api.delete(TF, name)
    eventually(lambda: api.get(EXTS, f"{name}-ext") is None, timeout=60, what="GC of the loaded Extension")


def test_tiltfiles_loading_one_extension_share_it_until_the_last_of_them_goes(
    cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, name: str
):
    files = {
        "lib/Tiltfile": "def greet(who):\n    print('hi ' + who)\n",
        "a/Tiltfile": f"load('ext://{name}/lib', 'greet')\ngreet('a')\n",
        "b/Tiltfile": f"load('ext://{name}/lib', 'greet')\ngreet('b')\n",
    }
    git_server.create_repo(f"{name}-repo", files)
    api.create(REPOS, repo(f"{name}-repo", git_server.url(f"{name}-repo"), loadHost=name))
    for user in ("a", "b"):
        api.create(EXTS, extension(f"{name}-{user}", f"{name}-repo", user))
    shared = f"{name}-lib"
    try:
        for user in ("a", "b"):
            eventually(lambda user=user: ready(api.status(EXTS, f"{name}-{user}")) == "True", timeout=60, what=user)
        eventually(lambda: loaders(api, shared) == [("Tiltfile", f"{name}-a", False), ("Tiltfile", f"{name}-b", False)])
        lib = api.get(EXTS, shared)
        assert lib["metadata"]["annotations"] == {"tilt.dev/managed-by": LOADER, "tilt.dev/name": f"{name}_lib"}
        assert lib["spec"] == {"repoName": f"{name}-repo", "repoPath": "lib"}
        status = eventually(lambda: (s := api.status(EXTS, shared)) and ready(s) == "True" and s)
        assert condition(status)["message"].startswith(f"loaded by Tiltfile {name}-a, {name}-b: ")
        table = cluster.kubectl("get", "extensions", shared).stdout.splitlines()
        assert table[1].split()[:4] == [shared, f"{name}-repo", "lib", "True"], "what was loaded, and from where"

        api.delete(EXTS, f"{name}-a")
        eventually(
            lambda: loaders(api, shared) == [("Tiltfile", f"{name}-b", False)], timeout=60, what="a's reference gone"
        )
        api.delete(EXTS, f"{name}-b")
        eventually(lambda: loaders(api, shared) is None, timeout=60, what="the shared Extension gone with b")
    finally:
        for user in ("a", "b"):
            api.delete(EXTS, f"{name}-{user}")
        api.delete(REPOS, f"{name}-repo")


def test_an_extension_the_run_registered_wins_over_the_default_repo(
    cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    which = "def which():\n    print('{} is loaded from {}')\n"
    git_server.create_repo(f"{name}-default", {f"{name}-ext/Tiltfile": which.format(name, "default")})
    git_server.create_repo(f"{name}-mine", {"impl/Tiltfile": which.format(name, "mine")})
    api.create(REPOS, repo("default", git_server.url(f"{name}-default")))
    try:
        eventually(lambda: ready(api.status(REPOS, "default")) == "True", timeout=60, what="the repo default")
        path = write(
            tmp_path / "Tiltfile",
            f"v1alpha1.extension_repo(name='{name}-mine', url='{git_server.url(f'{name}-mine')}')\n"
            f"v1alpha1.extension(name='{name}-ext', repo_name='{name}-mine', repo_path='impl')\n"
            f"load('ext://{name}-ext', 'which')\n"
            "which()\n",
        )
        api.create(TF, tiltfile(name, str(path)))
        state = terminated(api, name)
        assert "error" not in state, state
        shown = lines_of(logs(cluster, operator, name))
        assert f"{name} │ {name} is loaded from mine" in shown
        assert not any("from default" in line for line in shown)
        assert api.get(EXTS, f"{name}-ext")["spec"] == {"repoName": f"{name}-mine", "repoPath": "impl"}
    finally:
        api.delete(TF, name)
        api.delete(REPOS, "default")
