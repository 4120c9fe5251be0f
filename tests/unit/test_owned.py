"""How a registered object looks once its Tiltfile owns it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.fakes import FakeCluster
from tilt_operator.api import shipped_crds
from tilt_operator.reconcilers.identities import Identity
from tilt_operator.reconcilers.owned import ApplyError, Owned, desired_object, field_manager, kinds_by_name
from tilt_operator.reconcilers.relations import Relations


def test_owned_objects_carry_the_tiltfiles_labels_and_a_controller_reference():
    tiltfile = {"metadata": {"name": "tf", "uid": "u-1"}, "spec": {"labels": {"team": "a", "tier": "x"}}}
    obj = {"apiVersion": "tilt.dev/v1alpha1", "kind": "Cmd", "metadata": {"name": "c", "labels": {"tier": "own"}}}
    owned = desired_object(obj, tiltfile, "tilt-extension")
    assert owned["metadata"]["labels"] == {"team": "a", "tier": "own", "tilt.dev/tiltfile": "tf"}
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Tiltfile",
            "name": "tf",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert owned["metadata"]["annotations"] == {"tilt.dev/resource": "tf", "tilt.dev/service-account": "tilt-extension"}
    assert obj["metadata"] == {"name": "c", "labels": {"tier": "own"}}, "the run's object is not mutated"


def test_a_cmd_runs_as_its_tiltfiles_account_whatever_the_run_wrote_and_other_kinds_are_not_marked():
    tiltfile = {"metadata": {"name": "tf", "uid": "u-1"}, "spec": {}}
    forged = {"kind": "Cmd", "metadata": {"name": "c", "annotations": {"tilt.dev/service-account": "admin"}}}
    assert desired_object(forged, tiltfile, "mine")["metadata"]["annotations"]["tilt.dev/service-account"] == "mine"
    button = desired_object({"kind": "UIButton", "metadata": {"name": "b"}}, tiltfile, "mine")
    assert "tilt.dev/service-account" not in button["metadata"]["annotations"]


def test_field_managers_fit_the_api_servers_limit():
    assert field_manager("x" * 300) == ("tiltfile/" + "x" * 300)[:128]


def test_kinds_come_from_the_crds():
    crds = [{"spec": {"names": {"kind": "Cmd", "plural": "cmds"}}}]
    assert kinds_by_name(crds)["Cmd"].plural == "cmds"


# An Extension that load('ext://…') named: shared by the Tiltfiles that load it.

LOADER = {"tilt.dev/managed-by": "tiltfile.loader"}
CRDS = shipped_crds()
IDENTITY = Identity("tilt-extension", "system:serviceaccount:tilt-operator:tilt-extension", Path("/k"), Path("/h"))


def loaded_extension(name: str = "lib", repo_path: str = "lib") -> dict[str, Any]:
    return {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Extension",
        "metadata": {"name": name, "annotations": dict(LOADER)},
        "spec": {"repoName": "default", "repoPath": repo_path},
    }


def loader(name: str) -> dict[str, Any]:
    return {"kind": "Tiltfile", "metadata": {"name": name, "uid": f"u-{name}"}, "spec": {"labels": {"team": name}}}


def sync(cluster: FakeCluster, tiltfile: dict[str, Any], *objects: dict[str, Any]) -> None:
    """One successful run of ``tiltfile`` that registered ``objects``, with relations as the Controller keeps them."""
    relations = Relations()
    relations.rebuild(cluster.cache())
    asyncio.run(Owned(cluster.cache(), cluster, relations).sync(tiltfile, list(objects), CRDS, IDENTITY))


def owners(cluster: FakeCluster, name: str = "lib") -> list[tuple[str, bool]]:
    obj = cluster.get_object("Extension", name)
    assert obj is not None, f"Extension {name} is gone"
    return [(ref["name"], bool(ref.get("controller"))) for ref in obj["metadata"]["ownerReferences"]]


def test_a_loaded_extension_carries_only_a_shared_reference_and_nothing_that_names_one_tiltfile():
    owned = desired_object(loaded_extension(), loader("a"), "tilt-extension")
    assert owned["metadata"] == {
        "name": "lib",
        "annotations": LOADER,
        "ownerReferences": [{"apiVersion": "tilt.dev/v1alpha1", "kind": "Tiltfile", "name": "a", "uid": "u-a"}],
    }


def test_tiltfiles_loading_one_extension_share_it_and_it_goes_with_the_last_of_them():
    cluster = FakeCluster(crds=CRDS)
    a, b = loader("a"), loader("b")
    sync(cluster, a, loaded_extension())
    sync(cluster, b, loaded_extension())
    assert owners(cluster) == [("a", False), ("b", False)]
    assert "labels" not in cluster.get_object("Extension", "lib")["metadata"]
    writes = cluster.writes
    sync(cluster, b, loaded_extension())
    assert cluster.writes == writes, "what the cluster already shows is not applied again"

    sync(cluster, a)
    assert owners(cluster) == [("b", False)], "a stops loading it: only its reference goes"
    assert cluster.get_object("Extension", "lib")["spec"] == {"repoName": "default", "repoPath": "lib"}
    sync(cluster, b)
    assert cluster.get_object("Extension", "lib") is None, "the last loader deletes it"
    assert [call for call in cluster.written_as if call[0] == "delete Extension"] == [
        ("delete Extension", "lib", IDENTITY.username)
    ]


def test_a_tiltfile_that_registered_an_extension_may_load_it_and_back():
    cluster = FakeCluster(crds=CRDS)
    own = {**loaded_extension(), "metadata": {"name": "lib"}}
    sync(cluster, loader("a"), own)
    assert owners(cluster) == [("a", True)]
    sync(cluster, loader("a"), loaded_extension())
    assert owners(cluster) == [("a", False)]
    sync(cluster, loader("a"), own)
    assert owners(cluster) == [("a", True)]


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        (
            {"metadata": {"name": "lib"}},
            "Extension lib is installed on its own, not loaded: delete it to load it here",
        ),
        (
            {
                "metadata": {
                    "name": "lib",
                    "ownerReferences": [{"kind": "Tiltfile", "name": "c", "uid": "u-c", "controller": True}],
                }
            },
            "Extension lib is already owned by Tiltfile c: rename it or remove it there",
        ),
        (
            {
                **loaded_extension(repo_path="elsewhere"),
                "metadata": {
                    "name": "lib",
                    "annotations": LOADER,
                    "ownerReferences": [{"kind": "Tiltfile", "name": "c", "uid": "u-c"}],
                },
            },
            'Extension lib is loaded by Tiltfile c with spec {"repoName":"default","repoPath":"elsewhere"}; '
            'this run loads it with spec {"repoName":"default","repoPath":"lib"}',
        ),
    ],
)
def test_a_load_never_takes_over_an_extension_that_is_someone_elses(existing: dict[str, Any], message: str):
    cluster = FakeCluster({**loaded_extension(), **existing}, crds=CRDS)
    before = cluster.get_object("Extension", "lib")
    with pytest.raises(ApplyError, match=re.escape(message)):
        sync(cluster, loader("a"), loaded_extension())
    assert cluster.get_object("Extension", "lib") == before


def test_a_shared_extension_cannot_become_one_tiltfiles_own():
    cluster = FakeCluster(crds=CRDS)
    sync(cluster, loader("a"), loaded_extension())
    with pytest.raises(ApplyError, match="Extension lib is loaded by Tiltfile a: rename it or stop loading it there"):
        sync(cluster, loader("b"), {**loaded_extension(), "metadata": {"name": "lib"}})
