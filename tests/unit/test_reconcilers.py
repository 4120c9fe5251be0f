"""Every kind's reconciler without a cluster: a fake API server that counts calls, real files and processes.

Each kind has a steady-state test: once settled, reconciling again calls nothing that writes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.unit.fakes import FakeCluster
from tilt_operator import reasons, timestamps
from tilt_operator.api import ANNOTATION_REQUESTED_AT, CMD, EXTENSION, EXTENSION_REPO, shipped_crds
from tilt_operator.config import Settings
from tilt_operator.engine.pool import WorkerPool
from tilt_operator.gitstore.credentials import Credentials
from tilt_operator.gitstore.store import Checkout
from tilt_operator.kube import ClusterAccess
from tilt_operator.logstore import LogStore
from tilt_operator.processes import LocalLauncher, alive
from tilt_operator.reconcilers import relations as relation
from tilt_operator.reconcilers.cmd import EXEC_DISABLED, CmdReconciler
from tilt_operator.reconcilers.extension import ExtensionReconciler
from tilt_operator.reconcilers.extensionrepo import ExtensionRepoReconciler
from tilt_operator.reconcilers.filewatch import FileWatcher
from tilt_operator.reconcilers.identities import Identities
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.relations import Relations
from tilt_operator.reconcilers.runrecords import RunRecords
from tilt_operator.reconcilers.status import StatusWriter, failed_status
from tilt_operator.reconcilers.tiltfile import TiltfileReconciler

T = TypeVar("T")
CRDS = shipped_crds()
COMMIT = "c" * 40


def identities(cluster: FakeCluster, tmp_path: Path, renewal: float | None = None) -> Identities:
    """Tokens from the fake's TokenRequest API, kubeconfigs under ``tmp_path``."""
    return Identities(
        client=cluster,
        namespace="tilt-operator",
        default="tilt-extension",
        directory=tmp_path / "identities",
        access=ClusterAccess("https://127.0.0.1:6443", b"CA PEM"),
        expiration=3600,
        renewal=renewal,
    )


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def status_of(cluster: FakeCluster, kind: str, name: str) -> dict[str, Any]:
    return cluster.get_object(kind, name).get("status") or {}


def ready(obj: dict[str, Any]) -> tuple[str, str]:
    [condition] = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    return condition["status"], condition["reason"]


def repo(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "ExtensionRepo", "metadata": {"name": name}, "spec": {"url": url, **spec}}


