"""ownerReferences: the controller reference an owner puts on what it owns, and who controls an object.

The Extension owns its Tiltfile and a Tiltfile owns what it registers; both are written and
checked through these functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator.api import API_VERSION


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
