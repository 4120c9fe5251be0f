"""Failures on the real API server, read as a user reads them: the conditions of the object.

An API error in the middle of a reconcile (an admission policy refusing the Tiltfile an Extension
owns, or a repo's status), status writes that meet one another, and a run in flight: each ends in
a status that says the truth, and none takes running work down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import eventually, holds
from tests.integration.conftest import Operator
from tests.integration.gitserver import GitServer
from tests.integration.objects import Api, button, extension, obj, repo
from tests.integration.test_cmd import state
from tests.integration.test_tiltfile import write
from tilt_operator import kube, reasons
from tilt_operator.api import UI_BUTTON
from tilt_operator.devcluster import DevCluster
from tilt_operator.processes import alive
from tilt_operator.reconcilers.status import StaleStatus, StatusWriter

EXTS, REPOS = "extensions", "extensionrepos"


def conditions(api: Api, plural: str, name: str) -> dict[str, dict]:
    return {c["type"]: c for c in api.status(plural, name).get("conditions") or []}


@contextmanager
def policy(
    cluster: DevCluster,
    name: str,
    *,
    resource: str,
    operations: list[str],
    expression: str,
    message: str,
    probe: Callable[[], str],
) -> Iterator[None]:
    """A ValidatingAdmissionPolicy refusing what ``expression`` rejects of ``resource``: the API
    server's own refusal, as a user's policy (or a quota, or a webhook) would give it. The API
    server takes a policy up a moment after it is applied: in force once ``probe`` (a dry run) says
    ``message``."""
    manifest = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["tilt.dev"],
                        "apiVersions": ["v1alpha1"],
                        "operations": operations,
                        "resources": [resource],
                    }
                ]
            },
            "validations": [{"expression": expression, "message": message}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    cluster.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [manifest, binding]})
    )
    try:
        eventually(lambda: message in probe(), what="the policy to be in force")
        yield
    finally:
        cluster.kubectl(
            "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, "--ignore-not-found"
        )


@pytest.fixture
def refusing(cluster: DevCluster, name: str) -> Iterator[str]:
    """A policy that refuses the Tiltfile called ``name``."""
    probe = {"apiVersion": "tilt.dev/v1alpha1", "kind": "Tiltfile", "metadata": {"name": name}, "spec": {"path": "/x"}}
    with policy(
        cluster,
        name,
        resource="tiltfiles",
        operations=["CREATE", "UPDATE"],
        expression=f"object.metadata.name != '{name}'",
        message="the cluster's policy refuses this Tiltfile",
        probe=lambda: (
            cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False).stderr
        ),
    ):
        yield name


def test_an_api_error_mid_reconcile_is_what_the_extension_says_until_it_is_gone(
    cluster: DevCluster, api: Api, operator: Operator, tmp_path: Path, refusing: str
) -> None:
    name = refusing
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "Tiltfile").write_text("print('hello')\n")
    api.create(REPOS, repo(f"{name}-repo", f"file://{tmp_path}"))
    api.create(EXTS, extension(name, f"{name}-repo", "hello"))

    failed = eventually(
        lambda: (c := conditions(api, EXTS, name)).get("Ready", {}).get("reason") == reasons.RECONCILE_FAILED and c,
        what="the refusal in the Extension's status",
    )
    assert failed["Ready"]["status"] == "False"
    assert "the cluster's policy refuses this Tiltfile" in failed["Ready"]["message"]
    assert failed["Ready"]["message"].startswith("reconcile failed, retrying: ")
    assert (failed["Reconciling"]["status"], failed["Reconciling"]["reason"]) == (
        "True",
        reasons.PROGRESSING_WITH_RETRY,
    )
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=1s", check=False)
    assert waited.returncode != 0

    cluster.kubectl("delete", "validatingadmissionpolicybinding", name)
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=60s", check=False)
    assert waited.returncode == 0, waited.stderr
    assert set(conditions(api, EXTS, name)) == {"Ready"}, "nothing in flight, nothing stalled"


def _write_from(cluster: DevCluster, seen: dict, desired: dict) -> bool:
    """One status write, as a reconcile that read ``seen`` makes it, through the operator's writer."""

    async def write() -> bool:
        client = kube.Client()
        try:
            return await StatusWriter(client).write(UI_BUTTON, seen, desired)
        finally:
            await client.close()

    try:
        return asyncio.run(write())
    finally:
        kube.api_client.cache_clear()