@dataclass
class FakeStore:
    path: Path
    syncs: int = 0
    since: float | None = None

    credentials: list[Credentials | None] = field(default_factory=list)

    def sync(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout:
        self.syncs += 1
        self.since = 0.0
        self.credentials.append(credentials)
        return Checkout(self.path, COMMIT, fetched=True)

    def current(self, url: str, ref: str, credentials: Credentials | None = None) -> Checkout | None:
        return Checkout(self.path, COMMIT, fetched=False) if self.syncs else None

    def seconds_since_check(self, url: str, ref: str, credentials: Credentials | None = None) -> float | None:
        return self.since

    def checkout_dir(self, url: str, ref: str, credentials: Credentials | None = None) -> Path:
        return self.path


def repos(cluster: FakeCluster, store: Any, tmp_path: Path) -> ExtensionRepoReconciler:
    settings = Settings(data_dir=tmp_path / "data", default_interval=300, file_roots=(tmp_path,))
    return ExtensionRepoReconciler(cache=cluster.cache(), writer=StatusWriter(cluster), store=store, settings=settings)


# ExtensionRepo.


def test_a_file_repo_is_ready_and_settles(tmp_path: Path):
    cluster = FakeCluster(repo("r", f"file://{tmp_path}"))
    reconcile = repos(cluster, FakeStore(tmp_path), tmp_path)
    run(reconcile("r"))
    assert ready(cluster.get_object("ExtensionRepo", "r")) == ("True", reasons.DIRECTORY_READY)
    writes = cluster.writes
    run(reconcile("r"))
    assert cluster.writes == writes, "a settled repo writes nothing"


def test_an_https_repo_is_fetched_once_then_rechecked_on_its_interval(tmp_path: Path):
    cluster = FakeCluster(repo("r", "https://example.com/r", interval="1m"))
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    first = run(reconcile("r"))
    assert store.syncs == 1
    assert first.requeue_after == 60
    status = cluster.get_object("ExtensionRepo", "r")["status"]
    assert status["checkoutRef"] == COMMIT
    writes = cluster.writes
    store.since = 20.0
    again = run(reconcile("r"))
    assert store.syncs == 1, "within its interval a repo is not fetched again"
    assert again.requeue_after == pytest.approx(40)
    assert cluster.writes == writes
    store.since = 61.0
    run(reconcile("r"))
    assert store.syncs == 2, "after its interval it is"


def test_a_repo_whose_checkout_moved_says_where_it_is_now_whatever_its_interval(tmp_path: Path):
    """An upgrade moves checkouts to the tilt_modules layout: statuses that name the old place follow at once."""
    cluster = FakeCluster(repo("r", "https://example.com/r", interval="1h"))
    store = FakeStore(tmp_path / "repos")
    store.path.mkdir()
    reconcile = repos(cluster, store, tmp_path)
    run(reconcile("r"))
    store.path, store.since = tmp_path / "tilt_modules", 1.0
    store.path.mkdir()
    run(reconcile("r"))
    assert store.syncs == 2
    assert status_of(cluster, "ExtensionRepo", "r")["path"] == str(tmp_path / "tilt_modules")


def test_a_repo_whose_reconcile_raised_is_fetched_on_the_retry_not_after_its_interval(tmp_path: Path):
    """The raise came after the fetch stamp was touched: the queue's backoff brings the repo back,
    and it must not wait its whole interval with a false status."""
    cluster = FakeCluster(repo("r", "https://example.com/r", interval="1h"))
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    run(reconcile("r"))
    obj = cluster.get_object("ExtensionRepo", "r")
    run(StatusWriter(cluster).write(EXTENSION_REPO, obj, failed_status(obj["status"], RuntimeError("scan"))))
    store.since = 1.0
    run(reconcile("r"))
    assert store.syncs == 2
    assert ready(cluster.get_object("ExtensionRepo", "r")) == ("True", reasons.CHECKOUT_READY)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_private_repo_waits_for_its_secret_and_fetches_as_soon_as_it_appears(tmp_path: Path):
    cluster = FakeCluster(repo("r", "https://example.com/r", secretRef={"name": "creds"}))
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    assert run(reconcile("r")) == Result(), "no retry: the Secret's watch event brings it back"
    status = cluster.get_object("ExtensionRepo", "r")["status"]
    assert ready(cluster.get_object("ExtensionRepo", "r")) == ("False", reasons.SECRET_NOT_FOUND)
    assert status["error"].startswith("Secret tilt-operator/creds not found")
    assert store.syncs == 0

    cluster.secrets["creds"] = {"bearerToken": _b64("t0ken"), "url": _b64("https://example.com/")}
    reconcile.secret_changed("r")
    run(reconcile("r"))
    assert ready(cluster.get_object("ExtensionRepo", "r")) == ("True", reasons.CHECKOUT_READY)
    (credentials,) = store.credentials
    assert credentials is not None
    assert (credentials.source, credentials.bearer_token) == ("tilt-operator/creds", "t0ken")


def test_a_changed_secret_fetches_at_once_whatever_the_interval(tmp_path: Path):
    cluster = FakeCluster(repo("r", "https://example.com/r", secretRef={"name": "creds"}))
    cluster.secrets["creds"] = {"username": _b64("alice"), "password": _b64("one"), "url": _b64("https://example.com")}
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    run(reconcile("r"))
    store.since = 1.0
    run(reconcile("r"))
    assert store.syncs == 1, "within its interval"
    cluster.secrets["creds"]["password"] = _b64("two")
    reconcile.secret_changed("r")
    run(reconcile("r"))
    assert store.syncs == 2
    assert [c.password for c in store.credentials if c] == ["one", "two"]


def test_a_secret_without_usable_keys_says_which_keys_are_expected(tmp_path: Path):
    cluster = FakeCluster(repo("r", "ssh://git@example.com/r", secretRef={"name": "creds"}))
    cluster.secrets["creds"] = {"username": _b64("alice"), "password": _b64("pw"), "url": _b64("ssh://git@example.com")}
    reconcile = repos(cluster, FakeStore(tmp_path), tmp_path)
    run(reconcile("r"))
    obj = cluster.get_object("ExtensionRepo", "r")
    assert ready(obj) == ("False", reasons.SECRET_INVALID)
    assert obj["status"]["error"] == (
        "Secret tilt-operator/creds has no usable ssh credentials: expected the keys identity (a private key) "
        "and known_hosts"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "Secret tilt-operator/creds has no url: name the URL prefix its credentials are for"),
        ("https://example.com/other", "Secret tilt-operator/creds is for https://example.com/other, not for"),
        ("https://example.com/r", "Secret tilt-operator/creds is for https://example.com/r, not for"),
        ("https://example.co", "Secret tilt-operator/creds is for https://example.co, not for"),
    ],
)
def test_credentials_go_only_to_urls_under_the_secrets_url(tmp_path: Path, url: str | None, message: str):
    """Argo CD's rule: a repo that names a Secret for other URLs (an extension's, say) gets nothing."""
    cluster = FakeCluster(repo("r", "https://example.com/r-other", secretRef={"name": "creds"}))
    cluster.secrets["creds"] = {"bearerToken": _b64("t0ken"), **({"url": _b64(url)} if url else {})}
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    assert run(reconcile("r")) == Result(), "Stalled: only a new Secret or spec helps"
    obj = cluster.get_object("ExtensionRepo", "r")
    assert ready(obj) == ("False", reasons.SECRET_URL_MISMATCH)
    assert obj["status"]["error"].startswith(message)
    assert "t0ken" not in str(obj["status"])
    assert store.syncs == 0, "nothing is sent"


