"""Apply the objects a Tiltfile registered, and prune the ones it no longer does.

Called by the Tiltfile reconciler after a run. Every object gets a controller ownerReference to
its Tiltfile, the Tiltfile's ``spec.labels`` and the ``tilt.dev/tiltfile`` label (a Cmd also the
``tilt.dev/service-account`` its process acts as, a KubernetesApply the one it deploys as), and is
written with server-side apply under a field manager of its own Tiltfile, as the Tiltfile's
ServiceAccount (impersonated): what that
account may not write is not written, and the API server's refusal is the run's error. Pruning
deletes as that account too. An object controlled by anything else is never taken over: the run
fails naming the owner. What the cache already shows as desired is not written again, and pruning
finds this Tiltfile's objects in the Controller's relations rather than listing every kind.

An Extension a load named (``ext://``, docs/design.md, "load() and include()") is shared: many
Tiltfiles load the same library. Each loading Tiltfile applies it with an ownerReference of its
own that is not the controller, and with nothing that names one Tiltfile (no label, no resource
annotation), so every loader applies the same fields and server-side apply makes them co-owners;
ownerReferences is a list keyed by uid, so each is the only owner of its own reference. Two
loaders that want different specs under one name are a conflict the later run reports. A
Tiltfile that no longer loads it applies nothing under its field manager, which takes off exactly
its reference; the last loader deletes it. A deleted Tiltfile's reference goes with the garbage
collector, which deletes the Extension with its last owner.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tilt_operator.api import (
    ANNOTATION_RESOURCE,
    ANNOTATION_SERVICE_ACCOUNT,
    API_VERSION,
    CMD,
    KUBERNETES_APPLY,
    LABEL_TILTFILE,
    TILTFILE,
    Kind,
)
from tilt_operator.kube import ApiError
from tilt_operator.owners import controller_of, controller_reference, loaded, shared_reference, sharing_owners
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.identities import Identity
from tilt_operator.reconcilers.relations import Relations

# How a Tiltfile gives a registered object another name, where it is not the name it wrote: a k8s
# resource is named by Tilt's grouping, and `uncategorized` by no one (docs/design.md, "k8s_yaml
# and k8s_resource").
_RENAME = {
    KUBERNETES_APPLY.kind: "give this resource a name of its own with k8s_resource(objects=[...], new_name=...)",
}
# The kinds that act as a ServiceAccount: a Cmd's process, a KubernetesApply's writes.
_ACTING = (CMD.kind, KUBERNETES_APPLY.kind)
# The API server's answer to a write whose precondition no longer holds.
_CONFLICT = 409


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
    ``account`` it runs as; nothing else changed. A loaded Extension only gets a shared reference."""
    if loaded(obj):
        return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [shared_reference(tiltfile, TILTFILE.kind)]}}
    name = tiltfile["metadata"]["name"]
    metadata = dict(obj["metadata"])
    metadata["labels"] = {
        **(tiltfile.get("spec", {}).get("labels") or {}),
        **(metadata.get("labels") or {}),
        LABEL_TILTFILE: name,
    }
    # Tilt's convention: every object names the resource it belongs to (its Tiltfile when none).
    metadata["annotations"] = {ANNOTATION_RESOURCE: name, **(metadata.get("annotations") or {})}
    if obj.get("kind") in _ACTING:
        # Set last: the Tiltfile decides who its processes and deploys are, not the object it registered.
        metadata["annotations"][ANNOTATION_SERVICE_ACCOUNT] = account
    metadata["ownerReferences"] = [controller_reference(tiltfile, TILTFILE.kind)]
    return {**obj, "metadata": metadata}


