"""ExtensionRepo against the real API server: fetching over real https, file:// repos, hostile input, outages."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.gitserver import GitServer, git
from tests.integration.objects import Api, extension, ready, repo
from tilt_operator.devcluster import DevCluster
from tilt_operator.gitstore.layout import old_checkout_dir

REPOS = "extensionrepos"
# Finds its root as helm_remote, git_resource and pypiserver do, up from its own directory to the
# one that holds tilt_modules, then loads a file of its repo by way of that root.
WALKER = """\
config.define_string('checkout')
cfg = config.parse()

def modules_root(start):
    here = start
    while not os.path.exists(os.path.join(here, 'tilt_modules')):
        if os.path.dirname(here) == here:
            fail('no tilt_modules above ' + start)
        here = os.path.dirname(here)
    return here

shared = os.path.join(modules_root(os.getcwd()), 'tilt_modules', cfg['checkout'], 'shared')
greeting = load_dynamic(os.path.join(shared, 'greeting.star'))['GREETING']
ui_button(name='BUTTON', text=greeting, location={'component_type': 'Global', 'component_id': 'x'})
"""


def wait_settled(api: Api, name: str, timeout: float = 60) -> dict:
    """The status once the operator has decided Ready one way or the other for the current generation."""

    def settled() -> dict | None:
        body = api.get(REPOS, name) or {}
        status = body.get("status", {})
        generation = body.get("metadata", {}).get("generation")
        return status if ready(status) and status.get("observedGeneration") == generation else None

    return eventually(settled, timeout=timeout, what=f"ExtensionRepo {name} to settle")


def files_under(directory: Path) -> set[Path]:
    """Every path below ``directory``; other repos' fetches create and remove temp dirs meanwhile."""
    found: set[Path] = set()
    for root, dirs, files in os.walk(directory):
        found |= {Path(root) / name for name in (*dirs, *files)}
    return found


@pytest.fixture
def remote(git_server: GitServer, name: str) -> tuple[str, Path, str]:
    """A repo on the https server with a main branch and a tag v1; returns (url, work tree, first commit)."""
    work = git_server.create_repo(name, {"hello/Tiltfile": "print('v1')\n"})
    git("tag", "v1", cwd=work)
    git("push", "-q", "origin", "v1", cwd=work)
    return git_server.url(name), work, git("rev-parse", "HEAD", cwd=work)


def test_https_branch_tag_and_commit_pins_each_get_their_own_checkout(
    api: Api, operator: Operator, git_server: GitServer, remote: tuple[str, Path, str], name: str
):
    url, work, first = remote
    git("checkout", "-q", "-b", "feature", cwd=work)
    feature = git_server.commit(work, {"hello/Tiltfile": "print('feature')\n"}, "on a branch")
    git("checkout", "-q", "main", cwd=work)
    second = git_server.commit(work, {"hello/Tiltfile": "print('v2')\n"}, "main moves on")
    pins = {  # suffix: (ref, commit expected, Tiltfile expected)
        "unpinned": ("", second, "print('v2')\n"),
        "branch": ("feature", feature, "print('feature')\n"),
        "tag": ("v1", first, "print('v1')\n"),
        "commit": (first, first, "print('v1')\n"),
    }
    for suffix, (ref, _, _) in pins.items():
        api.create(REPOS, repo(f"{name}-{suffix}", url, ref=ref) if ref else repo(f"{name}-{suffix}", url))
    paths = set()
    for suffix, (_, commit, content) in pins.items():
        status = wait_settled(api, f"{name}-{suffix}")
        assert ready(status) == "True", status
        assert status["checkoutRef"] == commit, suffix
        assert "error" not in status
        path = Path(status["path"])
        assert path.is_relative_to(operator.data_dir)
        assert (path / "hello" / "Tiltfile").read_text() == content
        datetime.datetime.fromisoformat(status["lastFetchedAt"])
        paths.add(path)
    assert len(paths) == len(pins), "two refs of one URL must never share a working tree"