def test_a_new_requested_at_fetches_now_and_is_acknowledged(tmp_path: Path):
    cluster = FakeCluster(repo("r", "https://example.com/r"))
    store = FakeStore(tmp_path)
    reconcile = repos(cluster, store, tmp_path)
    run(reconcile("r"))
    store.since = 1.0
    obj = cluster.get_object("ExtensionRepo", "r")
    cluster.put({**obj, "metadata": {**obj["metadata"], "annotations": {ANNOTATION_REQUESTED_AT: "now"}}})
    run(reconcile("r"))
    assert store.syncs == 2
    assert cluster.get_object("ExtensionRepo", "r")["status"]["lastHandledRequest"] == "now"
    run(reconcile("r"))
    assert store.syncs == 2, "a request is answered once"


# Extension.


def extension_setup(tmp_path: Path) -> tuple[FakeCluster, ExtensionReconciler]:
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "Tiltfile").write_text("print('hi')\n")
    cluster = FakeCluster(
        {**repo("r", f"file://{tmp_path}"), "status": {"path": str(tmp_path), "conditions": [_ready_condition()]}},
        {"kind": "Extension", "metadata": {"name": "e"}, "spec": {"repoName": "r", "repoPath": "hello"}},
    )
    return cluster, ExtensionReconciler(cache=cluster.cache(), writer=StatusWriter(cluster), client=cluster)


def _ready_condition(generation: int = 1, status: str = "True") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "X", "message": "", "observedGeneration": generation}


