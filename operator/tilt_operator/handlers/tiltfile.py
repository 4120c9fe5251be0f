"""Tiltfile handler: one run loop per Tiltfile object, which runs it when something it depends on moves.

The loop is a kopf daemon, so it sees the object's live spec and status and the indexes of repos,
Extensions and buttons without polling the API server; it only stats the files the last run read.
Each run goes through the engine (a worker process with limits), then :mod:`tilt_operator.owned`
applies what it registered, and the status says why it ran and how it went.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path
from typing import Any

import kopf

from tilt_operator import engine, kube, owned, tiltfiles
from tilt_operator.api import LABEL_EXTENSION, TILTFILE
from tilt_operator.config import Settings
from tilt_operator.engine_protocol import ExtensionRoots, RunResult
from tilt_operator.extensions import RepoView
from tilt_operator.handlers.uibutton import clicks
from tilt_operator.status import now, ready_condition, status_patch

POLL_SECONDS = 1.0
_STOP_POLL_SECONDS = 0.2
_EVENT_LIMIT = 1000


def _repo_of(body: kopf.Body, repo_of_extension: kopf.Index, repos_by_name: kopf.Index) -> RepoView | None:
    """The repo of the Extension that owns this Tiltfile, if one does."""
    extension = body.metadata.labels.get(LABEL_EXTENSION)
    repo_name = next(iter(repo_of_extension.get(extension, [])), None) if extension else None
    return next(iter(repos_by_name.get(repo_name, [])), None) if repo_name else None


def _ext_roots(repos_by_name: kopf.Index) -> ExtensionRoots:
    """Tilt's rules for load('ext://…'): the repo named default, and repos by loadHost."""
    default = next(iter(repos_by_name.get("default", [])), None)
    by_host = {}
    for name in repos_by_name:
        for repo in repos_by_name.get(name, []):
            if repo.load_host and repo.extensions_dir:
                by_host[repo.load_host] = repo.extensions_dir
    return ExtensionRoots(default=default.extensions_dir if default else None, by_load_host=by_host)


class _Run:
    """One Tiltfile run, from its running status to its terminated one."""

    def __init__(
        self, body: kopf.Body, memo: kopf.Memo, indexes: dict[str, kopf.Index], logger: logging.Logger
    ) -> None:
        self.body, self.memo, self.indexes, self.logger = body, memo, indexes, logger
        self.settings: Settings = memo.settings
        self.name = body.metadata.name
        self.generation = body.metadata.get("generation") or 0
        # The status as this run last wrote it: the live body can lag behind our own writes.
        self.status: dict[str, Any] = copy.deepcopy(dict(body.get("status", {})))

    def write(self, desired: dict[str, Any]) -> None:
        changes = status_patch(self.status, desired)
        if changes:
            kube.patch_status(TILTFILE, self.name, changes)
            self.status.update(desired)

    async def __call__(self, reasons: list[str], repo: RepoView | None) -> None:
        slots: asyncio.Semaphore = self.memo.tiltfile_slots
        if slots.locked():
            await asyncio.to_thread(self.write, tiltfiles.waiting_status("waiting for a free Tiltfile worker"))
        async with slots:
            started = now()
            await asyncio.to_thread(self.write, tiltfiles.running_status(reasons, started))
            crds = await asyncio.to_thread(kube.list_crds)
            result = await self._execute(crds, repo, started)
        error = result.error
        self._report(result)
        if result.ok:
            try:
                await asyncio.to_thread(owned.sync_owned, self.body, result.objects, crds)
            except owned.ApplyError as failure:
                error = f"apply: {failure}"
        record = tiltfiles.RunRecord(
            generation=self.generation,
            started_at=started,
            files=tiltfiles.signatures(result.files_read or [self.body.spec["path"]]),
            repo_commit=repo.checkout_ref if repo else None,
        )
        self.memo.run_records.save(self.body.metadata.uid, record)
        status = tiltfiles.terminated_status(reasons, error, started, now(), len(result.warnings))
        status["observedGeneration"] = self.generation
        status["conditions"] = ready_condition(
            ready=error is None,
            reason=tiltfiles.RUN_FAILED if error else tiltfiles.RUN_SUCCEEDED,
            message=error or f"registered {len(result.objects)} objects",
            generation=self.generation,
            previous=self.status.get("conditions"),
        )
        await asyncio.to_thread(self.write, status)

    async def _execute(self, crds: list[dict[str, Any]], repo: RepoView | None, started: str) -> RunResult:
        """Run the engine, cancelling it if a stopOn button is clicked meanwhile."""
        spec = self.body.spec
        task = asyncio.create_task(
            engine.run_tiltfile_async(
                Path(spec["path"]),
                crds=crds,
                timeout=self.settings.tiltfile_timeout,
                memory_mb=self.settings.tiltfile_memory_mb,
                args=list(spec.get("args") or []),
                root=Path(repo.path) if repo and repo.path else None,
                ext_roots=_ext_roots(self.indexes["repos_by_name"]),
            )
        )
        stop_buttons = list((spec.get("stopOn") or {}).get("uiButtons") or [])
        while not task.done():
            await asyncio.wait({task}, timeout=_STOP_POLL_SECONDS)
            button = tiltfiles.clicked_since(clicks(self.indexes["button_clicks"], stop_buttons), started)
            if button and not task.done():
                task.cancel()
                return RunResult([], "", [], [], f"stopped by button {button}")
        return task.result()

    def _report(self, result: RunResult) -> None:
        """What the Tiltfile printed goes to the operator log (prefixed with its name) and to an Event."""
        for line in result.output.splitlines():
            self.logger.info("print: %s", line)
        for warning in result.warnings:
            self.logger.warning("warn: %s", warning)
        if result.output:
            kopf.info(self.body, reason="Output", message=result.output[-_EVENT_LIMIT:])
        if result.error:
            kopf.warn(self.body, reason="RunFailed", message=result.error[-_EVENT_LIMIT:])


@kopf.daemon(TILTFILE.resource, cancellation_timeout=10)
async def run_loop(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: logging.Logger,
    repos_by_name: kopf.Index,
    repo_of_extension: kopf.Index,
    button_clicks: kopf.Index,
    **_: Any,
) -> None:
    indexes = {"repos_by_name": repos_by_name, "button_clicks": button_clicks}
    while not stopped:
        try:
            repo = _repo_of(body, repo_of_extension, repos_by_name)
            restart = list((body.spec.get("restartOn") or {}).get("uiButtons") or [])
            reasons = tiltfiles.due_reasons(
                generation=body.metadata.get("generation") or 0,
                status=body.get("status", {}),
                record=memo.run_records.load(body.metadata.uid),
                repo_commit=repo.checkout_ref if repo else None,
                restart_clicks=clicks(button_clicks, restart),
            )
            if reasons:
                logger.info("running: %s", "; ".join(reasons))
                await _Run(body, memo, indexes, logger)(reasons, repo)
        except Exception:
            # An infrastructure failure (the API server away, say): log it and try again next tick.
            logger.exception("Tiltfile run loop failed; retrying")
        await stopped.wait(POLL_SECONDS)