def test_a_new_commit_is_picked_up_after_the_interval_and_pins_do_not_move(
    api: Api, operator: Operator, git_server: GitServer, remote: tuple[str, Path, str], name: str
):
    url, work, first = remote
    api.create(REPOS, repo(f"{name}-follow", url, interval="1s"))
    api.create(REPOS, repo(f"{name}-tag", url, ref="v1", interval="1s"))
    api.create(REPOS, repo(f"{name}-commit", url, ref=first, interval="1s"))
    for suffix in ("follow", "tag", "commit"):
        assert wait_settled(api, f"{name}-{suffix}")["checkoutRef"] == first
    second = git_server.commit(work, {"hello/Tiltfile": "print('v2')\n"}, "second")

    status = eventually(
        lambda: (s := api.status(REPOS, f"{name}-follow")).get("checkoutRef") == second and s,
        timeout=30,
        what="the unpinned repo to move to the new commit",
    )
    assert (Path(status["path"]) / "hello" / "Tiltfile").read_text() == "print('v2')\n"
    # The pinned repos had the same interval, and more: they stay where they were pinned.
    for suffix in ("tag", "commit"):
        pinned = api.status(REPOS, f"{name}-{suffix}")
        assert pinned["checkoutRef"] == first
        assert (Path(pinned["path"]) / "hello" / "Tiltfile").read_text() == "print('v1')\n"


def test_the_requested_at_annotation_forces_a_fetch_now(
    api: Api, operator: Operator, git_server: GitServer, remote: tuple[str, Path, str], name: str
):
    url, work, first = remote
    api.create(REPOS, repo(name, url, interval="1h"))
    assert wait_settled(api, name)["checkoutRef"] == first
    second = git_server.commit(work, {"more": "x"}, "second")
    api.patch(REPOS, name, {"metadata": {"annotations": {"tilt.dev/reconcile-requested-at": "now-1"}}})
    eventually(lambda: api.status(REPOS, name).get("checkoutRef") == second, timeout=30, what="the forced fetch")


def test_a_checkout_is_where_tilt_keeps_it_and_an_extension_that_walks_up_to_tilt_modules_runs(
    api: Api, operator: Operator, git_server: GitServer, name: str
):
    button = f"{name}-walked"
    files = {"walker/Tiltfile": WALKER.replace("BUTTON", button), "shared/greeting.star": "GREETING = 'found'\n"}
    git_server.create_repo(name, files)
    checkout = f"127.0.0.1_{git_server.port}/{name}.git@HEAD"
    api.create(REPOS, repo(f"{name}-repo", git_server.url(name)))
    api.create("extensions", extension(name, f"{name}-repo", "walker", args=["--checkout", checkout]))

    status = wait_settled(api, f"{name}-repo")
    assert status["path"] == str(operator.data_dir.resolve() / "tilt_modules" / checkout)

    def extension_ready() -> dict:
        status = api.status("extensions", name)
        assert ready(status) == "True", status.get("error") or status
        return status

    eventually(extension_ready, timeout=60, what=f"Extension {name} to be Ready")
    assert api.get("uibuttons", button)["spec"]["text"] == "found"


def test_an_operator_started_on_the_old_layout_moves_each_checkout_instead_of_fetching_it(
    api: Api, operator: Operator, remote: tuple[str, Path, str], name: str
):
    url, _, first = remote
    api.create(REPOS, repo(name, url, interval="1h"))
    served = wait_settled(api, name)
    path = Path(served["path"])
    inode = path.stat().st_ino
    old = operator.data_dir.resolve() / "repos" / old_checkout_dir(url, "", None)
    operator.stop()
    try:  # what an earlier version left: the checkout and its check stamp in repos/, a status naming it
        old.parent.mkdir(parents=True, exist_ok=True)
        path.rename(old)
        (path.parent / f".{path.name}.checked").rename(old.parent / f".{old.name}.checked")
        api.patch_status(REPOS, name, {"path": str(old)})
    finally:
        operator.start()

    moved = eventually(
        lambda: (s := api.status(REPOS, name)).get("path") == str(path) and s, timeout=60, what="the status to follow"
    )
    assert path.stat().st_ino == inode, "the same tree, moved: not fetched again"
    assert (moved["checkoutRef"], moved["lastFetchedAt"]) == (first, served["lastFetchedAt"])
    assert (path / "hello" / "Tiltfile").read_text() == "print('v1')\n"
    assert not old.exists()
    assert f"moved {old} to {path}" in operator.log_text()


