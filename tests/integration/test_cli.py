"""``kubectl tilt`` on the real API server, run as a user runs it: the installed script, and through kubectl."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, button, obj, ready
from tilt_operator.devcluster import DevCluster

BIN = Path(sys.executable).parent
KUBECTL_TILT = BIN / "kubectl-tilt"
EXTS, REPOS, TILTFILES = "extensions", "extensionrepos", "tiltfiles"


def kubectl_tilt(kubeconfig: Path, *args: str, kubectl: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user types it: ``kubectl-tilt …``, or ``kubectl tilt …`` with the plugin on PATH."""
    command = [str(kubectl), "tilt"] if kubectl else [str(KUBECTL_TILT)]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def succeeds(cluster: DevCluster, *args: str) -> str:
    result = kubectl_tilt(cluster.kubeconfig, *args)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout


def fails(kubeconfig: Path, *args: str) -> str:
    """The one error line of a command that must fail with exit code 1."""
    result = kubectl_tilt(kubeconfig, *args)
    assert (result.returncode, result.stdout) == (1, ""), result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr.removeprefix("error: ").rstrip("\n")


def ready_status(api: Api, plural: str, name: str) -> dict:
    def check() -> dict | None:
        status = api.status(plural, name)
        return status if ready(status) == "True" else None

    return eventually(check, timeout=60, what=f"{plural}/{name} to be ready")


@pytest.fixture
def exts_dir(tmp_path: Path, name: str) -> Path:
    """A file:// repo with one extension, named after the test so its cluster-scoped objects are too."""
    (tmp_path / "exts" / f"{name}-ext").mkdir(parents=True)
    (tmp_path / "exts" / f"{name}-ext" / "Tiltfile").write_text("print('hello from the extension')\n")
    return tmp_path / "exts"


def test_create_makes_what_the_tiltfile_would_and_the_operator_reconciles_it(
    cluster: DevCluster, api: Api, operator: Operator, exts_dir: Path, tmp_path: Path, name: str
):
    team, ext = f"{name}_team", f"{name}-ext"
    url = f"file://{exts_dir}"
    assert succeeds(cluster, "create", "repo", team, url) == f"extensionrepo.tilt.dev/{name}-team created\n"
    assert succeeds(cluster, "create", "ext", f"{team}/{ext}") == f"extension.tilt.dev/{ext} created\n"
    try:
        (tmp_path / "Tiltfile").write_text(
            f"extension_repo(name='{team}', url='{url}')\n"
            f"extension(name='{ext}', repo_name='{team}', repo_path='{ext}')\n"
        )
        rendered = list(yaml.safe_load_all(succeeds(cluster, "render", str(tmp_path), "--from-cluster")))
        for want, plural in zip(rendered, (REPOS, EXTS), strict=True):
            stored = api.get(plural, want["metadata"]["name"])
            assert stored["spec"] == want["spec"]
            assert want["metadata"].get("annotations", {}).items() <= stored["metadata"].get("annotations", {}).items()
        assert api.get(REPOS, f"{name}-team")["metadata"]["annotations"]["tilt.dev/name"] == team

        assert ready_status(api, REPOS, f"{name}-team")["path"] == str(exts_dir)
        assert ready_status(api, EXTS, ext)["path"] == str(exts_dir / ext / "Tiltfile")
        ready_status(api, TILTFILES, ext)
        table = [line.split() for line in succeeds(cluster, "get").splitlines()]
        assert ["ExtensionRepo", f"{name}-team", "True", url] in table
        assert ["Extension", ext, "True", f"{name}-team/{ext}"] in table
        assert ["Tiltfile", ext, "True", str(exts_dir / ext / "Tiltfile")] in table
    finally:
        succeeds(cluster, "delete", "ext", ext, "--ignore-not-found")
        succeeds(cluster, "delete", "repo", team, "--ignore-not-found")
    assert api.get(EXTS, ext) is None
    assert api.get(REPOS, f"{name}-team") is None
    eventually(lambda: api.get(TILTFILES, ext) is None, what="the owned Tiltfile to go with its Extension")