def test_an_extension_owns_its_tiltfile_and_waits_for_its_run(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    run(reconcile("e"))
    tiltfile = cluster.get_object("Tiltfile", "e")
    assert tiltfile["spec"]["path"] == str(tmp_path / "hello" / "Tiltfile")
    assert tiltfile["metadata"]["ownerReferences"][0]["uid"] == cluster.get_object("Extension", "e")["metadata"]["uid"]
    assert "status" not in cluster.get_object("Extension", "e"), "a quick first run needs no pending in between"
    cluster.set_status("Tiltfile", "e", {"running": {"reasons": ["initial"], "startedAt": timestamps.now()}})
    run(reconcile("e"))
    extension = cluster.get_object("Extension", "e")
    assert ready(extension) == ("False", reasons.TILTFILE_PENDING)
    assert "error" not in extension["status"]


def test_an_extension_is_ready_when_its_tiltfile_succeeded_and_then_settles(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    run(reconcile("e"))
    cluster.set_status("Tiltfile", "e", {"terminated": {}, "conditions": [_ready_condition()]})
    run(reconcile("e"))
    assert ready(cluster.get_object("Extension", "e")) == ("True", reasons.TILTFILE_SUCCEEDED)
    writes = dict(cluster.calls)
    run(reconcile("e"))
    assert dict(cluster.calls) == writes, "a settled Extension applies and writes nothing"


def test_an_extension_whose_tiltfile_failed_says_why(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    run(reconcile("e"))
    cluster.set_status(
        "Tiltfile",
        "e",
        {"terminated": {"error": "Tiltfile:1:1: boom"}, "conditions": [_ready_condition(status="False")]},
    )
    run(reconcile("e"))
    extension = cluster.get_object("Extension", "e")
    assert ready(extension) == ("False", reasons.TILTFILE_FAILED)
    assert extension["status"]["error"] == "tiltfile: Tiltfile:1:1: boom"


def test_an_extension_that_tiltfiles_load_runs_nothing_and_is_ready_once_its_tiltfile_is_there(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    run(reconcile("e"))
    assert cluster.get_object("Tiltfile", "e") is not None
    loaders = [{"kind": "Tiltfile", "name": name, "uid": f"u-{name}"} for name in ("t2", "t1")]
    extension = cluster.get_object("Extension", "e")
    extension["metadata"] |= {"annotations": {"tilt.dev/managed-by": "tiltfile.loader"}, "ownerReferences": loaders}
    cluster.put(extension)
    run(reconcile("e"))
    assert cluster.get_object("Tiltfile", "e") is None, "the Tiltfiles that load it run its code, as in Tilt"
    extension = cluster.get_object("Extension", "e")
    assert ready(extension) == ("True", reasons.TILTFILE_FOUND)
    [condition] = [c for c in extension["status"]["conditions"] if c["type"] == "Ready"]
    assert condition["message"] == f"loaded by Tiltfile t1, t2: {tmp_path / 'hello' / 'Tiltfile'}"
    writes = cluster.writes
    run(reconcile("e"))
    assert cluster.writes == writes


def test_an_extension_whose_tiltfile_waits_for_a_repo_is_pending_not_failed(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    run(reconcile("e"))
    waiting = {**_ready_condition(status="False"), "reason": reasons.REPO_NOT_READY, "message": "Tiltfile:3:1: x"}
    cluster.set_status(
        "Tiltfile", "e", {"waiting": {"reason": "waiting for ExtensionRepo r2"}, "conditions": [waiting]}
    )
    run(reconcile("e"))
    extension = cluster.get_object("Extension", "e")
    assert ready(extension) == ("False", reasons.TILTFILE_PENDING)
    assert "error" not in extension["status"]
    assert "Reconciling" in [c["type"] for c in extension["status"]["conditions"]]


def test_a_missing_repo_is_an_error_and_nothing_is_applied(tmp_path: Path):
    cluster = FakeCluster({"kind": "Extension", "metadata": {"name": "e"}, "spec": {"repoName": "r", "repoPath": "x"}})
    reconcile = ExtensionReconciler(cache=cluster.cache(), writer=StatusWriter(cluster), client=cluster)
    run(reconcile("e"))
    assert cluster.get_object("Extension", "e")["status"]["error"] == "extension repo not found: r"
    assert cluster.calls["apply Tiltfile"] == 0
    writes = cluster.writes
    run(reconcile("e"))
    assert cluster.writes == writes


# Tiltfile.


@dataclass
class Requeued:
    names: list[str] = field(default_factory=list)

    def __call__(self, name: str, delay: float = 0.0) -> None:
        self.names.append(name)


async def settle(reconcile: Callable[[str], Awaitable[Any]], name: str, requeued: Requeued, until: Callable[[], bool]):
    """Reconcile whenever something queued the object again, until ``until`` holds (the queue's job)."""
    await reconcile(name)
    for _ in range(200):
        if until():
            return
        if requeued.names:
            requeued.names.clear()
            await reconcile(name)
        else:
            await asyncio.sleep(0.05)
    raise AssertionError("did not settle")


def tiltfile_reconciler(
    cluster: FakeCluster, tmp_path: Path, requeued: Requeued, pool: WorkerPool
) -> TiltfileReconciler:
    return TiltfileReconciler(
        cache=cluster.cache(),
        writer=StatusWriter(cluster),
        client=cluster,
        settings=Settings(data_dir=tmp_path / "data", tiltfile_timeout=10),
        records=RunRecords(tmp_path / "records"),
        watcher=FileWatcher(requeued),
        requeue=requeued,
        pool=pool,
        logs=LogStore(tmp_path / "logs"),
        relations=Relations(),
        identities=identities(cluster, tmp_path),
    )


@contextlib.asynccontextmanager
async def running_tiltfiles(
    cluster: FakeCluster, tmp_path: Path, requeued: Requeued
) -> AsyncIterator[TiltfileReconciler]:
    """A Tiltfile reconciler with a warm host of its own, stopped afterwards."""
    pool = WorkerPool(size=1, memory_mb=256)
    pool.start()
    try:
        yield tiltfile_reconciler(cluster, tmp_path, requeued, pool)
    finally:
        await pool.stop()


def test_a_tiltfile_runs_applies_what_it_registers_and_settles(tmp_path: Path):
    path = tmp_path / "Tiltfile"
    path.write_text("ui_button(name='b', text='B', location={'component_type': 'Global', 'component_id': 'x'})\n")
    cluster = FakeCluster({"kind": "Tiltfile", "metadata": {"name": "t"}, "spec": {"path": str(path)}}, crds=CRDS)
    requeued = Requeued()

    async def scenario() -> None:
        async with running_tiltfiles(cluster, tmp_path, requeued) as reconcile:
            await settle(reconcile, "t", requeued, lambda: bool(status_of(cluster, "Tiltfile", "t").get("terminated")))
            status = status_of(cluster, "Tiltfile", "t")
            assert status["terminated"]["reasons"] == ["initial"]
            assert "error" not in status["terminated"]
            assert ready(cluster.get_object("Tiltfile", "t")) == ("True", reasons.RUN_SUCCEEDED)
            assert cluster.get_object("UIButton", "b")["metadata"]["ownerReferences"][0]["name"] == "t"
            calls = dict(cluster.calls)
            requeued.names.clear()
            await reconcile("t")
            assert dict(cluster.calls) == calls, "a settled Tiltfile writes nothing"
            # A due run would only start a task and queue the Tiltfile for later: that is what to look for.
            assert requeued.names == [], "a settled Tiltfile starts no run"

    run(scenario())


def test_a_tiltfile_loading_an_extension_of_a_repo_it_registers_waits_for_the_repo_then_runs_on(tmp_path: Path):
    (tmp_path / "myrepo" / "myext").mkdir(parents=True)
    (tmp_path / "myrepo" / "myext" / "Tiltfile").write_text("def hello():\n    cmd(name='hello', args=['true'])\n")
    path = tmp_path / "Tiltfile"
    path.write_text(
        f"v1alpha1.extension_repo(name='myrepo', url='file://{tmp_path / 'myrepo'}')\n"
        "v1alpha1.extension(name='myext', repo_name='myrepo', repo_path='myext')\n"
        "load('ext://myext', 'hello')\n"
        "hello()\n"
    )
    cluster = FakeCluster({"kind": "Tiltfile", "metadata": {"name": "t"}, "spec": {"path": str(path)}}, crds=CRDS)
    requeued = Requeued()

    async def scenario() -> None:
        async with running_tiltfiles(cluster, tmp_path, requeued) as reconcile:
            waiting = {"reason": "waiting for ExtensionRepo myrepo"}
            await settle(
                reconcile, "t", requeued, lambda: status_of(cluster, "Tiltfile", "t").get("waiting") == waiting
            )
            status = status_of(cluster, "Tiltfile", "t")
            assert ready(cluster.get_object("Tiltfile", "t")) == ("False", reasons.REPO_NOT_READY)
            assert "Reconciling" in [c["type"] for c in status["conditions"]]
            assert "Stalled" not in [c["type"] for c in status["conditions"]]
            assert cluster.get_object("ExtensionRepo", "myrepo") is not None, "what came before the load is applied"
            ext = cluster.get_object("Extension", "myext")
            assert ext["metadata"]["annotations"]["tilt.dev/managed-by"] == "tiltfile.loader"
            assert cluster.get_object("Cmd", "hello") is None
            requeued.names.clear()
            await reconcile("t")
            assert requeued.names == [], "no run until the repo is Ready"

            repo_status = {"path": str(tmp_path / "myrepo"), "conditions": [_ready_condition()]}
            cluster.set_status("ExtensionRepo", "myrepo", repo_status)
            await settle(reconcile, "t", requeued, lambda: bool(status_of(cluster, "Tiltfile", "t").get("terminated")))
            terminated = status_of(cluster, "Tiltfile", "t")["terminated"]
            assert terminated["reasons"] == ["ExtensionRepo myrepo ready"]
            assert "error" not in terminated
            assert ready(cluster.get_object("Tiltfile", "t")) == ("True", reasons.RUN_SUCCEEDED)
            assert cluster.get_object("Cmd", "hello") is not None, "the loaded function ran"

    run(scenario())


# Cmd.


def cmd_reconciler(
    cluster: FakeCluster, tmp_path: Path, requeued: Requeued | None = None, *, exec_enabled: bool = True
) -> CmdReconciler:
    """A Cmd reconciler over the fake, its processes this test's children, their accounts' tokens from the fake."""
    return CmdReconciler(
        cache=cluster.cache(),
        writer=StatusWriter(cluster),
        logs=LogStore(tmp_path / "logs"),
        exec_enabled=exec_enabled,
        requeue=requeued or Requeued(),
        identities=identities(cluster, tmp_path),
        launcher=LocalLauncher(),
    )


def cmd(name: str, args: list[str]) -> dict[str, Any]:
    return {"kind": "Cmd", "metadata": {"name": name}, "spec": {"args": args}}


def test_a_cmd_runs_its_process_reports_its_exit_and_settles(tmp_path: Path):
    cluster = FakeCluster(cmd("c", [sys.executable, "-c", "print('hi')"]))
    requeued = Requeued()

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path, requeued)
        await reconcile("c")
        assert cluster.get_object("Cmd", "c")["status"]["running"]["pid"]
        await settle(reconcile, "c", requeued, lambda: bool(status_of(cluster, "Cmd", "c").get("terminated")))
        status = cluster.get_object("Cmd", "c")["status"]
        assert status["terminated"]["exitCode"] == 0
        assert ready(cluster.get_object("Cmd", "c")) == ("False", reasons.PROCESS_EXITED)
        writes = cluster.writes
        await reconcile("c")
        assert cluster.writes == writes, "an ended Cmd is not started again, nor rewritten"

    run(scenario())


def test_a_deleted_cmd_stops_its_process(tmp_path: Path):
    cluster = FakeCluster(cmd("c", ["sleep", "600"]))

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path)
        await reconcile("c")
        pid = cluster.get_object("Cmd", "c")["status"]["running"]["pid"]
        writes = cluster.writes
        await reconcile("c")
        assert cluster.writes == writes, "a running Cmd is not restarted or rewritten"
        del cluster.objects[("Cmd", "c")]
        await reconcile("c")
        assert not alive(pid)

    run(scenario())


def test_with_execution_off_a_cmd_waits_and_settles(tmp_path: Path):
    cluster = FakeCluster(cmd("c", ["true"]))

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path, exec_enabled=False)
        await reconcile("c")
        status = cluster.get_object("Cmd", "c")["status"]
        assert status["waiting"]["reason"] == EXEC_DISABLED
        assert ready(cluster.get_object("Cmd", "c")) == ("False", reasons.EXEC_DISABLED)
        writes = cluster.writes
        await reconcile("c")
        assert cluster.writes == writes

    run(scenario())


def test_a_restart_button_click_restarts_the_process(tmp_path: Path):
    button = {"kind": "UIButton", "metadata": {"name": "again"}, "spec": {"text": "x"}}
    spec = {"args": ["sleep", "600"], "restartOn": {"uiButtons": ["again"]}}
    cluster = FakeCluster({"kind": "Cmd", "metadata": {"name": "c"}, "spec": spec}, button)

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path)
        await reconcile("c")
        first = cluster.get_object("Cmd", "c")["status"]["running"]["pid"]
        cluster.set_status("UIButton", "again", {"lastClickedAt": timestamps.now()})
        patches = cluster.calls["patch status Cmd"]
        await reconcile("c")
        second = cluster.get_object("Cmd", "c")["status"]["running"]["pid"]
        assert second != first
        assert cluster.calls["patch status Cmd"] == patches + 1, "one restart, one patch: running with the new pid"
        assert not alive(first)
        await reconcile.stop()
        assert not alive(second)
        assert cluster.get_object("Cmd", "c")["status"]["terminated"]["reason"] == "stopped with the operator"

    run(scenario())


# Relations.


def test_relations_follow_changes_and_deletes():
    relations = Relations()
    spec = {"args": ["x"], "startOn": {"uiButtons": ["go"]}, "restartOn": {"uiButtons": ["again"]}}
    labels = {"tilt.dev/tiltfile": "tf"}
    owner = [{"kind": "Tiltfile", "name": "tf", "uid": "u-tf", "controller": True}]
    cmd_obj = {"metadata": {"name": "c", "labels": labels, "ownerReferences": owner}, "spec": spec}
    relations.update(CMD, cmd_obj)
    relations.update(EXTENSION, {"metadata": {"name": "e"}, "spec": {"repoName": "r", "repoPath": "p"}})
    assert relations.names(relation.BUTTON, "go", CMD) == ["c"]
    assert relations.names(relation.BUTTON, "again", CMD) == ["c"]
    assert relations.names(relation.REPO, "r", EXTENSION) == ["e"]
    assert relations.registered_by("tf") == [("Cmd", "c", "u-tf")]
    relations.update(CMD, {**cmd_obj, "spec": {"args": ["x"]}})
    assert relations.names(relation.BUTTON, "go", CMD) == []
    relations.remove(CMD, "c")
    assert relations.registered_by("tf") == []


def test_relations_know_the_extensions_each_tiltfile_loads():
    relations = Relations()
    loaders = [{"kind": "Tiltfile", "name": name, "uid": f"u-{name}"} for name in ("a", "b")]
    lib = {"metadata": {"name": "lib", "ownerReferences": loaders}, "spec": {"repoName": "r", "repoPath": "lib"}}
    relations.update(EXTENSION, lib)
    assert relations.shared_by("a") == [("Extension", "lib", "u-a")]
    assert relations.shared_by("b") == [("Extension", "lib", "u-b")]
    assert relations.registered_by("a") == [], "no Tiltfile controls it"
    relations.update(EXTENSION, {**lib, "metadata": {"name": "lib", "ownerReferences": loaders[1:]}})
    assert relations.shared_by("a") == []
    relations.remove(EXTENSION, "lib")
    assert relations.shared_by("b") == []


# Identity: who an extension acts as.


def test_what_a_tiltfile_registers_is_written_as_its_service_account_and_its_cmds_are_marked(tmp_path: Path):
    path = tmp_path / "Tiltfile"
    path.write_text("cmd(name='c', args=['true'])\n")
    spec = {"path": str(path), "serviceAccountName": "builder"}
    cluster = FakeCluster({"kind": "Tiltfile", "metadata": {"name": "t"}, "spec": spec}, crds=CRDS)
    cluster.service_accounts.add("builder")
    requeued = Requeued()

    async def scenario() -> None:
        async with running_tiltfiles(cluster, tmp_path, requeued) as reconcile:
            await settle(reconcile, "t", requeued, lambda: bool(status_of(cluster, "Tiltfile", "t").get("terminated")))

    run(scenario())
    assert ready(cluster.get_object("Tiltfile", "t")) == ("True", reasons.RUN_SUCCEEDED)
    assert cluster.written_as == [("apply Cmd", "c", "system:serviceaccount:tilt-operator:builder")]
    annotations = cluster.get_object("Cmd", "c")["metadata"]["annotations"]
    assert annotations["tilt.dev/service-account"] == "builder"


def test_a_tiltfile_whose_service_account_is_missing_waits_says_so_and_runs_once_it_exists(tmp_path: Path):
    path = tmp_path / "Tiltfile"
    path.write_text("print('hi')\n")
    spec = {"path": str(path), "serviceAccountName": "later"}
    cluster = FakeCluster({"kind": "Tiltfile", "metadata": {"name": "t"}, "spec": spec}, crds=CRDS)
    requeued = Requeued()

    async def scenario() -> None:
        async with running_tiltfiles(cluster, tmp_path, requeued) as reconcile:
            assert await reconcile("t") == Result(retry=True), "retried with backoff until the account exists"
            status = status_of(cluster, "Tiltfile", "t")
            message = status["waiting"]["reason"]
            assert message.startswith("ServiceAccount tilt-operator/later not found: create it")
            assert ready(cluster.get_object("Tiltfile", "t")) == ("False", reasons.SERVICE_ACCOUNT_NOT_FOUND)
            assert "Reconciling" in [c["type"] for c in status["conditions"]]
            writes = cluster.writes
            assert await reconcile("t") == Result(retry=True)
            assert cluster.writes == writes, "the same answer is not written again"
            cluster.service_accounts.add("later")
            await reconcile("t")
            await settle(reconcile, "t", requeued, lambda: bool(status_of(cluster, "Tiltfile", "t").get("terminated")))
            assert ready(cluster.get_object("Tiltfile", "t")) == ("True", reasons.RUN_SUCCEEDED)

    run(scenario())


def test_an_extension_names_the_missing_service_account_of_its_tiltfile(tmp_path: Path):
    cluster, reconcile = extension_setup(tmp_path)
    cluster.put(
        {
            **cluster.get_object("Extension", "e"),
            "spec": {**cluster.get_object("Extension", "e")["spec"], "serviceAccountName": "gone"},
        }
    )
    run(reconcile("e"))
    tiltfile = cluster.get_object("Tiltfile", "e")
    assert tiltfile["spec"]["serviceAccountName"] == "gone", "an Extension's Tiltfile carries its account"
    message = "ServiceAccount tilt-operator/gone not found: create it"
    cluster.set_status(
        "Tiltfile",
        "e",
        {
            "waiting": {"reason": message},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": reasons.SERVICE_ACCOUNT_NOT_FOUND,
                    "message": message,
                    "observedGeneration": tiltfile["metadata"]["generation"],
                    "lastTransitionTime": timestamps.now(),
                }
            ],
        },
    )
    run(reconcile("e"))
    extension = cluster.get_object("Extension", "e")
    assert ready(extension) == ("False", reasons.SERVICE_ACCOUNT_NOT_FOUND)
    assert extension["status"]["error"] == message


