"""A fake API server for the reconcilers' unit tests: it keeps objects, counts every call, and feeds a Cache.

The reconcilers read a :class:`~tilt_operator.reconcilers.cache.Cache` (kopf's indexes in the
operator) and write through a client; here both are backed by one dict of objects, so a test can
reconcile, look at what was written, reconcile again and count the calls. Whatever it hands out is
a copy, as from a real API server, so a writer that forgets what it wrote cannot pass for one that
remembers; a status patch or a delete with a resourceVersion that is no longer the object's is a 409.
Server-side apply is a merge, with two of its rules: an apply without a spec leaves the spec as it
is, and ownerReferences are a list keyed by uid in which each field manager keeps the references it
applies (so an apply without its reference takes it off, and leaves the others').
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tilt_operator.api import API_VERSION, KINDS, Kind
from tilt_operator.kube import ApiError
from tilt_operator.reconcilers.cache import Cache

BY_KIND = {kind.kind: kind for kind in KINDS}


def merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch, as the API server applies one."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(dict(result[key]), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class FakeCluster:
    """The objects, the calls made, and the Cache a watch would have fed."""

    def __init__(self, *objects: Mapping[str, Any], crds: list[dict[str, Any]] | None = None) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.events: list[tuple[str, str, str]] = []
        self.crds = crds or []
        # The data of the Secrets in the operator's namespace, by name (its own index in the operator).
        self.secrets: dict[str, dict[str, str]] = {}
        # The ServiceAccounts of the operator's namespace that exist, and who every write was made as.
        self.service_accounts: set[str] = {"tilt-extension"}
        self.written_as: list[tuple[str, str, str | None]] = []
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)
        # The ownerReferences each field manager applied, by object.
        self._references: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        for obj in objects:
            self.put(obj)

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace an object as a user would, bumping generation when its spec changes."""
        stored = copy.deepcopy(dict(obj))
        key = (stored["kind"], stored["metadata"]["name"])
        old = self.objects.get(key)
        metadata = stored["metadata"]
        metadata.setdefault("uid", old["metadata"]["uid"] if old else f"uid-{next(self._uids)}")
        generation = old["metadata"].get("generation", 1) if old else 1
        if old and old.get("spec") != stored.get("spec"):
            generation += 1
        metadata["generation"] = generation
        metadata["resourceVersion"] = str(next(self._versions))
        stored.setdefault("apiVersion", API_VERSION)
        if old and "status" not in stored and "status" in old:
            stored["status"] = old["status"]
        self.objects[key] = stored
        return copy.deepcopy(stored)  # what a client gets: never the stored object itself

    def set_status(self, kind: str, name: str, status: Mapping[str, Any]) -> None:
        """Another writer (the Tiltfile's own reconciler, a click) replaces an object's status."""
        stored = self.objects[(kind, name)]
        stored["status"] = copy.deepcopy(dict(status))
        stored["metadata"]["resourceVersion"] = str(next(self._versions))

    def get_object(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object as the server holds it now: a copy, as every read gets."""
        return copy.deepcopy(self.objects.get((kind, name)))

    # The client.

    async def get(self, kind: Kind, name: str) -> dict[str, Any] | None:
        self.calls["get"] += 1
        return copy.deepcopy(self.objects.get((kind.kind, name)))

    async def list(self, kind: Kind, label_selector: str = "") -> list[dict[str, Any]]:
        self.calls["list"] += 1
        key, _, value = label_selector.partition("=")
        return [
            copy.deepcopy(obj)
            for (k, _), obj in self.objects.items()
            if k == kind.kind and (not key or (obj["metadata"].get("labels") or {}).get(key) == value)
        ]

    async def apply(
        self, kind: Kind, obj: Mapping[str, Any], field_manager: str, *, as_user: str | None = None
    ) -> dict[str, Any]:
        self.calls[f"apply {kind.kind}"] += 1
        self.written_as.append((f"apply {kind.kind}", obj["metadata"]["name"], as_user))
        key = (kind.kind, obj["metadata"]["name"])
        existing = self.objects.get(key)
        merged = merge(copy.deepcopy(existing) if existing else {}, obj)
        if "spec" in obj:
            merged["spec"] = copy.deepcopy(obj["spec"])
        merged["metadata"].pop("ownerReferences", None)
        if references := self._applied_references(key, existing, obj, field_manager):
            merged["metadata"]["ownerReferences"] = references
        return copy.deepcopy(self.put(merged))

    def _applied_references(
        self, key: tuple[str, str], existing: Mapping[str, Any] | None, obj: Mapping[str, Any], field_manager: str
    ) -> list[dict[str, Any]]:
        """The ownerReferences after ``field_manager`` applied ``obj``: those no manager applied
        (written some other way), then every manager's, by uid."""
        managers = self._references.setdefault(key, {})
        applied = {ref.get("uid") for refs in managers.values() for ref in refs}
        written = (existing or {}).get("metadata", {}).get("ownerReferences") or []
        before = [ref for ref in written if ref.get("uid") not in applied]
        managers[field_manager] = copy.deepcopy(obj["metadata"].get("ownerReferences") or [])
        by_uid = {ref.get("uid"): ref for ref in before}
        for refs in managers.values():
            by_uid.update({ref.get("uid"): ref for ref in refs})
        return list(by_uid.values())

    async def create(self, kind: Kind, obj: Mapping[str, Any], field_manager: str) -> dict[str, Any]:
        self.calls[f"create {kind.kind}"] += 1
        if (kind.kind, obj["metadata"]["name"]) in self.objects:
            raise ApiError(409, f'{kind.plural}.tilt.dev "{obj["metadata"]["name"]}" already exists')
        return copy.deepcopy(self.put({**obj, "kind": kind.kind}))

    async def delete(
        self, kind: Kind, name: str, *, as_user: str | None = None, resource_version: str | None = None
    ) -> None:
        self.calls[f"delete {kind.kind}"] += 1
        self.written_as.append((f"delete {kind.kind}", name, as_user))
        obj = self.objects.get((kind.kind, name))
        if obj is not None and resource_version is not None and resource_version != obj["metadata"]["resourceVersion"]:
            raise ApiError(409, f"Precondition failed: resourceVersion {resource_version} of {kind.plural} {name!r}")
        self.objects.pop((kind.kind, name), None)
        self._references.pop((kind.kind, name), None)

    async def request_token(self, namespace: str, name: str, expiration_seconds: int) -> dict[str, Any] | None:
        self.calls["request token"] += 1
        if name not in self.service_accounts:
            return None
        expires = datetime.now(UTC) + timedelta(seconds=expiration_seconds)
        token = f"token-{name}-{self.calls['request token']}"
        return {"status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}

    async def patch_status(
        self, kind: Kind, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> dict[str, Any] | None:
        self.calls[f"patch status {kind.kind}"] += 1
        obj = self.objects.get((kind.kind, name))
        if obj is None:
            return None
        if resource_version is not None and resource_version != obj["metadata"]["resourceVersion"]:
            self.calls["conflict"] += 1
            raise ApiError(
                409, f"Operation cannot be fulfilled on {kind.plural} {name!r}: the object has been modified"
            )
        obj["status"] = merge(obj.get("status") or {}, status)
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(obj)

    async def post_event(self, obj: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
        self.calls["post event"] += 1
        self.events.append((obj["metadata"]["name"], reason, message))

    @property
    def writes(self) -> int:
        """Every call that changes something on the server (events excluded)."""
        return sum(
            count for call, count in self.calls.items() if call.split()[0] in {"apply", "create", "delete", "patch"}
        )

    # The cache, as kopf's indexes would hold it.

    def cache(self) -> Cache:
        return Cache(_Indexes(self))


class _Indexes(Mapping[str, Any]):
    """kopf's indexes computed live from the fake's objects, with the operator's own index functions."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._cluster = cluster

    def _build(self, name: str) -> dict[Any, list[Any]]:
        if name == "crds":
            return {crd["metadata"]["name"]: [crd] for crd in self._cluster.crds}
        if name == "secrets":
            return {secret: [dict(data)] for secret, data in self._cluster.secrets.items()}
        index: dict[Any, list[Any]] = {}
        for obj in self._cluster.objects.values():
            if name == BY_KIND.get(obj["kind"], Kind("", "")).plural:
                index[obj["metadata"]["name"]] = [copy.deepcopy(obj)]
        return index

    def __getitem__(self, name: str) -> dict[Any, list[Any]]:
        if name not in self._names():
            raise KeyError(name)
        return self._build(name)

    def _names(self) -> set[str]:
        return {kind.plural for kind in KINDS} | {"crds", "secrets"}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())
