"""Apply the objects a Tiltfile registered, and prune the ones it no longer does.

Called by the Tiltfile reconciler after a successful run. Every object gets a controller
ownerReference to its Tiltfile, the Tiltfile's ``spec.labels`` and the ``tilt.dev/tiltfile``
label (so pruning lists only this Tiltfile's objects), and is written with server-side apply
under a field manager of its own Tiltfile. An object controlled by anything else is never taken
over: the run fails naming the owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException

from tilt_operator import kube
from tilt_operator.api import ANNOTATION_RESOURCE, API_VERSION, LABEL_TILTFILE, TILTFILE, Kind


class ApplyError(Exception):
    """The registered objects could not be applied; the message names the object and why."""


def field_manager(tiltfile_name: str) -> str:
    return f"tiltfile/{tiltfile_name}"[:128]


def kinds_by_name(crds: Sequence[Mapping[str, Any]]) -> dict[str, Kind]:
    return {
        crd["spec"]["names"]["kind"]: Kind(crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]) for crd in crds
    }


def desired_object(obj: Mapping[str, Any], tiltfile: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` as the Tiltfile owns it: labelled, controller-owned, nothing else changed."""
    name = tiltfile["metadata"]["name"]
    metadata = dict(obj["metadata"])
    metadata["labels"] = {
        **(tiltfile.get("spec", {}).get("labels") or {}),
        **(metadata.get("labels") or {}),
        LABEL_TILTFILE: name,
    }
    # Tilt's convention: every object names the resource it belongs to (its Tiltfile when none).
    metadata["annotations"] = {ANNOTATION_RESOURCE: name, **(metadata.get("annotations") or {})}
    metadata["ownerReferences"] = [
        {
            "apiVersion": API_VERSION,
            "kind": TILTFILE.kind,
            "name": name,
            "uid": tiltfile["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    return {**obj, "metadata": metadata}


def _controller(existing: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((ref for ref in existing["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def check_conflicts(objects: Sequence[Mapping[str, Any]], kinds: Mapping[str, Kind], owner_uid: str) -> None:
    """Refuse, before anything is written, to touch an object some other controller owns."""
    for obj in objects:
        existing = kube.get(kinds[obj["kind"]], obj["metadata"]["name"])
        controller = _controller(existing) if existing else None
        if controller and controller.get("uid") != owner_uid:
            raise ApplyError(
                f"{obj['kind']} {obj['metadata']['name']} is already owned by "
                f"{controller.get('kind')} {controller.get('name')}: rename it or remove it there"
            )


def sync_owned(
    tiltfile: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], crds: Sequence[Mapping[str, Any]]
) -> None:
    """Apply every registered object, then delete this Tiltfile's objects the run did not register."""
    kinds = kinds_by_name(crds)
    name, uid = tiltfile["metadata"]["name"], tiltfile["metadata"]["uid"]
    unknown = sorted({obj["kind"] for obj in objects} - set(kinds))
    if unknown:
        raise ApplyError(f"no CRD installed for kind {', '.join(unknown)}")
    check_conflicts(objects, kinds, uid)
    for obj in objects:
        try:
            kube.apply(kinds[obj["kind"]], desired_object(obj, tiltfile), field_manager(name), force=True)
        except ApiException as error:
            raise ApplyError(f"{obj['kind']} {obj['metadata']['name']}: {kube.error_message(error)}") from None
    registered = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    for kind in kinds.values():
        for existing in kube.list_objects(kind, f"{LABEL_TILTFILE}={name}"):
            controller = _controller(existing)
            if (
                (kind.kind, existing["metadata"]["name"]) not in registered
                and controller
                and controller.get("uid") == uid
            ):
                kube.delete(kind, existing["metadata"]["name"])
