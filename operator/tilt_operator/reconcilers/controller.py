"""The operator's reconcilers, their queues, and which event reaches which of them.

The kopf layer calls :meth:`Controller.observe` with every watch event of every kind, after kopf
has put the object in its indexes (the :class:`~tilt_operator.reconcilers.cache.Cache`). An event
queues the object itself only when something other than its status changed, so the operator's
own status writes never queue anything; and it queues what depends on it whatever changed:

- an ExtensionRepo -> its Extensions (``spec.repoName``), and their Tiltfiles (a new commit
  re-runs them), and the Tiltfiles that loaded files from its checkout;
- an Extension -> the Tiltfiles that load it (``ext://``): one may be waiting for its repo;
- a Tiltfile -> the Extension of the same name (an Extension is Ready when its Tiltfile's run succeeded);
- a UIButton (a click is a status write) -> the Cmds and Tiltfiles that name it;
- a Secret in the operator's namespace -> the ExtensionRepos whose ``spec.secretRef`` names it.

Process exits, file changes and finished runs queue their object from inside the reconcilers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tilt_operator.api import (
    ANNOTATION_RESOURCE,
    CMD,
    EXTENSION,
    EXTENSION_REPO,
    FILE_WATCH,
    KOPF_PREFIX,
    KUBERNETES_APPLY,
    LABEL_EXTENSION,
    TILTFILE,
    UI_BUTTON,
    Kind,
)
from tilt_operator.config import Settings
from tilt_operator.engine.pool import WorkerPool
from tilt_operator.gitstore.store import GitStore
from tilt_operator.kube import ClusterAccess
from tilt_operator.logstore import SYSTEM, Key, LogStore
from tilt_operator.owners import sharing_owners
from tilt_operator.processes import Launcher, LocalLauncher
from tilt_operator.reconcilers import relations
from tilt_operator.reconcilers.cache import Cache, Index
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.cmd import CmdReconciler
from tilt_operator.reconcilers.discovery import Discovery
from tilt_operator.reconcilers.extension import ExtensionReconciler
from tilt_operator.reconcilers.extensionrepo import ExtensionRepoReconciler
from tilt_operator.reconcilers.filewatch import FileWatcher
from tilt_operator.reconcilers.filewatches import FileWatchReconciler
from tilt_operator.reconcilers.identities import Identities
from tilt_operator.reconcilers.kubernetesapply import KubernetesApplyReconciler
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.outage import Outage
from tilt_operator.reconcilers.queue import Reconcile, Result, WorkQueue
from tilt_operator.reconcilers.relations import Relations
from tilt_operator.reconcilers.runrecords import RunRecords
from tilt_operator.reconcilers.status import StatusWriter, summarizing
from tilt_operator.reconcilers.tiltfile import TiltfileReconciler
from tilt_operator.runner.client import RUNNER_HOMES, RunnerLauncher

logger = logging.getLogger(__name__)

# Workers per kind: git fetches and Tiltfile runs are bounded elsewhere (threads, worker slots).
_WORKERS = {EXTENSION_REPO: 4, EXTENSION: 8, TILTFILE: 8, CMD: 8, FILE_WATCH: 2, KUBERNETES_APPLY: 4}


def essence(obj: Mapping[str, Any]) -> str:
    """Everything about an object but its status (and resourceVersion): what, changed, is worth a reconcile."""
    metadata = obj.get("metadata") or {}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith(KOPF_PREFIX)}
    return json.dumps(
        [
            metadata.get("uid"),
            metadata.get("generation"),
            metadata.get("deletionTimestamp"),
            metadata.get("labels"),
            annotations,
            metadata.get("ownerReferences"),
        ],
        sort_keys=True,
    )


class Controller:
    def __init__(
        self,
        *,
        settings: Settings,
        client: Client,
        indexes: Mapping[str, Index],
        unreachable: Callable[[BaseException], bool],
        ping: Callable[[], Awaitable[object]],
        access: ClusterAccess,
    ) -> None:
        self.settings = settings
        self.cache = Cache(indexes)
        self.writer = StatusWriter(client)
        self.identities = Identities(
            client=client,
            namespace=settings.namespace,
            default=settings.default_service_account,
            directory=settings.data_dir / "identities",
            access=access,
            expiration=settings.token_expiration,
            renewal=settings.token_renewal,
            homes=RUNNER_HOMES if settings.runner else None,
        )
        store = GitStore(settings)
        self.watcher = FileWatcher(lambda name: self.queues[TILTFILE].add(name), ignore_under=[store.root])
        self.logs = LogStore(settings.data_dir / "logs")
        self.relations = Relations()
        # Where extension processes run: the runner's container in a cluster, else this process's children.
        self.launcher: Launcher = RunnerLauncher(settings.runner) if settings.runner else LocalLauncher()
        self.cmds = CmdReconciler(
            cache=self.cache,
            writer=self.writer,
            logs=self.logs,
            exec_enabled=settings.exec_enabled,
            requeue=lambda name: self.queues[CMD].add(name),
            identities=self.identities,
            launcher=self.launcher,
        )
        self.pool = WorkerPool(
            size=settings.tiltfile_workers,
            memory_mb=settings.tiltfile_memory_mb,
            max_steps=settings.tiltfile_max_steps,
            launcher=self.launcher,
        )
        self.tiltfiles = TiltfileReconciler(
            cache=self.cache,
            writer=self.writer,
            client=client,
            settings=settings,
            records=RunRecords(settings.data_dir / "tiltfiles"),
            watcher=self.watcher,
            requeue=lambda name, delay: self.queues[TILTFILE].add_after(name, delay),
            pool=self.pool,
            logs=self.logs,
            relations=self.relations,
            identities=self.identities,
        )
        self.repos = ExtensionRepoReconciler(cache=self.cache, writer=self.writer, store=store, settings=settings)
        self.file_watches = FileWatchReconciler(
            cache=self.cache, writer=self.writer, requeue=lambda name: self.queues[FILE_WATCH].add(name)
        )
        self.deploys = KubernetesApplyReconciler(
            cache=self.cache,
            writer=self.writer,
            client=client,
            identities=self.identities,
            discovery=Discovery(client),
            launcher=self.launcher,
            logs=self.logs,
            exec_enabled=settings.exec_enabled,
        )
        reconcilers: dict[Kind, Reconcile] = {
            EXTENSION_REPO: self.repos,
            EXTENSION: ExtensionReconciler(cache=self.cache, writer=self.writer, client=client),
            TILTFILE: self.tiltfiles,
            CMD: self.cmds,
            FILE_WATCH: self.file_watches,
            KUBERNETES_APPLY: self.deploys,
        }
        self.outage = Outage(unreachable=unreachable, ping=ping)
        self.queues = {
            kind: WorkQueue(
                kind.kind,
                self._resuming(kind, self._summarizing(kind, reconcile)),
                workers=_WORKERS[kind],
                failures=self.outage,
            )
            for kind, reconcile in reconcilers.items()
        }
        self._essence: dict[tuple[str, str], str] = {}
        self._swept = False
        self._listed: set[tuple[str, str]] = set()
        self._tasks: asyncio.Future[Any] | None = None

    def _summarizing(self, kind: Kind, reconcile: Reconcile) -> Reconcile:
        return summarizing(kind, reconcile, writer=self.writer, get=lambda name: self.cache.get(kind, name))

    def _resuming(self, kind: Kind, reconcile: Reconcile) -> Reconcile:
        """``reconcile``, saying so once for each object that existed when the operator started."""

        async def reconcile_and_report(name: str) -> Result | None:
            result = await reconcile(name)
            if (kind.kind, name) in self._listed:
                self._listed.discard((kind.kind, name))
                for_object(logger, name).info("resumed the %s", kind.kind)
            return result

        return reconcile_and_report

    def observe(self, kind: Kind, event_type: str | None, obj: Mapping[str, Any]) -> None:
        """One watch event (``event_type`` None for the listing at start-up), after the cache has it."""
        if not self._swept:
            self._sweep()
        name = obj["metadata"]["name"]
        key = (kind.kind, name)
        if event_type == "DELETED":
            self.relations.remove(kind, name)
            self._essence.pop(key, None)
            self._listed.discard(key)
            self._deleted(kind, obj)
            changed = True
        else:
            self.relations.update(kind, obj)
            now = essence(obj)
            changed = self._essence.get(key) != now
            self._essence[key] = now
            if event_type is None and kind in self.queues:
                self._listed.add(key)
        if changed and kind in self.queues:
            self.queues[kind].add(name)
        self._notify_dependents(kind, name, obj)

    def secret_changed(self, name: str) -> None:
        """A watch event of the Secret ``name`` in the operator's namespace, after the cache has it."""
        for repo in self.relations.names(relations.SECRET, name, EXTENSION_REPO):
            self.repos.secret_changed(repo)
            self.queues[EXTENSION_REPO].add(repo)

    def _sweep(self) -> None:
        """Remove what belonged to objects deleted while the operator was down: kopf calls the first
        handler only once every index has its full listing, so the cache has every object now."""
        self._swept = True
        self.relations.rebuild(self.cache)
        self.tiltfiles.sweep({obj["metadata"]["uid"] for obj in self.cache.objects(TILTFILE)})
        for logged in (CMD, KUBERNETES_APPLY):
            self.logs.remove_all_but(logged.plural, {obj["metadata"]["uid"] for obj in self.cache.objects(logged)})

    def _deleted(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        if kind == TILTFILE:
            self.tiltfiles.deleted(obj)
        elif kind == CMD:
            self.cmds.deleted(obj)
        elif kind == KUBERNETES_APPLY:
            self.deploys.deleted(obj)
        elif kind == FILE_WATCH:
            self.file_watches.deleted(obj)
        else:
            self.writer.forget(obj["metadata"].get("uid", ""))
        if kind in self.queues:
            self.queues[kind].forget(obj["metadata"]["name"])

    def _notify_dependents(self, kind: Kind, name: str, obj: Mapping[str, Any]) -> None:
        if kind == EXTENSION_REPO:
            for extension in self.relations.names(relations.REPO, name, EXTENSION):
                self.queues[EXTENSION].add(extension)
                self.queues[TILTFILE].add(extension)
            checkout = (obj.get("status") or {}).get("path")
            for tiltfile in self.watcher.readers_under(Path(checkout)) if checkout else ():
                self.queues[TILTFILE].add(tiltfile)
        elif kind == EXTENSION:
            # Its status follows its repo's, and a run that loads it may be waiting for that repo.
            for loader in sharing_owners(obj, TILTFILE.kind):
                self.queues[TILTFILE].add(str(loader.get("name")))
        elif kind in (TILTFILE, KUBERNETES_APPLY):
            # An Extension's Ready follows its Tiltfile's run and what that run deployed.
            owner = (obj["metadata"].get("labels") or {}).get(LABEL_EXTENSION)
            if owner:
                self.queues[EXTENSION].add(owner)
        elif kind == UI_BUTTON:
            for cmd in self.relations.names(relations.BUTTON, name, CMD):
                self.queues[CMD].add(cmd)
            for tiltfile in self.relations.names(relations.BUTTON, name, TILTFILE):
                self.queues[TILTFILE].add(tiltfile)
        elif kind == FILE_WATCH:
            for dependent in (CMD, KUBERNETES_APPLY):
                for watcher in self.relations.names(relations.FILE_WATCH, name, dependent):
                    self.queues[dependent].add(watcher)
        if kind in (CMD, KUBERNETES_APPLY):
            # The Cmds that start after this one, and the Cmds and KubernetesApplys that wait for its resource.
            resource = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_RESOURCE)
            for cmd in self.relations.names(relations.AFTER, name, CMD) if kind == CMD else []:
                self.queues[CMD].add(cmd)
            for dependent in (CMD, KUBERNETES_APPLY):
                for waiting in self.relations.names(relations.RESOURCE_DEP, resource, dependent) if resource else []:
                    self.queues[dependent].add(waiting)

    def took_over(self, previous: str) -> None:
        """Mark every log: this operator took over from ``previous`` (a failover)."""
        for kind in (CMD, TILTFILE, KUBERNETES_APPLY):
            for obj in self.cache.objects(kind):
                metadata = obj["metadata"]
                key = Key(kind.plural, metadata["name"], metadata["uid"])
                self.logs.append(
                    key, SYSTEM, f"failover: this operator took over from {previous}; earlier lines stay in its log"
                )

    def idle(self) -> bool:
        """No reconcile queued or in progress anywhere."""
        return all(queue.idle() for queue in self.queues.values())

    def start(self) -> None:
        """Start the queues' workers and the file watcher, in the running event loop."""
        self.pool.start()
        coroutines = [queue.run() for queue in self.queues.values()] + [self.watcher.run(), self.file_watches.run()]
        self._tasks = asyncio.gather(*coroutines)

    async def stop(self) -> None:
        """Stop reconciling, then stop every process and run this operator started."""
        if self._tasks is not None:
            self._tasks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks
        await self.tiltfiles.stop()
        await self.pool.stop()
        await self.cmds.stop()
        self.launcher.close()
        await self.identities.stop()
        await self.outage.stop()
