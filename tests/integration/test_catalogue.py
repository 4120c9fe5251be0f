"""Discovering extensions on the real API server: a repo's catalogue, `kubectl tilt search` and `show`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests import catalogue_repo
from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api, extension, repo
from tests.integration.test_logs import cli_env
from tilt_operator import timestamps
from tilt_operator.devcluster import DevCluster
from tilt_operator.gitstore import catalogue

REPOS = "extensionrepos"


def listed(api: Api, name: str, count: int, timeout: float = 120) -> dict:
    """The repo's status once it lists ``count`` extensions."""
    return eventually(
        lambda: (status := api.status(REPOS, name)).get("extensionCount") == count and status,
        timeout=timeout,
        what=f"{name} to list {count} extensions",
    )


def kubectl_tilt(cluster: DevCluster, operator: Operator, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(cluster, operator)
    return subprocess.run(["kubectl-tilt", *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_repo_shaped_like_tilts_lists_its_extensions_and_a_new_commit_updates_the_list(
    cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    work = git_server.create_repo(name, {"README.md": "# Extensions\n"})
    paths = catalogue_repo.make(work)
    (work / "binary_readme").mkdir()
    (work / "binary_readme" / "Tiltfile").write_text("")
    (work / "binary_readme" / "README.md").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    (outside / "secret" / "Tiltfile").write_text("")
    (outside / "secret" / "README.md").write_text("Never listed.\n")
    (work / "escape").symlink_to(outside / "secret")  # committed as a symlink out of the repo
    git_server.commit(work, {}, "sixty extensions")
    api.create(REPOS, repo(name, git_server.url(name)))

    status = listed(api, name, 61)
    entries = {entry["path"]: entry for entry in status["extensions"]}
    assert sorted(entries) == sorted([*paths, "binary_readme"])  # no escape, no test/ Tiltfiles
    assert entries["cancel"] == {
        "name": "cancel",
        "path": "cancel",
        "description": catalogue_repo.description("cancel"),
    }
    assert entries["k8s/cert_manager"]["name"] == "cert-manager"
    assert entries["binary_readme"]["description"] == ""
    assert "extensionsNote" not in status
    columns = cluster.kubectl("get", "extensionrepo", name).stdout.splitlines()
    assert columns[0].split()[:5] == ["NAME", "URL", "REF", "COMMIT", "EXTENSIONS"]
    assert columns[1].split()[3] == "61"

    git_server.commit(work, {"added_later/Tiltfile": "", "added_later/README.md": "Added later.\n"}, "one more")
    api.patch(REPOS, name, {"metadata": {"annotations": {"tilt.dev/reconcile-requested-at": timestamps.now()}}})
    added = {entry["path"]: entry for entry in listed(api, name, 62)["extensions"]}
    assert added["added_later"]["description"] == "Added later."


def test_git_subpath_scopes_the_catalogue(api: Api, operator: Operator, git_server: GitServer, name: str):
    git_server.create_repo(
        name,
        {"extensions/one/Tiltfile": "", "extensions/one/README": "One.\n", "other/two/Tiltfile": ""},
    )
    api.create(REPOS, repo(name, git_server.url(name), gitSubpath="extensions"))
    assert listed(api, name, 1)["extensions"] == [{"name": "one", "path": "one", "description": "One."}]


def test_5000_directories_stop_at_the_cap_with_a_note(api: Api, operator: Operator, git_server: GitServer, name: str):
    files = {f"group-{index // 100:02}/ext-{index:04}/Tiltfile": "" for index in range(5000)}
    git_server.create_repo(name, files)
    api.create(REPOS, repo(name, git_server.url(name)))
    status = listed(api, name, catalogue.MAX_EXTENSIONS, timeout=180)
    assert status["extensionsNote"] == f"only the first {catalogue.MAX_EXTENSIONS} extensions are listed"


def test_search_and_show(cluster: DevCluster, api: Api, operator: Operator, git_server: GitServer, name: str):
    readme = "# Cancel\n\nA **Cancel** button on every [Cmd](https://docs.tilt.dev).\n\nMore.\n"
    git_server.create_repo(
        name,
        {
            "cancel/Tiltfile": "",
            "cancel/README.md": readme,
            "restart/Tiltfile": "",
            "restart/README": "Restarts a process.\n",
        },
    )
    api.create(REPOS, repo(name, git_server.url(name)))
    listed(api, name, 2)
    api.create("extensions", extension(f"{name}-cancel", name, "cancel"))

    found = kubectl_tilt(cluster, operator, "search", name)
    assert found.returncode == 0, found.stderr
    first = len(f"{name}/restart")  # the widest in the first column; the description's is 29
    assert found.stdout.splitlines() == [
        f"{'EXTENSION'.ljust(first)}   DESCRIPTION                     INSTALLED",
        f"{f'{name}/cancel'.ljust(first)}   A Cancel button on every Cmd.   {name}-cancel",
        f"{name}/restart   Restarts a process.",
    ]
    only = kubectl_tilt(cluster, operator, "search", "RESTARTS", "-o", "json")
    assert [entry for entry in json.loads(only.stdout) if entry["repo"] == name] == [
        {"repo": name, "path": "restart", "name": "restart", "description": "Restarts a process.", "installed": []}
    ]
    nothing = kubectl_tilt(cluster, operator, "search", "no-such-thing-at-all")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (
        0,
        "",
        "No extensions found matching 'no-such-thing-at-all'\n",
    )

    shown = kubectl_tilt(cluster, operator, "show", f"{name}/cancel")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{name}/cancel"
    directory = Path(lines[1].removeprefix("path: "))
    assert (directory / "Tiltfile").is_file()
    assert directory.is_relative_to(operator.data_dir)
    assert "\n".join(lines[3:]) == readme.rstrip("\n")
    missing = kubectl_tilt(cluster, operator, "show", f"{name}/nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == f"error: repo {name} offers no extension at 'nope': `kubectl tilt search` lists them\n"