def already_applied(existing: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether ``existing`` already is ``desired``: same spec, labels, annotations and controller; for
    a shared object, the same spec, what this Tiltfile sets among the rest, and its reference."""
    if existing is None or existing.get("spec") != desired.get("spec"):
        return False
    have, want = existing["metadata"], desired["metadata"]
    [reference] = want["ownerReferences"]
    if not reference.get("controller"):
        return (
            _includes(have.get("labels"), want.get("labels"))
            and _includes(have.get("annotations"), want.get("annotations"))
            and any(ref.get("uid") == reference["uid"] for ref in sharing_owners(existing, TILTFILE.kind))
        )
    controller = controller_of(existing)
    return (
        (have.get("labels") or {}) == want["labels"]
        and (have.get("annotations") or {}) == want["annotations"]
        and controller is not None
        and controller.get("uid") == reference["uid"]
    )


def _includes(have: Mapping[str, str] | None, want: Mapping[str, str] | None) -> bool:
    return all((have or {}).get(key) == value for key, value in (want or {}).items())


def refusal(found: Mapping[str, Any] | None, desired: Mapping[str, Any], uid: str) -> str | None:
    """Why the Tiltfile ``uid`` may not apply ``desired`` over ``found``, which is someone else's:
    controlled by another owner, shared by loading Tiltfiles (or installed on its own, for a load)
    or loaded by others with another spec. None when it may."""
    if found is None:
        return None
    what = f"{desired['kind']} {desired['metadata']['name']}"
    controller = controller_of(found)
    if controller and controller.get("uid") != uid:
        owner = f"{controller.get('kind')} {controller.get('name')}"
        return f"{what} is already owned by {owner}: {_RENAME.get(desired['kind'], 'rename it')} or remove it there"
    sharing = sharing_owners(found, TILTFILE.kind)
    others = ", ".join(sorted(str(ref.get("name")) for ref in sharing if ref.get("uid") != uid))
    if not loaded(desired):
        return f"{what} is loaded by Tiltfile {others}: rename it or stop loading it there" if others else None
    if controller is None and not loaded(found):
        return f"{what} is installed on its own, not loaded: delete it to load it here"
    if others and found.get("spec") != desired.get("spec"):
        return (
            f"{what} is loaded by Tiltfile {others} with spec {_compact(found.get('spec'))}; "
            f"this run loads it with spec {_compact(desired.get('spec'))}"
        )
    return None


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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
        *,
        prune: bool = True,
    ) -> None:
        """Apply every registered object, then (with ``prune``) give up this Tiltfile's objects the run
        did not register, each write as ``identity``. A run that stopped early (waiting for a repo)
        does not prune: what it would have registered after that point is not gone."""
        kinds = kinds_by_name(crds)
        name, uid = tiltfile["metadata"]["name"], tiltfile["metadata"]["uid"]
        unknown = sorted({obj["kind"] for obj in objects} - set(kinds))
        if unknown:
            raise ApplyError(f"no CRD installed for kind {', '.join(unknown)}")
        wanted = [(kinds[obj["kind"]], desired_object(obj, tiltfile, identity.name)) for obj in objects]
        existing = [await self._existing(kind, obj["metadata"]["name"]) for kind, obj in wanted]
        for (_, obj), found in zip(wanted, existing, strict=True):
            if (why := refusal(found, obj, uid)) is not None:
                raise ApplyError(why)
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
        if prune:
            await self._prune(tiltfile, {(obj["kind"], obj["metadata"]["name"]) for obj in objects}, kinds, identity)

    async def _prune(
        self,
        tiltfile: Mapping[str, Any],
        registered: set[tuple[str, str]],
        kinds: Mapping[str, Kind],
        identity: Identity,
    ) -> None:
        name, uid = tiltfile["metadata"]["name"], tiltfile["metadata"]["uid"]
        for kind_name, obj_name in await self._owned(name, uid, kinds):
            if (kind_name, obj_name) not in registered:
                await self._delete(kinds[kind_name], obj_name, identity)
        for kind_name, obj_name, owner in self._relations.shared_by(name):
            if owner == uid and kind_name in kinds and (kind_name, obj_name) not in registered:
                await self._leave(kinds[kind_name], obj_name, tiltfile, identity)

    async def _leave(self, kind: Kind, name: str, tiltfile: Mapping[str, Any], identity: Identity) -> None:
        """Stop sharing ``name``: take this Tiltfile's reference off it, or delete it with the last one."""
        found = self._cache.get(kind, name)
        if found is None:
            return
        owners = found["metadata"].get("ownerReferences") or []
        if any(ref.get("uid") != tiltfile["metadata"]["uid"] for ref in owners):
            # An apply of nothing under its field manager removes what only this Tiltfile set: its reference.
            nothing = {"apiVersion": API_VERSION, "kind": kind.kind, "metadata": {"name": name}}
            try:
                found = await self._client.apply(
                    kind, nothing, field_manager(tiltfile["metadata"]["name"]), as_user=identity.username
                )
            except ApiError as refused:
                raise ApplyError(f"prune {kind.kind} {name}: {refused.message}") from None
            if found["metadata"].get("ownerReferences"):
                return
            # The others left at the same moment: no garbage collector would delete it now.
        await self._delete(kind, name, identity, found["metadata"].get("resourceVersion"))

    async def _delete(self, kind: Kind, name: str, identity: Identity, resource_version: str | None = None) -> None:
        try:
            await self._client.delete(kind, name, as_user=identity.username, resource_version=resource_version)
        except ApiError as refused:
            if refused.status == _CONFLICT:
                raise  # a shared object someone just began to load: the run is retried, and leaves it then
            raise ApplyError(f"prune {kind.kind} {name}: {refused.message}") from None

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
