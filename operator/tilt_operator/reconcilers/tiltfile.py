"""The Tiltfile reconciler: when a Tiltfile runs, why, and what its status says.

A run is due when the spec changed, a file the last run read changed (its repo moving to a new
commit included), a ``restartOn`` button was clicked, the ExtensionRepo an ``ext://`` load of the
last run waited for is Ready, or the operator stopped in the middle of a run (:func:`due_reasons`).
What the last run saw is kept on disk (:mod:`~tilt_operator.reconcilers.runrecords`), so a
restarted operator re-runs nothing that has not moved. Nothing here wakes on a clock: the
reconciler is queued by the Tiltfile's own events, its buttons' clicks, its repo's status, the
Extensions it loads (``ext://``), the file watcher and the run itself.

A run is a task of its own (:meth:`TiltfileReconciler._execute`): the engine runs the Tiltfile in
a worker process with limits, then :class:`~tilt_operator.reconcilers.owned.Owned` applies what it
registered. The task only records how far it got and queues the Tiltfile again; the reconciler
alone writes the status, so waiting, running and terminated are written in that order, and a
``stopOn`` click cancels the run at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tilt_operator import reasons, timestamps
from tilt_operator.api import EXTENSION, EXTENSION_REPO, LABEL_EXTENSION, TILTFILE
from tilt_operator.config import Settings
from tilt_operator.engine import ExtensionRoots, RepoRoot, RunResult, Waiting
from tilt_operator.engine.pool import WorkerPool
from tilt_operator.engine.protocol import EVENT_WARNING
from tilt_operator.logstore import STDERR, STDOUT, SYSTEM, Key, LogStore
from tilt_operator.reconcilers import buttons
from tilt_operator.reconcilers.buttons import RESTART_ON, STOP_ON
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.client import Client
from tilt_operator.reconcilers.extension import RepoView
from tilt_operator.reconcilers.filewatch import FileWatcher
from tilt_operator.reconcilers.identities import Identities, Identity, ServiceAccountNotFound, service_account_of
from tilt_operator.reconcilers.objectlog import ObjectLog, for_object
from tilt_operator.reconcilers.owned import ApplyError, Owned
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.relations import Relations
from tilt_operator.reconcilers.runrecords import RunRecord, RunRecords, changed_files, signatures
from tilt_operator.reconcilers.status import (
    StatusWriter,
    desired_status,
    in_progress_status,
    only_state,
    retrying,
)

logger = logging.getLogger(__name__)

INITIAL = "initial"
SPEC_CHANGED = "spec changed"
INTERRUPTED = "operator restarted during a run"
WAITING_FOR_WORKER = "waiting for a free Tiltfile worker"
# A run says it is waiting for a worker, or running, only once it has for this long: most are over
# sooner, and a status write that would be overwritten a few milliseconds later only slows them.
RUNNING_SHOWN_AFTER = 0.1
_MAX_FILE_REASONS = 5


def due_reasons(
    *,
    generation: int,
    status: Mapping[str, Any],
    record: RunRecord | None,
    repo_commit: str | None,
    restart_clicks: buttons.Clicks,
    repo_ready: Callable[[str], bool],
) -> list[str]:
    """Why the Tiltfile should run now; empty when nothing it depends on has moved.

    ``repo_ready`` says whether the ExtensionRepo of that name is Ready now.
    """
    if record is None:
        return [INITIAL]
    found = []
    if record.waiting_for and repo_ready(record.waiting_for):
        found.append(f"ExtensionRepo {record.waiting_for} ready")
    running = status.get("running")
    if running and running.get("startedAt") != record.started_at:
        found.append(INTERRUPTED)
    if generation != record.generation:
        found.append(SPEC_CHANGED)
    if repo_commit and record.repo_commit and repo_commit != record.repo_commit:
        found.append(f"repo updated: {repo_commit[:12]}")
    else:
        found += [f"file changed: {path}" for path in changed_files(record)[:_MAX_FILE_REASONS]]
    found += [
        f"button clicked: {button}"
        for button, at in sorted(restart_clicks.items())
        if buttons.clicked_after({button: at}, record.started_at)
    ]
    return found


def running_status(run_reasons: list[str], started_at: str) -> dict[str, Any]:
    return only_state("running", {"reasons": run_reasons, "startedAt": started_at})


def waiting_status(reason: str) -> dict[str, Any]:
    return only_state("waiting", {"reason": reason})


def terminated_status(
    run_reasons: list[str], error: str | None, started_at: str, finished_at: str, warning_count: int
) -> dict[str, Any]:
    fields = {
        "reasons": run_reasons,
        "error": error or None,
        "startedAt": started_at,
        "finishedAt": finished_at,
        "warningCount": warning_count,
    }
    return only_state("terminated", fields)


@dataclass
class Run:
    """One run in flight: the task, how far it got, and what it ended with."""

    uid: str
    generation: int
    reasons: list[str]
    repo_commit: str | None
    queued_at: str
    task: asyncio.Task[None] | None = None
    # Set when the run gets a worker.
    started_at: str | None = None
    # Set when it is over.
    error: str | None = None
    finished_at: str | None = None
    warning_count: int = 0
    registered: int = 0
    files: dict[str, str] = field(default_factory=dict)
    # An infrastructure failure (the API server away during the apply): the run is retried with backoff.
    failure: Exception | None = None
    result: RunResult | None = None
    # Set when it stopped at a load whose ExtensionRepo is not Ready (and did not fail).
    waiting: Waiting | None = None

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def finish(self, error: str | None, result: RunResult | None = None) -> None:
        self.error, self.finished_at, self.result = error, timestamps.now(), result
        if result is not None:
            self.warning_count, self.files = len(result.warnings), dict(result.file_signatures)
            self.registered = len(result.objects) if error is None else 0
            self.waiting = result.waiting if error is None else None


def finished_status(run: Run, current: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Any]:
    """The whole status after ``run``: terminated, or waiting for the repo of a load, with Ready
    for the run's generation."""
    assert run.finished_at is not None
    if run.waiting is not None:
        return desired_status(
            waiting_status(f"waiting for ExtensionRepo {run.waiting.repo}"),
            obj=obj,
            current=current,
            ready=False,
            reason=reasons.REPO_NOT_READY,
            message=run.waiting.message,
            generation=run.generation,
        )
    started = run.started_at or run.queued_at
    fields = terminated_status(run.reasons, run.error, started, run.finished_at, run.warning_count)
    if run.failure is not None:
        # The operator's infrastructure failed the run, not its code: retried, so Reconciling.
        message, progress = retrying(run.failure)
        return desired_status(
            fields,
            obj=obj,
            current=current,
            ready=False,
            reason=reasons.RECONCILE_FAILED,
            message=message,
            generation=run.generation,
            progress=progress,
        )
    message = run.error or f"registered {run.registered} objects"
    # The run answers for the spec it ran, which may have changed since it started.
    return desired_status(
        fields,
        obj=obj,
        current=current,
        ready=run.error is None,
        reason=reasons.RUN_FAILED if run.error else reasons.RUN_SUCCEEDED,
        message=message,
        generation=run.generation,
    )