def test_a_file_repo_is_used_in_place(api: Api, operator: Operator, tmp_path: Path, name: str):
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "Tiltfile").write_text("print('hi')\n")
    before = files_under(operator.data_dir)
    api.create(REPOS, repo(name, f"file://{tmp_path}"))
    status = wait_settled(api, name)
    assert ready(status) == "True"
    assert status["path"] == str(tmp_path)
    assert "checkoutRef" not in status
    assert datetime.datetime.fromisoformat(status["lastFetchedAt"]).timestamp() == pytest.approx(
        tmp_path.stat().st_mtime, abs=1
    )
    assert files_under(operator.data_dir) == before, "a file:// repo is never copied"


def test_a_ref_on_a_file_repo_is_an_error(api: Api, operator: Operator, tmp_path: Path, name: str):
    api.create(REPOS, repo(name, f"file://{tmp_path}", ref="main"))
    status = wait_settled(api, name)
    assert ready(status) == "False"
    assert status["error"] == "invalid spec: ref is not supported for file:// repos; remove it"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://-uexploit", "invalid url:"),
        ("https://example.com/ext::sh -c touch% /tmp/pwned", "invalid url:"),
        ("https://example.com/x --upload-pack=touch /tmp/pwned", "invalid url:"),
        ("https://example.com/$HOME/repo", "invalid url:"),
        ("https://example.com/a\r\nb", "invalid url:"),
        ("https://user:secret@example.com/repo", "invalid url:"),
        ("file:///does/not/exist", "invalid url:"),
        ("https://127.0.0.1:1/unreachable.git", "fetch: cannot reach https://127.0.0.1:1/unreachable.git"),
    ],
)
def test_hostile_and_broken_urls_end_in_a_clear_error(api: Api, operator: Operator, name: str, url: str, message: str):
    outside = {operator.home: files_under(operator.home)}
    api.create(REPOS, repo(name, url))
    status = wait_settled(api, name)
    assert ready(status) == "False"
    assert status["error"].startswith(message), status["error"]
    assert "secret" not in status["error"]
    assert not Path("/tmp/pwned").exists()
    assert {d: files_under(d) for d in outside} == outside, "nothing may be written outside the data dir"
    assert operator.process.poll() is None


def test_urls_git_would_execute_are_refused_by_the_api_server(cluster: DevCluster, name: str):
    for url in ("ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/pwned", "file://relative/dir"):
        result = cluster.kubectl("create", "-f", "-", stdin=str(repo(name, url)).replace("'", '"'), check=False)
        assert result.returncode != 0
        assert "url must start with https://, ssh:// or file:///" in result.stderr


def test_a_missing_ref_and_an_empty_repository_are_errors(
    api: Api, operator: Operator, git_server: GitServer, name: str
):
    work = git_server.create_repo(name, {"a": "b"})
    api.create(REPOS, repo(f"{name}-ref", git_server.url(name), ref="no-such-ref"))
    assert work
    empty = git_server.root / f"{name}-empty.git"
    git("init", "--bare", str(empty))
    api.create(REPOS, repo(f"{name}-empty", git_server.url(f"{name}-empty")))
    missing = wait_settled(api, f"{name}-ref")
    assert ready(missing) == "False"
    assert missing["error"] == f"fetch: ref 'no-such-ref' not found in {git_server.url(name)}"
    empty_status = wait_settled(api, f"{name}-empty")
    assert ready(empty_status) == "False"
    assert empty_status["error"] == f"fetch: repository {git_server.url(name + '-empty')} is empty: push a commit to it"


