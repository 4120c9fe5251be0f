"""Apply the objects a Tiltfile registered, and prune the ones it no longer does.

Called by the Tiltfile reconciler after a successful run. Every object gets a controller
ownerReference to its Tiltfile, the Tiltfile's ``spec.labels`` and the ``tilt.dev/tiltfile``
label (a Cmd also the ``tilt.dev/service-account`` its process acts as), and is written with
server-side apply under a field manager of its own Tiltfile, as the Tiltfile's ServiceAccount
(impersonated): what that account may not write is not written, and the API server's refusal is the
run's error. Pruning deletes as that account too. An object
controlled by anything else is never taken over: the run fails naming the owner. What the cache
already shows as desired is not written again, and pruning finds this Tiltfile's objects in the
Controller's relations rather than listing every kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tilt_operator.api import ANNOTATION_RESOURCE, ANNOTATION_SERVICE_ACCOUNT, CMD, LABEL_TILTFILE, TILTFILE, Kind
from tilt_operator.kube import ApiError
from tilt_operator.owners import controller_of, controller_reference
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.identities import Identity
from tilt_operator.reconcilers.relations import Relations


class ApplyError(Exception):
    """The registered objects could not be applied; the message names the object and why."""


def field_manager(tiltfile_name: str) -> str:
    return f"tiltfile/{tiltfile_name}"[:128]


def kinds_by_name(crds: Sequence[Mapping[str, Any]]) -> dict[str, Kind]:
    return {
        crd["spec"]["names"]["kind"]: Kind(crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]) for crd in crds
    }


def desired_object(obj: Mapping[str, Any], tiltfile: Mapping[str, Any], account: str) -> dict[str, Any]:
    """``obj`` as the Tiltfile owns it: labelled, controller-owned, a Cmd marked with the ServiceAccount
    ``account`` it runs as; nothing else changed."""
    name = tiltfile["metadata"]["name"]
    metadata = dict(obj["metadata"])
    metadata["labels"] = {
        **(tiltfile.get("spec", {}).get("labels") or {}),
        **(metadata.get("labels") or {}),
        LABEL_TILTFILE: name,
    }
    # Tilt's convention: every object names the resource it belongs to (its Tiltfile when none).
    metadata["annotations"] = {ANNOTATION_RESOURCE: name, **(metadata.get("annotations") or {})}
    if obj.get("kind") == CMD.kind:
        # Set last: the Tiltfile decides who its processes are, not the object it registered.
        metadata["annotations"][ANNOTATION_SERVICE_ACCOUNT] = account
    metadata["ownerReferences"] = [controller_reference(tiltfile, TILTFILE.kind)]
    return {**obj, "metadata": metadata}


def already_applied(existing: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether ``existing`` already is ``desired``: same spec, labels, annotations and controller."""
    if existing is None:
        return False
    have, want = existing["metadata"], desired["metadata"]
    controller = controller_of(existing)
    return (
        existing.get("spec") == desired.get("spec")
        and (have.get("labels") or {}) == want["labels"]
        and (have.get("annotations") or {}) == want["annotations"]
        and controller is not None
        and controller.get("uid") == want["ownerReferences"][0]["uid"]
    )


class Owned:
    """Applies and prunes one Tiltfile's registrations, reading what exists from the cache."""

    def __init__(self, cache: Cache, client: Client, relations: Relations) -> None:
        self._cache, self._client, self._relations = cache, client, relations

    async def _existing(self, kind: Kind, name: str) -> Mapping[str, Any] | None:
        if self._cache.covers(kind):
            return self._cache.get(kind, name)
        return await self._client.get(kind, name)

    async def sync(
        self,
        tiltfile: Mapping[str, Any],
        objects: Sequence[Mapping[str, Any]],
        crds: Sequence[Mapping[str, Any]],
        identity: Identity,
    ) -> None:
        """Apply every registered object, then delete this Tiltfile's objects the run did not register,
        each write as ``identity``."""
        kinds = kinds_by_name(crds)
        name, uid = tiltfile["metadata"]["name"], tiltfile["metadata"]["uid"]
        unknown = sorted({obj["kind"] for obj in objects} - set(kinds))
        if unknown:
            raise ApplyError(f"no CRD installed for kind {', '.join(unknown)}")
        wanted = [(kinds[obj["kind"]], desired_object(obj, tiltfile, identity.name)) for obj in objects]
        existing = [await self._existing(kind, obj["metadata"]["name"]) for kind, obj in wanted]
        for (_, obj), found in zip(wanted, existing, strict=True):
            controller = controller_of(found) if found else None
            if controller and controller.get("uid") != uid:
                raise ApplyError(
                    f"{obj['kind']} {obj['metadata']['name']} is already owned by "
                    f"{controller.get('kind')} {controller.get('name')}: rename it or remove it there"
                )
        changed = [
            (kind, obj) for (kind, obj), found in zip(wanted, existing, strict=True) if not already_applied(found, obj)
        ]
        outcomes = await asyncio.gather(
            *(self._client.apply(kind, obj, field_manager(name), as_user=identity.username) for kind, obj in changed),
            return_exceptions=True,
        )
        for (_, obj), outcome in zip(changed, outcomes, strict=True):
            if isinstance(outcome, ApiError):
                raise ApplyError(f"{obj['kind']} {obj['metadata']['name']}: {outcome.message}")
            if isinstance(outcome, BaseException):
                raise outcome
        registered = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
        for kind_name, obj_name in await self._owned(name, uid, kinds):
            if (kind_name, obj_name) not in registered:
                try:
                    await self._client.delete(kinds[kind_name], obj_name, as_user=identity.username)
                except ApiError as refused:
                    raise ApplyError(f"prune {kind_name} {obj_name}: {refused.message}") from None

    async def _owned(self, tiltfile: str, uid: str, kinds: Mapping[str, Kind]) -> list[tuple[str, str]]:
        """(kind, name) of every object this Tiltfile controls, from the cache where a watch covers the kind."""
        registered = self._relations.registered_by(tiltfile)
        found = [(kind, name) for kind, name, owner in registered if owner == uid and kind in kinds]
        for kind in kinds.values():
            if not self._cache.covers(kind):
                for obj in await self._client.list(kind, f"{LABEL_TILTFILE}={tiltfile}"):
                    controller = controller_of(obj)
                    if controller and controller.get("uid") == uid:
                        found.append((kind.kind, obj["metadata"]["name"]))
        return found