def test_two_status_writers_that_change_different_fields_both_survive(
    cluster: DevCluster, api: Api, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A click lands between a reconcile's read and its write: the write is refused (409), merged
    three ways onto the fresh object, and both the click and the reconcile's change are there."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    kube.api_client.cache_clear()
    api.create("uibuttons", button(name))
    api.patch_status("uibuttons", name, {"inputs": [{"name": "x", "text": {"value": "old"}}]})
    seen = api.get("uibuttons", name)
    assert seen is not None
    clicked = "2026-12-01T11:00:00.000000Z"
    api.patch_status("uibuttons", name, {"lastClickedAt": clicked})  # another writer, in between

    assert _write_from(cluster, seen, {"inputs": [{"name": "x", "text": {"value": "new"}}]})
    assert api.status("uibuttons", name) == {
        "lastClickedAt": clicked,
        "inputs": [{"name": "x", "text": {"value": "new"}}],
    }


def test_two_status_writers_that_change_the_same_field_the_stale_one_recomputes(
    cluster: DevCluster, api: Api, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both set lastClickedAt: the writer that saw the latest object decides; the stale one does not
    overwrite what it never saw, it raises for its reconcile to run again on the fresh object."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    kube.api_client.cache_clear()
    api.create("uibuttons", button(name))
    api.patch_status("uibuttons", name, {"lastClickedAt": "2026-12-01T10:00:00.000000Z"})
    seen = api.get("uibuttons", name)
    assert seen is not None
    latest = "2026-12-01T11:00:00.000000Z"
    api.patch_status("uibuttons", name, {"lastClickedAt": latest})

    with pytest.raises(StaleStatus, match="lastClickedAt"):
        _write_from(cluster, seen, {"lastClickedAt": "2026-12-01T10:30:00.000000Z"})
    assert api.status("uibuttons", name) == {"lastClickedAt": latest}


def test_a_repo_whose_reconcile_raises_keeps_its_extensions_running_and_recovers_within_its_backoff(
    cluster: DevCluster,
    api: Api,
    operator: Operator,
    git_server: GitServer,
    name: str,
) -> None:
    """Consumers key on the checkout, not on Ready: the repo says its reconcile failed, and the
    Extension on it goes on with the same process; the retry comes with backoff, not after the
    repo's hour-long interval."""
    git_server.create_repo(name, {"svc/Tiltfile": f"local_resource('{name}', serve_cmd='sleep 600')\n"})
    api.create(REPOS, repo(name, git_server.url(name), interval="1h"))
    api.create(EXTS, extension(name, name, "svc"))
    cluster.kubectl("wait", "--for=condition=Ready", f"extension/{name}", "--timeout=60s")
    running = eventually(lambda: state(api, f"{name}.serve", "running"), what="the extension's process")
    pid = running["pid"]
    tiltfile_uid = api.get("tiltfiles", name)["metadata"]["uid"]  # type: ignore[index]

    # A policy that refuses a repo status answering the request ``refuse-<name>``: the reconcile
    # that fetched it raises, as a 422 (or a 409 after its retries) makes any reconcile raise.
    request = f"refuse-{name}"
    refused = json.dumps({"status": {"lastHandledRequest": request}})
    patch = ("patch", f"extensionrepo/{name}", "--subresource=status", "--type=merge", "-p", refused)
    with policy(
        cluster,
        name,
        resource="extensionrepos/status",
        operations=["UPDATE"],
        expression=(
            "!has(object.status) || !has(object.status.lastHandledRequest)"
            f" || object.status.lastHandledRequest != '{request}'"
        ),
        message="the cluster's policy refuses this status",
        probe=lambda: cluster.kubectl(*patch, "--dry-run=server", check=False).stderr,
    ):
        api.patch(REPOS, name, {"metadata": {"annotations": {"tilt.dev/reconcile-requested-at": request}}})
        failed = eventually(
            lambda: (
                (c := conditions(api, REPOS, name)).get("Ready", {}).get("reason") == reasons.RECONCILE_FAILED and c
            ),
            what="the repo to say its reconcile failed",
        )
        assert "the cluster's policy refuses this status" in failed["Ready"]["message"]
        assert failed["Reconciling"]["reason"] == reasons.PROGRESSING_WITH_RETRY
        assert "Stalled" not in failed
        assert api.status(REPOS, name)["path"], "the checkout it served is still served"

        def untouched() -> bool:
            ready = conditions(api, EXTS, name).get("Ready", {})
            current = api.get("tiltfiles", name)
            return (
                ready.get("status") == "True"
                and current is not None
                and current["metadata"]["uid"] == tiltfile_uid
                and (state(api, f"{name}.serve", "running") or {}).get("pid") == pid
                and alive(pid)
            )

        # The Extension is queued by the repo's status change within milliseconds; the repo's retries
        # come every few seconds while the policy is in force: by then a teardown would have shown.
        holds(untouched, seconds=5, because="the Extension and the repo's retries react within a second")

    recovered = eventually(
        lambda: conditions(api, REPOS, name).get("Ready", {}).get("status") == "True" and api.status(REPOS, name),
        timeout=60,
        what="the repo to recover on its backoff, well within its 1h interval",
    )
    assert recovered["lastHandledRequest"] == request
    assert untouched(), "the same process ran throughout"


def test_a_rerun_after_a_failed_run_is_reconciling_not_stalled(
    api: Api, operator: Operator, tmp_path: Path, name: str
) -> None:
    """kstatus as written: while a Tiltfile whose last run failed runs again, neither it nor its
    Extension says Stalled (nothing more to do), since something is being done."""
    (tmp_path / "svc").mkdir()
    path = write(tmp_path / "svc" / "Tiltfile", "fail('broken')\n")
    api.create(REPOS, repo(name, f"file://{tmp_path}"))
    api.create(EXTS, extension(name, name, "svc"))
    eventually(lambda: "Stalled" in conditions(api, EXTS, name), what="the failed run to stall the Extension")

    # A run that takes a while (a local() that waits for a file), so it can be seen in flight.
    gate = tmp_path / "gate"
    write(path, f"local('while [ ! -e {gate} ]; do sleep 0.05; done')\nprint('fixed')\n")
    seen = eventually(
        lambda: "Reconciling" in (c := conditions(api, EXTS, name)) and c, what="the Extension to show the re-run"
    )
    assert "Stalled" not in seen
    assert "Stalled" not in conditions(api, "tiltfiles", name)
    assert seen["Reconciling"]["reason"] == reasons.TILTFILE_PENDING
    gate.touch()
    eventually(lambda: conditions(api, EXTS, name).get("Ready", {}).get("status") == "True", what="the Extension Ready")
    assert set(conditions(api, EXTS, name)) == {"Ready"}


def test_a_spec_change_of_a_start_on_cmd_stops_the_old_process_and_waits_for_a_click(
    api: Api, operator: Operator, name: str
) -> None:
    """As Tilt's Cmd controller does: the status never answers for a generation its process does not run."""
    api.create("uibuttons", button(f"{name}-go"))
    api.create("cmds", obj("Cmd", name, {"args": ["sleep", "600"], "startOn": {"uiButtons": [f"{name}-go"]}}))
    api.click(f"{name}-go")
    pid = eventually(lambda: (state(api, name, "running") or {}).get("pid"), what="the click to start it")

    api.patch("cmds", name, {"spec": {"args": ["sleep", "601"]}})
    generation = api.get("cmds", name)["metadata"]["generation"]  # type: ignore[index]
    waiting = eventually(lambda: state(api, name, "waiting"), what="the new spec to wait for a click")
    assert waiting["reason"] == f"waiting for a click on {name}-go"
    assert api.status("cmds", name)["observedGeneration"] == generation
    assert api.status("cmds", name)["ready"] is False
    eventually(lambda: not alive(pid), what="the old process to stop")
    holds(
        lambda: state(api, name, "waiting"),
        seconds=3,
        because="the click that started the old spec is spent: a restart on it comes within milliseconds",
    )

    api.click(f"{name}-go")
    running = eventually(lambda: state(api, name, "running"), what="a new click to start the new spec")
    assert running["pid"] != pid
    assert Path(f"/proc/{running['pid']}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"601"]
