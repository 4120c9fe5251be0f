"""ownerReferences: the controller reference an owner puts on what it owns, and who controls an object.

The Extension owns its Tiltfile and a Tiltfile owns what it registers; both are written and
checked through these functions only. The one exception to "one controller" is an Extension that
Tiltfiles load (``ext://``): every loading Tiltfile owns it, none controls it, and the garbage
collector removes it with the last of them (docs/design.md, "The API", Ownership).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator.api import ANNOTATION_MANAGED_BY, API_VERSION, EXTENSION, MANAGED_BY_LOADER


def controller_reference(owner: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The ownerReference that makes ``owner`` (a tilt.dev object of ``kind``) the controller.

    ``blockOwnerDeletion`` makes a foreground delete of the owner wait for what it owns.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (there is at most one)."""
    owners = obj.get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in owners if ref.get("controller")), None)


def controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    """Whether the object with ``owner_uid`` is ``obj``'s controller."""
    controller = controller_of(obj)
    return controller is not None and controller.get("uid") == owner_uid


def shared_reference(owner: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The ownerReference one of several owners puts on what they share: not the controller, and
    blocking no deletion, since the others may keep the object."""
    return {"apiVersion": API_VERSION, "kind": kind, "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}


def sharing_owners(obj: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    """The ownerReferences of ``kind`` that do not control ``obj``: the owners that share it."""
    owners = obj.get("metadata", {}).get("ownerReferences") or []
    return [ref for ref in owners if ref.get("kind") == kind and not ref.get("controller")]


def loaded(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is an Extension that ``load('ext://…')`` named: the loading Tiltfiles share it."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return obj.get("kind") == EXTENSION.kind and annotations.get(ANNOTATION_MANAGED_BY) == MANAGED_BY_LOADER
