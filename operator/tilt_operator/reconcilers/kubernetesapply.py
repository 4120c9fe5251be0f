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

Its log says what Tilt's says (``kubectl tilt logs NAME``): each apply and the objects it applied,
each new error, what was pruned, what an applyCmd printed on stderr, and each object's health as
it changes.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from tilt_operator import processes, reasons, timestamps
from tilt_operator.api import CMD, KUBERNETES_APPLY
from tilt_operator.kube import ApiError
from tilt_operator.logstore import STDERR, SYSTEM, Key, LogStore
from tilt_operator.messages import quoted
from tilt_operator.reconcilers import buttons, dependencies, health, manifests
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.discovery import Discovery
from tilt_operator.reconcilers.identities import Identities, Identity, ServiceAccountNotFound, stamped_service_account
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status

logger = logging.getLogger(__name__)

# Seconds between reads of objects on their way to Current (a rollout).
HEALTH_POLL = 2.0
# Tilt's default for spec.timeout: how long an applyCmd or deleteCmd may run.
DEFAULT_TIMEOUT = 30.0
# Held by a KubernetesApply with a deleteCmd until the command has run.
DELETE_CMD_FINALIZER = "tilt.dev/delete-cmd"
# Tilt's name for the cluster a Tiltfile deploys to: here, the operator's own.
DEFAULT_CLUSTER = "default"


def field_manager(name: str) -> str:
    return f"kubernetesapply/{name}"[:128]


