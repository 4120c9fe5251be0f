"""The Extension reconciler: find the extension's Tiltfile in its repo, own a Tiltfile object for it,
and be Ready exactly when that Tiltfile's last run succeeded and the cluster took what it deployed.

So ``kubectl wait --for=condition=Ready extension/x`` answers the question a user asks: does the
extension work? It is reconciled when it changes, when its repo changes (the
Controller's ``Relations`` know a repo's Extensions), when its Tiltfile changes (same name) and
when one of its KubernetesApplys does (its label), never on a clock.

An Extension that ``load('ext://…')`` named (the loader's, shared by the Tiltfiles that load it)
runs no Tiltfile of its own, as in Tilt: the loading Tiltfiles run its code. It only reports
whether its Tiltfile is there to load, and who loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilt_operator import reasons
from tilt_operator.api import (
    API_VERSION,
    CONDITION_READY,
    CONDITION_RECONCILING,
    EXTENSION,
    EXTENSION_REPO,
    KUBERNETES_APPLY,
    LABEL_EXTENSION,
    TILTFILE,
)
from tilt_operator.messages import clip
from tilt_operator.owners import controlled_by, controller_reference, loaded, sharing_owners
from tilt_operator.paths import PathError, resolve_tiltfile
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, current_ready, desired_status

logger = logging.getLogger(__name__)

FIELD_MANAGER = "tilt-operator-extension"


@dataclass(frozen=True)
class RepoView:
    """The parts of an ExtensionRepo an Extension (and its Tiltfile's loads) depend on.

    Consumers key on the repo's checkout, not on its Ready condition, as Flux's do on an artifact:
    a repo serves its last good checkout (``status.path``) through a failed reconcile or fetch,
    and only a checkout of another URL (``status.url``; the spec's changed) is not served.
    """

    name: str
    # Whether it serves a checkout of its spec's URL (:meth:`from_object`).
    serving: bool
    path: str | None
    git_subpath: str
    checkout_ref: str | None
    error: str | None
    load_host: str = ""
    # Whether the operator has reconciled the repo at all yet (it has a Ready condition).
    settled: bool = True

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> RepoView:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        conditions = status.get("conditions") or []
        served = status.get("url")
        return cls(
            name=obj["metadata"]["name"],
            serving=bool(status.get("path")) and served in (None, spec.get("url")),
            path=status.get("path"),
            git_subpath=spec.get("gitSubpath") or "",
            checkout_ref=status.get("checkoutRef"),
            error=status.get("error") or _ready_message(conditions),
            load_host=spec.get("loadHost") or "",
            settled=bool(conditions),
        )

    @property
    def extensions_dir(self) -> Path | None:
        """Where this repo's extensions live: its checkout joined with its gitSubpath."""
        return Path(self.path) / self.git_subpath if self.serving and self.path else None


def _ready_message(conditions: list[Mapping[str, Any]]) -> str | None:
    """Why a repo is not Ready, when its status has no error of its own (a reconcile that raised)."""
    ready = next((c for c in conditions if c.get("type") == CONDITION_READY), None)
    return str(ready.get("message")) if ready is not None and ready.get("status") != "True" else None


@dataclass(frozen=True)
class ExtensionOutcome:
    path: Path | None
    reason: str
    message: str

    @property
    def ready(self) -> bool:
        return self.path is not None


def resolve_extension(spec: Mapping[str, Any], repo: RepoView | None) -> ExtensionOutcome:
    """Find the Extension's Tiltfile, or say which step failed and how to fix it."""
    repo_name = clip(spec.get("repoName", ""))
    if repo is None:
        return ExtensionOutcome(None, reasons.REPO_NOT_FOUND, f"extension repo not found: {repo_name}")
    if not repo.serving or repo.path is None:
        detail = f" ({repo.error})" if repo.error else ""
        return ExtensionOutcome(None, reasons.REPO_NOT_READY, f"extension repo not ready: {repo_name}{detail}")
    try:
        path = resolve_tiltfile(Path(repo.path), repo.git_subpath, spec.get("repoPath", ""))
    except PathError as error:
        return ExtensionOutcome(None, reasons.PATH_INVALID, f"path: {error}")
    return ExtensionOutcome(path, reasons.TILTFILE_PENDING, f"Tiltfile {path}")


def build_tiltfile(extension: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The Tiltfile object an Extension owns: same name, labelled, controller-owned, path and args."""
    name = extension["metadata"]["name"]
    account = extension.get("spec", {}).get("serviceAccountName")
    return {
        "apiVersion": API_VERSION,
        "kind": TILTFILE.kind,
        "metadata": {
            "name": name,
            "labels": {LABEL_EXTENSION: name},
            "ownerReferences": [controller_reference(extension, extension.get("kind", EXTENSION.kind))],
        },
        "spec": {
            "path": str(path),
            "args": list(extension.get("spec", {}).get("args") or []),
            # Everything the extension's Tiltfile registers says which extension it came from.
            "labels": {LABEL_EXTENSION: name},
            # It acts as the extension's ServiceAccount (none: the operator's default).
            **({"serviceAccountName": account} if account else {}),
        },
    }


def tiltfile_is_current(existing: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether the Tiltfile object already says what ``desired`` says, so applying it would change nothing."""
    if existing is None:
        return False
    metadata, wanted = existing["metadata"], desired["metadata"]
    labels = metadata.get("labels") or {}
    spec = existing.get("spec") or {}
    return (
        all(labels.get(key) == value for key, value in wanted["labels"].items())
        and controlled_by(existing, wanted["ownerReferences"][0]["uid"])
        and all(spec.get(key, [] if key == "args" else None) == value for key, value in desired["spec"].items())
        and spec.get("serviceAccountName") == desired["spec"].get("serviceAccountName")
    )


def run_readiness(tiltfile: Mapping[str, Any] | None) -> tuple[bool, str, str, str | None]:
    """(ready, reason, message, error) from the Tiltfile's last run: the Extension works when it succeeded."""
    if tiltfile is None:
        return False, reasons.TILTFILE_PENDING, "waiting for the Tiltfile object", None
    name = tiltfile["metadata"]["name"]
    status = tiltfile.get("status") or {}
    condition = current_ready(tiltfile)
    if condition is None:
        return False, reasons.TILTFILE_PENDING, f"waiting for Tiltfile {name} to run", None
    succeeded = condition.get("status") == "True"
    if condition.get("reason") == reasons.SERVICE_ACCOUNT_NOT_FOUND:
        message = str(condition.get("message", ""))
        return False, reasons.SERVICE_ACCOUNT_NOT_FOUND, message, message
    # What the last run that ended failed with (a run in flight keeps it in Ready's message).
    last = (status.get("terminated") or {}).get("error") or (
        condition.get("message") if condition.get("reason") == reasons.RUN_FAILED else None
    )
    error = None if succeeded else last
    progress = next(
        (c for c in status.get("conditions") or [] if c.get("type") == CONDITION_RECONCILING and c["status"] == "True"),
        condition if condition.get("reason") in reasons.RECONCILING else None,
    )
    if progress is not None:
        # Not a failure, and no longer what the last run said: a run in flight, a wait for the repo
        # of an extension it loads, a retry. Ready stays as the last run left it.
        message = f"Tiltfile {name}: {progress.get('message', '')}"
        return succeeded, reasons.TILTFILE_PENDING, message, f"tiltfile: {error}" if error else None
    if succeeded:
        return True, reasons.TILTFILE_SUCCEEDED, f"Tiltfile {name}: {condition.get('message', '')}", None
    error = error or condition.get("message") or "the run failed"
    return False, reasons.TILTFILE_FAILED, f"tiltfile: {error}", f"tiltfile: {error}"


def deploy_readiness(deploys: Sequence[Mapping[str, Any]]) -> tuple[str, str, str | None] | None:
    """Why what an Extension's Tiltfile deployed (its KubernetesApplys) is not Ready yet: (reason,
    message, error), the worst first (refused, then failed, then on its way); None when all are."""
    waiting: dict[str, list[str]] = {}
    for deploy in sorted(deploys, key=lambda d: str(d["metadata"]["name"])):
        status = deploy.get("status") or {}
        condition = current_ready(deploy)
        if condition is not None and condition.get("status") == "True":
            continue
        reason = str(condition.get("reason")) if condition else reasons.PROGRESSING
        text = status.get("error") or condition.get("message") if condition else "not applied yet"
        waiting.setdefault(reason, []).append(f"KubernetesApply {deploy['metadata']['name']}: {text}")
    for reason in (reasons.APPLY_FAILED, reasons.YAML_INVALID, reasons.HEALTH_CHECK_FAILED):
        if reason in waiting:
            message = "; ".join(waiting[reason])
            return reasons.APPLY_FAILED if reason == reasons.YAML_INVALID else reason, message, message
    if waiting:
        return reasons.PROGRESSING, "; ".join(line for lines in waiting.values() for line in lines), None
    return None


def extension_status(
    obj: Mapping[str, Any],
    current: Mapping[str, Any],
    outcome: ExtensionOutcome,
    tiltfile: Mapping[str, Any] | None,
    deploys: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The whole status of an Extension: the path it resolved, and Ready from its Tiltfile's last run
    and what it deployed (for one the loader manages, from the path alone: the Tiltfiles that load
    it run it). A run that succeeded is Ready only once what it deployed is: applied, every object
    Current, as ``kubectl wait --for=condition=Ready`` users expect."""
    if outcome.ready and loaded(obj):
        loaders = ", ".join(sorted(str(ref.get("name")) for ref in sharing_owners(obj, TILTFILE.kind)))
        ready, reason, error = True, reasons.TILTFILE_FOUND, None
        message = f"loaded by Tiltfile {loaders or '(none left)'}: {outcome.path}"
    elif outcome.ready:
        ready, reason, message, error = run_readiness(tiltfile)
        pending = deploy_readiness(deploys) if reason == reasons.TILTFILE_SUCCEEDED else None
        if pending:
            ready, (reason, message, error) = False, pending
    else:
        ready, reason, message, error = False, outcome.reason, outcome.message, outcome.message
    fields = {"path": str(outcome.path) if outcome.path else None, "error": error}
    return desired_status(fields, obj=obj, current=current, ready=ready, reason=reason, message=message)


class ExtensionReconciler:
    def __init__(self, *, cache: Cache, writer: StatusWriter, client: Client) -> None:
        self._cache, self._writer, self._client = cache, writer, client

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(EXTENSION, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return Result()
        spec = obj["spec"]
        repo = (
            RepoView.from_object(found)
            if (found := self._cache.get(EXTENSION_REPO, spec.get("repoName", "")))
            else None
        )
        if repo is not None and not repo.settled:
            return Result()  # created a moment ago: its first status will queue this Extension again
        outcome = resolve_extension(spec, repo)
        tiltfile = self._cache.get(TILTFILE, name)
        # The Tiltfile this Extension runs: none for one that Tiltfiles load.
        runs = None if loaded(obj) else outcome.path
        if runs is not None:
            desired = build_tiltfile(obj, runs)
            if not tiltfile_is_current(tiltfile, desired):
                tiltfile = await self._client.apply(TILTFILE, desired, FIELD_MANAGER)
        elif tiltfile is not None and controlled_by(tiltfile, obj["metadata"]["uid"]):
            # Nothing runs for an Extension that cannot be resolved, or that Tiltfiles load, as in Tilt.
            await self._client.delete(TILTFILE, name)
            tiltfile = None
        if runs is not None and tiltfile is not None and not tiltfile.get("status"):
            # Its first run is about to start: its status (running after a moment, terminated when it
            # ends) queues this Extension again, and a quick run needs no "pending" in between.
            return Result()
        current = self._writer.current(obj)
        deploys = [
            deploy
            for deploy in self._cache.objects(KUBERNETES_APPLY)
            if (deploy["metadata"].get("labels") or {}).get(LABEL_EXTENSION) == name
        ]
        status = extension_status(obj, current, outcome, tiltfile, deploys)
        changed = await self._writer.write(EXTENSION, obj, status)
        if changed and not outcome.ready:
            for_object(logger, name).warning("%s", outcome.message)
        return Result()
