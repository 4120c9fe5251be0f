"""KubernetesApply: Tilt's deploy of YAML, applied to the operator's own cluster as the extension.

What ``k8s_yaml`` registers (docs/design.md, "KubernetesApply"). Each object of ``spec.yaml`` is
written with server-side apply under the field manager ``kubernetesapply/<name>``, impersonating
the ServiceAccount the Tiltfile stamped on the KubernetesApply (``tilt.dev/service-account``,
never the operator's own rights), labelled and owned by it (:mod:`.manifests`). An object the API
server refuses is named in ``status.error`` in its words, and the rest is applied all the same;
the apply is retried with the queue's backoff, since a namespace, a CRD or a role binding may
come. What the last apply left in ``status.inventory`` and the YAML no longer has is pruned, as
the same account. An unchanged spec (``status.appliedInputHash``) is not applied again.

Health is Flux's: each applied object's kstatus (:mod:`.health`) is in the inventory, and the
KubernetesApply is Ready once every one is Current. Until then it is ``Progressing`` (or
``HealthCheckFailed``), and the objects not yet Current are read again, as the same account,
every ``HEALTH_POLL`` seconds (a Failed one with the queue's backoff): a poll, as Flux's health
checks poll, since the operator may watch no kind of an extension's (it may only impersonate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator import reasons, timestamps
from tilt_operator.api import KUBERNETES_APPLY
from tilt_operator.kube import ApiError
from tilt_operator.reconcilers import health, manifests
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.discovery import Discovery
from tilt_operator.reconcilers.identities import Identities, Identity, ServiceAccountNotFound, stamped_service_account
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status

# Seconds between reads of objects on their way to Current (a rollout).
HEALTH_POLL = 2.0
# Tilt's name for the cluster a Tiltfile deploys to: here, the operator's own.
DEFAULT_CLUSTER = "default"


def field_manager(name: str) -> str:
    return f"kubernetesapply/{name}"[:128]


class KubernetesApplyReconciler:
    def __init__(
        self, *, cache: Cache, writer: StatusWriter, client: Client, identities: Identities, discovery: Discovery
    ) -> None:
        self._cache, self._writer, self._client = cache, writer, client
        self._identities, self._discovery = identities, discovery

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(KUBERNETES_APPLY, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return Result()  # what it applied goes with it: the garbage collector follows its ownerReferences
        current = self._writer.current(obj)
        spec = obj.get("spec") or {}
        account = stamped_service_account(obj, self._identities.default)
        digest = manifests.input_hash(spec, account)
        if current.get("appliedInputHash") == digest and not current.get("error"):
            if all(item.get("health") == health.CURRENT for item in current.get("inventory") or []):
                return Result()
            return await self._recheck(obj, current, account)
        refusal = _unsupported(spec)
        if refusal is None:
            try:
                wanted = manifests.documents(str(spec.get("yaml") or ""))
            except manifests.ManifestError as invalid:
                refusal = str(invalid)
        if refusal is not None:
            await self._write(obj, current, {"error": refusal}, reasons.YAML_INVALID, refusal)
            return Result()
        try:
            identity = await self._identities.get(account)
        except ServiceAccountNotFound as missing:
            await self._write(obj, current, {"error": str(missing)}, reasons.SERVICE_ACCOUNT_NOT_FOUND, str(missing))
            return Result(retry=True)
        started = timestamps.now()
        applied, errors = await self._apply(obj, wanted, identity)
        previous = current.get("inventory") or []
        keys = {manifests.key(doc) for doc in wanted}
        refused_keys = keys - {manifests.key(manifests.entry(done)) for done in applied}
        kept, prune_errors = await self._prune(manifests.to_prune(previous, keys), identity)
        errors += prune_errors
        fields: dict[str, Any] = {
            "resultYAML": None if errors else manifests.result_yaml(applied),
            "error": "; ".join(errors) or None,
            "lastApplyStartTime": started,
            "lastApplyTime": timestamps.now(),
            "appliedInputHash": digest,
            "inventory": manifests.inventory(previous, applied, refused_keys | kept),
        }
        if errors:
            await self._write(obj, current, fields, reasons.APPLY_FAILED, fields["error"])
            return Result(retry=True)
        return await self._summarize(obj, current, fields, identity.name)

    async def _recheck(self, obj: Mapping[str, Any], current: Mapping[str, Any], account: str) -> Result:
        """Read every applied object again, as the account, for its health: as a kstatus poller does,
        all of them until all are Current at once."""
        try:
            identity = await self._identities.get(account)
        except ServiceAccountNotFound as missing:
            await self._write(obj, current, {"error": str(missing)}, reasons.SERVICE_ACCOUNT_NOT_FOUND, str(missing))
            return Result(retry=True)
        items = [await self._read_health(item, identity) for item in current.get("inventory") or []]
        return await self._summarize(obj, current, {"inventory": items}, identity.name)

    async def _read_health(self, item: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
        resource = await self._discovery.resource(str(item["apiVersion"]), str(item["kind"]))
        path = resource.path(str(item["name"]), item.get("namespace")) if resource else None
        try:
            found = await self._client.get_at(path, as_user=identity.username) if path else None
        except ApiError as refused:
            return {**item, "health": health.IN_PROGRESS, "message": f"cannot read it: {refused.message}"}
        if found is None:
            return {**item, "health": health.IN_PROGRESS, "message": "not found: deleted since it was applied"}
        return manifests.entry(found)

    async def _summarize(
        self, obj: Mapping[str, Any], current: Mapping[str, Any], fields: Mapping[str, Any], account: str
    ) -> Result:
        """Ready once every applied object is Current (kstatus); until then Progressing, re-read with
        backoff; HealthCheckFailed while one has Failed."""
        items = fields["inventory"]
        failed = [item for item in items if item.get("health") == health.FAILED]
        progressing = [item for item in items if item.get("health") == health.IN_PROGRESS]
        if failed or progressing:
            reason = reasons.HEALTH_CHECK_FAILED if failed else reasons.PROGRESSING
            message = "; ".join(f"{_named(item)}: {item.get('message', '')}" for item in failed or progressing)
            await self._write(obj, current, fields, reason, message)
            # A rollout is read again every few seconds; what has failed, with backoff.
            return Result(retry=True) if failed else Result(requeue_after=HEALTH_POLL)
        count = f"{len(items)} object{'' if len(items) == 1 else 's'}"
        await self._write(
            obj, current, fields, reasons.YAML_APPLIED, f"{count} applied as {account}, all Current", ready=True
        )
        return Result()

    async def _apply(
        self, obj: Mapping[str, Any], wanted: list[dict[str, Any]], identity: Identity
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Apply each object in order (a namespace before what goes in it); what was applied, and what was refused."""
        applied, errors = [], []
        manager = field_manager(obj["metadata"]["name"])
        for doc in wanted:
            resource = await self._discovery.resource(doc["apiVersion"], doc["kind"])
            if resource is None:
                missing = f"the cluster has no kind {doc['kind']} in {doc['apiVersion']}"
                errors.append(f"{manifests.describe(doc)}: {missing}")
                continue
            desired = manifests.owned(doc, obj, namespaced=resource.namespaced)
            path = resource.path(desired["metadata"]["name"], desired["metadata"].get("namespace"))
            try:
                applied.append(await self._client.apply_at(path, desired, manager, as_user=identity.username))
            except ApiError as refused:
                errors.append(f"{manifests.describe(desired)}: {refused.message}")
        return applied, errors

    async def _prune(self, gone: list[Mapping[str, Any]], identity: Identity) -> tuple[set[manifests.Key], list[str]]:
        """Delete what the YAML no longer has; the keys of those that could not be, and why."""
        kept: set[manifests.Key] = set()
        errors = []
        for old in gone:
            resource = await self._discovery.resource(str(old["apiVersion"]), str(old["kind"]))
            if resource is None:
                continue  # its kind is gone, and it with it
            try:
                path = resource.path(str(old["name"]), old.get("namespace"))
                await self._client.delete_at(path, as_user=identity.username)
            except ApiError as refused:
                kept.add(manifests.key(old))
                errors.append(f"prune {_named(old)}: {refused.message}")
        return kept, errors

    async def _write(
        self,
        obj: Mapping[str, Any],
        current: Mapping[str, Any],
        fields: Mapping[str, Any],
        reason: str,
        message: str,
        *,
        ready: bool = False,
    ) -> None:
        status = desired_status(
            {**current, **fields}, obj=obj, current=current, ready=ready, reason=reason, message=message
        )
        await self._writer.write(KUBERNETES_APPLY, obj, status)


def _named(item: Mapping[str, Any]) -> str:
    return manifests.describe({"kind": item["kind"], "metadata": item})


def _unsupported(spec: Mapping[str, Any]) -> str | None:
    """Why this operator cannot apply ``spec`` at all, or None."""
    if spec.get("applyCmd"):
        return "spec.applyCmd (k8s_custom_deploy) is not run by this operator yet"
    cluster = spec.get("cluster") or DEFAULT_CLUSTER
    if cluster != DEFAULT_CLUSTER:
        return f"spec.cluster {cluster!r}: this operator deploys only to its own cluster, {DEFAULT_CLUSTER!r}"
    return None