class KubernetesApplyReconciler:
    def __init__(
        self,
        *,
        cache: Cache,
        writer: StatusWriter,
        client: Client,
        identities: Identities,
        discovery: Discovery,
        launcher: processes.Launcher,
        logs: LogStore,
        exec_enabled: bool,
    ) -> None:
        self._cache, self._writer, self._client, self._logs = cache, writer, client, logs
        self._identities, self._discovery = identities, discovery
        self._launcher, self._exec = launcher, exec_enabled

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(KUBERNETES_APPLY, name)
        if obj is None:
            return Result()
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if obj["metadata"].get("deletionTimestamp"):
            # What it applied goes with it: the garbage collector follows the ownerReferences; what
            # an applyCmd deployed, its deleteCmd deletes.
            if DELETE_CMD_FINALIZER in finalizers:
                await self._delete_cmd(obj, [f for f in finalizers if f != DELETE_CMD_FINALIZER])
            return Result()
        spec = obj.get("spec") or {}
        if spec.get("deleteCmd") and DELETE_CMD_FINALIZER not in finalizers:
            # A deleteCmd runs before the object goes, even if the operator was down when it was deleted.
            version = str(obj["metadata"]["resourceVersion"])
            await self._client.set_finalizers(KUBERNETES_APPLY, name, [*finalizers, DELETE_CMD_FINALIZER], version)
        current = self._writer.current(obj)
        account = stamped_service_account(obj, self._identities.default)
        restart = buttons.file_events(self._cache, buttons.file_watches(spec))
        digest = manifests.input_hash(spec, account, restart)
        if current.get("appliedInputHash") == digest and not current.get("error"):
            if all(item.get("health") == health.CURRENT for item in current.get("inventory") or []):
                return Result()
            return await self._recheck(obj, current, account)
        if not current.get("lastApplyTime") and (waiting := self._waiting(obj)):
            # As in Tilt, a resource waits for its resource_deps before its first deploy, not after.
            await self._write(obj, current, {}, reasons.DEPENDENCY_NOT_READY, waiting)
            return Result()
        refusal, reason = unsupported(spec, self._exec) or (None, "")
        if refusal is None and not spec.get("applyCmd"):
            try:
                wanted = manifests.documents(str(spec.get("yaml") or ""))
            except manifests.ManifestError as invalid:
                refusal, reason = str(invalid), reasons.YAML_INVALID
        if refusal is not None:
            await self._write(obj, current, {"error": refusal}, reason, refusal)
            return Result()
        identity = await self._identity(obj, current, account)
        if identity is None:
            return Result(retry=True)
        if spec.get("applyCmd"):
            return await self._apply_cmd(obj, current, identity, digest)
        started = timestamps.now()
        self._say(obj, f"Applying YAML to cluster as {identity.username}")
        applied, errors = await self._apply(obj, wanted, identity)
        if applied:
            self._say(obj, "Objects applied to cluster:", *(f"  → {manifests.describe(done)}" for done in applied))
        previous = current.get("inventory") or []
        keys = {manifests.key(doc) for doc in wanted}
        refused_keys = keys - {manifests.key(manifests.entry(done)) for done in applied}
        kept, prune_errors = await self._prune(obj, manifests.to_prune(previous, keys), identity)
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
            await self._fail(obj, current, fields)
            return Result(retry=True)
        return await self._summarize(obj, current, fields, identity.name)

    async def _apply_cmd(
        self, obj: Mapping[str, Any], current: Mapping[str, Any], identity: Identity, digest: str
    ) -> Result:
        """Tilt's k8s_custom_deploy: the command deploys, as the extension's processes run, and the
        YAML it prints is what it deployed."""
        started = timestamps.now()
        self._say(obj, f"Running cmd: {shlex.join(obj['spec']['applyCmd']['args'])}")
        finished, failure = await self._command(obj, "applyCmd", identity)
        if finished is not None and (printed := finished.stderr.decode(errors="replace").splitlines()):
            self._say(obj, *printed, stream=STDERR)
        deployed: list[dict[str, Any]] = []
        if finished is not None and failure is None:
            try:
                deployed = manifests.documents(finished.stdout.decode(errors="replace"), "applyCmd's output")
            except manifests.ManifestError as invalid:
                failure = str(invalid)
        fields: dict[str, Any] = {
            "resultYAML": None if failure else manifests.result_yaml(deployed),
            "error": failure,
            "lastApplyStartTime": started,
            "lastApplyTime": timestamps.now(),
            "appliedInputHash": digest,
            "inventory": [manifests.entry(item) for item in deployed],
        }
        if failure:
            await self._fail(obj, current, fields)
            return Result(retry=True)
        self._say(obj, "Objects applied to cluster:", *(f"  → {manifests.describe(done)}" for done in deployed))
        return await self._summarize(obj, current, fields, identity.name)

    async def _delete_cmd(self, obj: Mapping[str, Any], finalizers: list[str]) -> None:
        """Run the deleteCmd of a KubernetesApply being deleted (said in the operator's log if it
        fails: nothing is left to report on), then let the object go."""
        name = obj["metadata"]["name"]
        account = stamped_service_account(obj, self._identities.default)
        failure: str | None
        if not self._exec:
            failure = "the operator runs no command without --exec"
        else:
            try:
                _, failure = await self._command(obj, "deleteCmd", await self._identities.get(account))
            except ServiceAccountNotFound as missing:
                failure = str(missing)
        if failure:
            for_object(logger, name).warning("deleteCmd: %s", failure)
        await self._client.set_finalizers(KUBERNETES_APPLY, name, finalizers, str(obj["metadata"]["resourceVersion"]))

    async def _command(
        self, obj: Mapping[str, Any], which: str, identity: Identity
    ) -> tuple[processes.Finished | None, str | None]:
        """Run the spec's ``which`` command to its end as ``identity``: how it ended, or why it failed."""
        command = obj["spec"][which]
        timeout = _timeout(obj["spec"])
        try:
            finished = await processes.run(
                self._launcher,
                command["args"],
                cwd=command.get("dir") or None,
                env=identity.environment(command.get("env") or []),
                timeout=timeout,
            )
        except OSError as error:
            return None, f"{which}: cannot start {quoted(command['args'][0])}: {error.strerror or error}"
        except TimeoutError:
            return None, f"{which}: did not finish within {timeout:g} s (spec.timeout)"
        if finished.returncode != 0:
            said = finished.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output on stderr"]
            return finished, f"{which}: {processes.exit_reason(finished.returncode)[1]}: {said[0]}"
        return finished, None

    async def _recheck(self, obj: Mapping[str, Any], current: Mapping[str, Any], account: str) -> Result:
        """Read every applied object again, as the account, for its health: as a kstatus poller does,
        all of them until all are Current at once."""
        identity = await self._identity(obj, current, account)
        if identity is None:
            return Result(retry=True)
        items = [await self._read_health(item, identity) for item in current.get("inventory") or []]
        return await self._summarize(obj, current, {"inventory": items}, identity.name)

    async def _identity(self, obj: Mapping[str, Any], current: Mapping[str, Any], account: str) -> Identity | None:
        """The account to apply as; None, said in the status, while it does not exist."""
        try:
            return await self._identities.get(account)
        except ServiceAccountNotFound as missing:
            await self._write(obj, current, {"error": str(missing)}, reasons.SERVICE_ACCOUNT_NOT_FOUND, str(missing))
            return None

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
        before = {manifests.key(item): item for item in current.get("inventory") or []}
        for item in items:
            was = before.get(manifests.key(item)) or {}
            if (was.get("health"), was.get("message")) != (item.get("health"), item.get("message")):
                message = f": {item['message']}" if item.get("message") else ""
                self._say(obj, f"{_named(item)}: {item.get('health')}{message}")
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

    async def _prune(
        self, obj: Mapping[str, Any], gone: list[Mapping[str, Any]], identity: Identity
    ) -> tuple[set[manifests.Key], list[str]]:
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
                self._say(obj, f"Pruned {_named(old)}: the YAML no longer has it")
            except ApiError as refused:
                kept.add(manifests.key(old))
                errors.append(f"prune {_named(old)}: {refused.message}")
        return kept, errors

    async def _fail(self, obj: Mapping[str, Any], current: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """ApplyFailed with ``fields["error"]``, said in the log when it is new, as Tilt says it."""
        if fields["error"] != current.get("error"):
            self._say(obj, *(f"Error: {error}" for error in fields["error"].split("; ")), stream=STDERR)
        await self._write(obj, current, fields, reasons.APPLY_FAILED, fields["error"])

    def _waiting(self, obj: Mapping[str, Any]) -> str | None:
        cmds, deploys = self._cache.objects(CMD), self._cache.objects(KUBERNETES_APPLY)
        return dependencies.waiting_for_resources(obj, list(cmds), list(deploys))

    def _say(self, obj: Mapping[str, Any], *lines: str, stream: str = SYSTEM) -> None:
        metadata = obj["metadata"]
        texts = [text for line in lines for text in line.splitlines()]  # a log is lines, as a process prints them
        self._logs.append_many(Key(KUBERNETES_APPLY.plural, metadata["name"], metadata["uid"]), stream, texts)

    def deleted(self, obj: Mapping[str, Any]) -> None:
        """The object is gone: so is its log."""
        self._logs.delete(Key(KUBERNETES_APPLY.plural, obj["metadata"]["name"], obj["metadata"]["uid"]))

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


def _timeout(spec: Mapping[str, Any]) -> float:
    try:
        return timestamps.parse_duration(str(spec.get("timeout") or "")) or DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


def unsupported(spec: Mapping[str, Any], exec_enabled: bool) -> tuple[str, str] | None:
    """Why this operator cannot apply ``spec`` at all, and the Ready reason that says so; or None."""
    if spec.get("applyCmd") and not exec_enabled:
        message = "spec.applyCmd (k8s_custom_deploy) runs a command: the operator runs none without --exec"
        return message, reasons.EXEC_DISABLED
    cluster = spec.get("cluster") or DEFAULT_CLUSTER
    if cluster != DEFAULT_CLUSTER:
        message = f"spec.cluster {cluster!r}: this operator deploys only to its own cluster, {DEFAULT_CLUSTER!r}"
        return message, reasons.SPEC_INVALID
    return None