def test_a_cmds_process_gets_its_accounts_kubeconfig_and_none_of_the_operators_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("KUBECONFIG", "/the/operators/admin.kubeconfig")
    monkeypatch.setenv("TILT_OPERATOR_EXEC", "1")
    out = tmp_path / "env.txt"
    spec = {"args": ["sh", "-c", f"env > {out}"]}
    annotations = {"tilt.dev/service-account": "builder"}
    cluster = FakeCluster({"kind": "Cmd", "metadata": {"name": "c", "annotations": annotations}, "spec": spec})
    cluster.service_accounts.add("builder")
    requeued = Requeued()

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path, requeued)
        await reconcile("c")
        await settle(reconcile, "c", requeued, lambda: bool(status_of(cluster, "Cmd", "c").get("terminated")))

    run(scenario())
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    kubeconfig = tmp_path / "identities" / "builder" / "kubeconfig"
    assert env["KUBECONFIG"] == str(kubeconfig)
    assert "TILT_OPERATOR_EXEC" not in env
    config = yaml.safe_load(kubeconfig.read_text())
    token_file = config["users"][0]["user"]["tokenFile"]
    assert Path(token_file).read_text() == "token-builder-1"
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"CA PEM").decode(),
    }
    assert config["contexts"][0]["context"]["namespace"] == "tilt-operator"


