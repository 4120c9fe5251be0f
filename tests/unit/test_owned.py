"""How a registered object looks once its Tiltfile owns it."""

from __future__ import annotations

from tilt_operator.reconcilers.owned import desired_object, field_manager, kinds_by_name


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