def test_kubectl_finds_the_plugin_on_path(cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str):
    kubectl = cluster.binaries.kubectl
    dry = kubectl_tilt(
        cluster.kubeconfig,
        "create",
        "repo",
        name,
        f"file://{tmp_path}",
        "--dry-run=client",
        "-o",
        "yaml",
        kubectl=kubectl,
    )
    assert dry.returncode == 0, dry.stderr
    assert yaml.safe_load(dry.stdout)["spec"] == {"url": f"file://{tmp_path}"}
    assert api.get(REPOS, name) is None

    created = kubectl_tilt(cluster.kubeconfig, "create", "repo", name, f"file://{tmp_path}", kubectl=kubectl)
    assert (created.returncode, created.stdout) == (0, f"extensionrepo.tilt.dev/{name} created\n"), created.stderr
    try:
        ready_status(api, REPOS, name)
        listed = kubectl_tilt(cluster.kubeconfig, "get", "repo", kubectl=kubectl)
        assert ["ExtensionRepo", name, "True", f"file://{tmp_path}"] in [
            line.split() for line in listed.stdout.splitlines()
        ]
    finally:
        deleted = kubectl_tilt(cluster.kubeconfig, "delete", "repo", name, kubectl=kubectl)
    assert (deleted.returncode, deleted.stdout) == (0, f"extensionrepo.tilt.dev/{name} deleted\n"), deleted.stderr
    assert api.get(REPOS, name) is None


def test_click_starts_a_cmd_waiting_for_that_button(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    clicked = tmp_path / "clicked"
    api.create("uibuttons", button(f"{name}.go"))
    start_on = {"uiButtons": [f"{name}.go"], "startAfter": "2020-01-01T00:00:00.000000Z"}
    api.create("cmds", obj("Cmd", name, {"args": ["touch", str(clicked)], "startOn": start_on}))
    try:
        eventually(lambda: api.status("cmds", name).get("waiting"), what="the Cmd to wait for its button")
        assert not clicked.exists()
        assert succeeds(cluster, "click", f"{name}:go") == f"uibutton.tilt.dev/{name}.go clicked\n"
        assert api.status("uibuttons", f"{name}.go")["lastClickedAt"]
        eventually(clicked.exists, what="the Cmd started by the click to run")
        eventually(lambda: api.status("cmds", name).get("terminated"), what="the Cmd to finish")
    finally:
        api.delete("cmds", name)
        api.delete("uibuttons", f"{name}.go")


def test_bad_input_is_one_error_line_and_exit_code_1(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, name: str
):
    kubeconfig = cluster.kubeconfig
    assert fails(kubeconfig, "create", "ext", f"{name}-missing/{name}") == (
        f"extension repo not found: {name}-missing (create it first: kubectl tilt create repo {name}-missing URL)"
    )
    assert api.get(EXTS, name) is None
    assert fails(kubeconfig, "create", "repo", name, "git@github.com:org/repo.git") == (
        "invalid url: scp-style addresses are not supported: write it as ssh://git@github.com/org/repo.git "
        "(with spec.secretRef), or use the repo's https url"
    )
    assert fails(kubeconfig, "create", "repo", name, f"file://{tmp_path}/gone") == (
        f"invalid url: {tmp_path}/gone is not an existing directory"
    )
    assert api.get(REPOS, name) is None
    succeeds(cluster, "create", "repo", name, f"file://{tmp_path}")
    try:
        assert fails(kubeconfig, "create", "repo", name, f"file://{tmp_path}") == (
            f'extensionrepos.tilt.dev "{name}" already exists'
        )
    finally:
        succeeds(cluster, "delete", "repo", name)
    assert fails(kubeconfig, "delete", "repo", name) == f'extensionrepos.tilt.dev "{name}" not found'
    assert fails(kubeconfig, "click", name) == f'uibuttons.tilt.dev "{name}" not found'


def test_a_cluster_that_is_down_is_one_error_line_and_exit_code_1(cluster: DevCluster, tmp_path: Path):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    down = tmp_path / "kubeconfig"
    down.write_text(yaml.safe_dump(config))
    refused = "cannot reach the API server at https://127.0.0.1:1: Connection refused"
    assert fails(down, "get") == refused
    assert fails(down, "create", "repo", "r", f"file://{tmp_path}") == refused
    assert fails(down, "click", "b") == refused
    assert fails(tmp_path / "missing-kubeconfig", "get").startswith("no kubeconfig: ")