class TiltfileReconciler:
    def __init__(
        self,
        *,
        cache: Cache,
        writer: StatusWriter,
        client: Client,
        settings: Settings,
        records: RunRecords,
        watcher: FileWatcher,
        requeue: Callable[[str, float], None],
        pool: WorkerPool,
        logs: LogStore,
        relations: Relations,
        identities: Identities,
    ) -> None:
        self._cache, self._writer, self._client, self._settings = cache, writer, client, settings
        self._logs, self._identities = logs, identities
        self._records, self._watcher, self._requeue = records, watcher, requeue
        self._posting: set[asyncio.Task[None]] = set()
        self._owned = Owned(cache, client, relations)
        self._pool = pool
        self._runs: dict[str, Run] = {}

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(TILTFILE, name)
        run = self._runs.get(name)
        if run is not None and (obj is None or obj["metadata"]["uid"] != run.uid):
            self._cancel(name)
            run = None
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            self._watcher.unwatch(name)
            return Result()
        if run is not None and not run.done:
            await self._progress(name, obj, run)
            return Result()
        if run is not None:
            await self._finish(name, obj, run)
            if run.failure is not None:
                raise run.failure
        return await self._start_if_due(name, obj)

    def sweep(self, uids: set[str]) -> None:
        """Forget the Tiltfiles deleted while the operator was down: every uid alive is in ``uids``."""
        self._records.remove_all_but(uids)
        self._logs.remove_all_but(TILTFILE.plural, uids)

    def deleted(self, obj: Mapping[str, Any]) -> None:
        """The Tiltfile is gone: its run record and its log go with it (the reconcile cancels any run)."""
        self._records.delete(obj["metadata"]["uid"])
        self._writer.forget(obj["metadata"]["uid"])
        self._logs.delete(Key(TILTFILE.plural, obj["metadata"]["name"], obj["metadata"]["uid"]))

    async def stop(self) -> None:
        """The operator stops: cancel every run (its status stays running, so the next operator re-runs it)."""
        for name in list(self._runs):
            self._cancel(name)

    def _cancel(self, name: str) -> None:
        run = self._runs.pop(name, None)
        if run is not None and run.task is not None:
            run.task.cancel()

    async def _progress(self, name: str, obj: Mapping[str, Any], run: Run) -> None:
        """A run in flight: stop it if a stopOn button was clicked since it started, else say how far it is."""
        stop_buttons = buttons.named(obj["spec"], STOP_ON)
        button = buttons.clicked_after(buttons.clicks(self._cache, stop_buttons), run.started_at or run.queued_at)
        if button is not None:
            if run.task is not None:
                run.task.cancel()
            run.finish(f"stopped by button {button}")
            await self._finish(name, obj, run)
            return
        current = self._writer.current(obj)
        if run.started_at is None:
            state, message = waiting_status(WAITING_FOR_WORKER), WAITING_FOR_WORKER
        else:
            state, message = running_status(run.reasons, run.started_at), f"running ({'; '.join(run.reasons)})"
        await self._writer.write(TILTFILE, obj, in_progress_status(state, current=current, message=message))

    async def _finish(self, name: str, obj: Mapping[str, Any], run: Run) -> None:
        """Write the run's terminated status, then remember what it saw and watch its files.

        A run that failed for the operator's own reasons leaves no record, so it runs again.
        """
        # Written before the run is forgotten: a write that meets another writer's change
        # (StaleStatus) leaves the run here for the reconcile that follows at once.
        await self._writer.write(TILTFILE, obj, finished_status(run, self._writer.current(obj), obj))
        del self._runs[name]
        key = Key(TILTFILE.plural, name, run.uid)
        if run.waiting is not None:
            self._logs.append(
                key,
                SYSTEM,
                f"waiting: {run.waiting.message}; applied the {run.registered} objects registered before it,"
                f" and the run goes again once ExtensionRepo {run.waiting.repo} is ready",
            )
        elif run.error:
            # The status says the first line; the log says it too, then the whole Starlark backtrace.
            self._logs.append(key, STDERR, f"ERROR: {run.error}")
            backtrace = run.result.backtrace if run.result is not None else None
            if backtrace and backtrace != run.error:
                for line in backtrace.splitlines():
                    self._logs.append(key, STDERR, line)
        else:
            self._logs.append(key, SYSTEM, f"done: registered {run.registered} objects")
        if run.result is not None:
            self._report(name, obj, run.result)
        if run.failure is not None:
            return
        # A run stopped or killed before it read anything still saw its Tiltfile as it is now.
        files = run.files or await asyncio.to_thread(signatures, [obj["spec"]["path"]])
        waiting_for = run.waiting.repo if run.waiting else None
        record = RunRecord(run.generation, run.started_at or run.queued_at, files, run.repo_commit, waiting_for)
        await asyncio.to_thread(self._records.save, run.uid, record)
        self._watcher.watch(name, files)

    async def _start_if_due(self, name: str, obj: Mapping[str, Any]) -> Result:
        uid, generation = obj["metadata"]["uid"], obj["metadata"].get("generation") or 0
        repo = self._repo_of(obj)
        current = self._writer.current(obj)
        record = await asyncio.to_thread(self._records.load, uid)
        restart = buttons.clicks(self._cache, buttons.named(obj["spec"], RESTART_ON))
        repo_commit = repo.checkout_ref if repo else None
        run_reasons = due_reasons(
            generation=generation,
            status=current,
            record=record,
            repo_commit=repo_commit,
            restart_clicks=restart,
            repo_ready=self._repo_ready,
        )
        if not run_reasons:
            if record is not None:
                self._watcher.watch(name, record.files)
            return Result()
        try:
            identity = await self._identities.get(service_account_of(obj, self._identities.default))
        except ServiceAccountNotFound as missing:
            # Nothing runs without its identity; a retry finds the account once someone creates it.
            state = waiting_status(str(missing))
            fields = desired_status(
                state,
                obj=obj,
                current=current,
                ready=False,
                reason=reasons.SERVICE_ACCOUNT_NOT_FOUND,
                message=str(missing),
            )
            if await self._writer.write(TILTFILE, obj, fields):
                for_object(logger, name).warning("%s", missing)
            return Result(retry=True)
        for_object(logger, name).info("running: %s", "; ".join(run_reasons))
        run = Run(uid, generation, run_reasons, repo_commit, queued_at=timestamps.now())
        self._runs[name] = run
        run.task = asyncio.create_task(self._execute(name, obj, run, repo, identity), name=f"tiltfile {name}")
        # Waiting for a worker, or running, is shown once it has lasted a moment; most runs are over by then.
        self._requeue(name, RUNNING_SHOWN_AFTER)
        return Result()

    def _repo_of(self, obj: Mapping[str, Any]) -> RepoView | None:
        """The repo of the Extension that owns this Tiltfile, if one does."""
        extension_name = (obj["metadata"].get("labels") or {}).get(LABEL_EXTENSION)
        extension = self._cache.get(EXTENSION, extension_name) if extension_name else None
        repo = self._cache.get(EXTENSION_REPO, extension["spec"].get("repoName", "")) if extension else None
        return RepoView.from_object(repo) if repo else None

    def _repo_ready(self, name: str) -> bool:
        repo = self._cache.get(EXTENSION_REPO, name)
        return repo is not None and RepoView.from_object(repo).serving

    def _ext_roots(self) -> ExtensionRoots:
        """Every ExtensionRepo as load('ext://…') sees it; the host resolves a load as Tilt does."""
        repos = (RepoView.from_object(obj) for obj in self._cache.objects(EXTENSION_REPO))
        return ExtensionRoots({repo.name: RepoRoot(repo.load_host, repo.extensions_dir) for repo in repos})

    async def _execute(
        self, name: str, obj: Mapping[str, Any], run: Run, repo: RepoView | None, identity: Identity
    ) -> None:
        """The run itself: a worker slot, the engine, then the apply of what it registered, all as ``identity``."""
        try:
            await self._run_engine(name, obj, run, repo, identity)
        except Exception as error:  # the reconcile raises it, for the queue's backoff
            run.failure = error
            run.finish(f"internal error: {error}")
        self._requeue(name, 0.0)

    async def _run_engine(
        self, name: str, obj: Mapping[str, Any], run: Run, repo: RepoView | None, identity: Identity
    ) -> None:
        spec = obj["spec"]

        key = Key(TILTFILE.plural, name, run.uid)

        def started() -> None:
            run.started_at = timestamps.now()
            self._requeue(name, RUNNING_SHOWN_AFTER)
            self._logs.append(key, SYSTEM, f"running {spec['path']} ({'; '.join(run.reasons)})")

        def output(event: str, text: str) -> None:
            if event == EVENT_WARNING:
                self._logs.append(key, STDERR, f"WARNING: {text}")
            else:
                for line in text.splitlines() or [""]:
                    self._logs.append(key, STDOUT, line)

        crds = self._cache.crds()
        result = await self._pool.run(
            Path(spec["path"]),
            crds=crds,
            timeout=self._settings.tiltfile_timeout,
            args=list(spec.get("args") or []),
            root=Path(repo.path) if repo and repo.path else None,
            ext_roots=self._ext_roots(),
            started=started,
            output=output,
            env=identity.environment(),
            exec_enabled=self._settings.exec_enabled,
        )
        error = result.error
        if result.ok:
            try:
                await self._owned.sync(obj, result.objects, crds, identity, prune=result.waiting is None)
            except ApplyError as failure:
                error = f"apply: {failure}"
        run.finish(error, result)

    def _report(self, name: str, obj: Mapping[str, Any], result: RunResult) -> None:
        """What the Tiltfile printed goes to the operator log (prefixed with its name) and to an Event.

        Once the run's status is written, and in a task of its own: an Event is a courtesy, the
        status has the result, and a run must not wait for it.
        """
        log = for_object(logger, name)
        for line in result.output.splitlines():
            log.info("print: %s", line)
        for warning in result.warnings:
            log.warning("warn: %s", warning)
        task = asyncio.create_task(self._post_events(log, obj, result), name=f"tiltfile {name} events")
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _post_events(self, log: ObjectLog, obj: Mapping[str, Any], result: RunResult) -> None:
        try:
            if result.output:
                await self._client.post_event(obj, reason="Output", message=result.output)
            if result.error:
                await self._client.post_event(obj, reason=reasons.RUN_FAILED, message=result.error, warning=True)
        except Exception as error:  # an Event is a courtesy: the status has the result
            log.warning("cannot post an Event: %s", error)