def test_a_repo_stays_served_while_its_server_is_down(
    api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    server = GitServer(tmp_path, pki_dir=git_server.pki.directory)
    server.create_repo(name, {"Tiltfile": "print(1)\n"})
    server.start()
    try:
        api.create(REPOS, repo(name, server.url(name), interval="1s"))
        served = wait_settled(api, name)
        assert ready(served) == "True"
        server.stop()
        stale = eventually(
            lambda: (s := api.status(REPOS, name)).get("staleReason") and s, timeout=30, what="staleReason"
        )
        assert stale["staleReason"].startswith(f"fetch: cannot reach {server.url(name)}")
        assert ready(stale) == "True"
        assert stale["path"] == served["path"]
        assert stale["checkoutRef"] == served["checkoutRef"]
        assert (Path(stale["path"]) / "Tiltfile").is_file()
        server.start()
        eventually(lambda: "staleReason" not in api.status(REPOS, name), timeout=30, what="staleReason to clear")
    finally:
        server.stop()


def test_an_operator_killed_mid_clone_converges_without_a_half_checkout(
    api: Api, operator: Operator, git_server: GitServer, tmp_path: Path, name: str
):
    server = GitServer(tmp_path, pki_dir=git_server.pki.directory)
    # Incompressible content so the pack is large enough to be caught in flight.
    server.create_repo(name, {"Tiltfile": "print(1)\n", "blob": os.urandom(4 * 1024 * 1024).hex()})
    server.throttle = 0.05
    server.start()
    try:
        api.create(REPOS, repo(name, server.url(name)))
        repos_dir = operator.data_dir / "tilt_modules"
        in_flight = eventually(
            lambda: [p for p in files_under(repos_dir) if ".tmp-" in p.name and p.is_dir()],
            timeout=60,
            what="a clone to be in flight",
        )
        operator.kill()
        final = repos_dir / f"127.0.0.1_{server.port}" / f"{name}.git@HEAD"
        assert not final.exists(), f"a half checkout is at its final path (in flight: {in_flight})"
        server.stop()
        server.throttle = 0.0
        server.start()
        operator.start()
        status = wait_settled(api, name, timeout=120)
        assert ready(status) == "True", status
        assert (Path(status["path"]) / "Tiltfile").read_text() == "print(1)\n"
        eventually(
            # Directories only: a checkout of a repo at /tmp/... has a lock file called .tmp-....lock.
            lambda: not [p for p in files_under(repos_dir) if ".tmp-" in p.name and p.is_dir()],
            timeout=30,
            what="the leftover temp dir to be removed",
        )
    finally:
        server.stop()
        if operator.process is None or operator.process.poll() is not None:
            operator.start()


def test_deleting_a_repo_leaves_its_checkout_on_disk(api: Api, operator: Operator, remote, name: str):
    url, _, _ = remote
    api.create(REPOS, repo(name, url))
    path = Path(wait_settled(api, name)["path"])
    api.delete(REPOS, name)
    eventually(lambda: api.get(REPOS, name) is None, what="the repo to be deleted")
    assert (path / "hello" / "Tiltfile").is_file()


def test_a_restarted_operator_rewrites_nothing(api: Api, operator: Operator, remote, name: str):
    """Steady state: reconciling a settled repo again (on resume) leaves the object untouched."""
    url, _, _ = remote
    api.create(REPOS, repo(name, url, interval="1h"))
    wait_settled(api, name)
    before = api.get(REPOS, name)["metadata"]["resourceVersion"]
    operator.restart_and_resume(name, "ExtensionRepo")
    assert api.get(REPOS, name)["metadata"]["resourceVersion"] == before


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("https://127.0.0.1:1/" + "a" * 5000, "fetch: cannot reach https://127.0.0.1:1/aaa"),
        ("https://example.com/" + "a" * 5000 + "?x", "invalid url: url must not contain a query"),
        ("file:///" + "a" * 5000, "invalid url: /aaa"),
    ],
    ids=["unreachable", "query", "file"],
)
def test_a_long_url_is_never_echoed_whole(
    cluster: DevCluster, api: Api, operator: Operator, name: str, url: str, start: str
):
    """Not in status.error, the operator's log or an Event: a user's 5,000 characters come back clipped."""
    log_start = len(operator.log_text())
    api.create(REPOS, repo(name, url))
    status = wait_settled(api, name)
    assert ready(status) == "False"
    assert status["error"].startswith(start), status["error"][:300]
    assert len(status["error"]) < 600
    eventually(lambda: f"[{name}]" in operator.log_text()[log_start:], what="the failure in the operator's log")
    assert "a" * 300 not in operator.log_text()[log_start:]
    events = cluster.kubectl("get", "events", "-A", f"--field-selector=involvedObject.name={name}", "-o", "json")
    assert "a" * 300 not in events.stdout
