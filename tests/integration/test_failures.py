"""Failures on the real API server, read as a user reads them: the conditions of the object.

An API error in the middle of a reconcile (an admission policy refusing the Tiltfile an Extension
owns) and a status write that meets another one: each ends in a status that says the truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tests.integration.objects import Api, button, extension, repo
from tilt_operator import kube, reasons
from tilt_operator.api import UI_BUTTON
from tilt_operator.devcluster import DevCluster
from tilt_operator.reconcilers.status import StatusWriter

EXTS, REPOS = "extensions", "extensionrepos"


def conditions(api: Api, plural: str, name: str) -> dict[str, dict]:
    return {c["type"]: c for c in api.status(plural, name).get("conditions") or []}


@pytest.fixture
def refusing(cluster: DevCluster, name: str) -> Iterator[str]:
    """A ValidatingAdmissionPolicy that refuses the Tiltfile called ``name``: the API server's own
    refusal, as a user's policy (or a quota, or a webhook) would give it."""
    policy = f"""\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["tilt.dev"]
      apiVersions: ["v1alpha1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["tiltfiles"]
  validations:
  - expression: "object.metadata.name != '{name}'"
    message: "the cluster's policy refuses this Tiltfile"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
"""
    cluster.kubectl("apply", "-f", "-", stdin=policy)
    probe = f'{{"apiVersion": "tilt.dev/v1alpha1", "kind": "Tiltfile", "metadata": {{"name": "{name}"}}, '
    probe += '"spec": {"path": "/x"}}'
    eventually(
        lambda: (
            "refuses this Tiltfile"
            in cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=probe, check=False).stderr
        ),
        what="the policy to be in force",
    )
    try:
        yield name
    finally:
        cluster.kubectl(
            "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, "--ignore-not-found"
        )


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


def test_a_status_write_that_meets_another_is_made_against_what_is_there_now(
    cluster: DevCluster, api: Api, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer diffed against a copy that another write has since changed. Without a
    precondition its patch would hold only what differed from that copy, and the other write's
    value would stay where the writer wanted its own; with one the API server says 409, the writer
    reads the object again, and what it wanted is what the status says."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    kube.api_client.cache_clear()
    mine, theirs = "2026-12-01T10:00:00.000000Z", "2026-12-01T11:00:00.000000Z"
    api.create("uibuttons", button(name))
    api.patch_status("uibuttons", name, {"lastClickedAt": mine})
    seen = api.get("uibuttons", name)
    assert seen is not None
    api.patch_status("uibuttons", name, {"lastClickedAt": theirs})  # written in between

    async def write() -> bool:
        client = kube.Client()
        try:
            desired = {"lastClickedAt": mine, "inputs": [{"name": "x", "text": {"value": "v"}}]}
            return await StatusWriter(client).write(UI_BUTTON, seen, desired)
        finally:
            await client.close()

    try:
        assert asyncio.run(write())
    finally:
        kube.api_client.cache_clear()
    assert api.status("uibuttons", name) == {"lastClickedAt": mine, "inputs": [{"name": "x", "text": {"value": "v"}}]}