def test_a_cmd_whose_account_is_missing_waits_and_says_which(tmp_path: Path):
    annotations = {"tilt.dev/service-account": "nobody-made-it"}
    cluster = FakeCluster(
        {"kind": "Cmd", "metadata": {"name": "c", "annotations": annotations}, "spec": {"args": ["true"]}}
    )

    async def scenario() -> None:
        reconcile = cmd_reconciler(cluster, tmp_path)
        assert await reconcile("c") == Result(retry=True)

    run(scenario())
    obj = cluster.get_object("Cmd", "c")
    assert ready(obj) == ("False", reasons.SERVICE_ACCOUNT_NOT_FOUND)
    assert obj["status"]["waiting"]["reason"].startswith("ServiceAccount tilt-operator/nobody-made-it not found")


def test_tokens_are_renewed_before_they_expire_and_one_request_serves_every_caller(tmp_path: Path):
    cluster = FakeCluster()

    async def scenario() -> None:
        accounts = identities(cluster, tmp_path, renewal=0.2)
        first, again = await asyncio.gather(accounts.get("tilt-extension"), accounts.get("tilt-extension"))
        assert first == again
        assert cluster.calls["request token"] == 1
        token = tmp_path / "identities" / "tilt-extension" / "token"
        assert token.read_text() == "token-tilt-extension-1"
        for _ in range(100):
            if token.read_text() != "token-tilt-extension-1":
                break
            await asyncio.sleep(0.05)
        assert token.read_text() == "token-tilt-extension-2", "renewed in place, at the same path"
        await accounts.stop()

    run(scenario())
