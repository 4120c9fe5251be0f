"""Cmd handler: one supervisor per Cmd object, running its process as a child of the operator.

A kopf daemon per Cmd: kopf stops it when the Cmd is deleted or the operator stops, and the
supervisor then stops the process (SIGTERM, SIGKILL after a grace period). The process itself
is the only in-memory state; when it is gone the status says what happened to it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import kopf

from tilt_operator import cmds, kube, processes
from tilt_operator.api import CMD
from tilt_operator.config import Settings
from tilt_operator.handlers.uibutton import clicks
from tilt_operator.status import now, ready_condition, status_patch

TICK_SECONDS = 0.2
STOP_GRACE_SECONDS = 5.0


class _Supervisor:
    """The process of one Cmd and the status that describes it."""

    def __init__(self, body: kopf.Body, logger: logging.Logger) -> None:
        self.body, self.logger = body, logger
        self.process: asyncio.subprocess.Process | None = None
        self.started_at: str | None = None
        self.generation: int | None = None
        self.status: dict[str, Any] = copy.deepcopy(dict(body.get("status", {})))

    async def write(self, desired: dict[str, Any]) -> None:
        generation = self.body.metadata.get("generation")
        desired = {
            **desired,
            "observedGeneration": generation,
            "conditions": ready_condition(
                ready=bool(desired.get("ready")),
                reason="Running" if desired.get("ready") else "NotRunning",
                message=_describe(desired),
                generation=generation,
                previous=self.status.get("conditions"),
            ),
        }
        changes = status_patch(self.status, desired)
        if changes:
            await asyncio.to_thread(kube.patch_status, CMD, self.body.metadata.name, changes)
            self.status.update(desired)

    async def tick(self, button_clicks: kopf.Index) -> None:
        spec = self.body.spec
        if self.process and self.process.returncode is not None:
            await self._finished()
        names = [b for key in ("startOn", "restartOn") for b in (spec.get(key) or {}).get("uiButtons") or []]
        generation = self.body.metadata.get("generation")
        reason = cmds.start_reason(
            spec,
            last_started=self.started_at or cmds.last_started(self.status),
            spec_changed=self.generation is not None and generation != self.generation,
            clicks=clicks(button_clicks, names),
            lost_process=self.process is None and cmds.lost_with_operator(self.status),
        )
        if reason:
            await self.restart(reason)
        elif self.process is None and not self.status.get("terminated"):
            await self.write(cmds.waiting_status(cmds.waiting_reason(spec)))

    async def restart(self, reason: str) -> None:
        await self.stop()
        spec = self.body.spec
        self.generation = self.body.metadata.get("generation")
        self.started_at = now()
        self.logger.info("starting (%s): %s", reason, " ".join(spec["args"]))
        try:
            self.process = await processes.start(
                spec["args"],
                cwd=spec.get("dir"),
                env=processes.child_environment(spec.get("env") or []),
                logger=self.logger,
            )
        except OSError as error:
            self.process = None
            message = f"cannot start {spec['args'][0]!r}: {error.strerror or error}"
            self.logger.warning("%s", message)
            await self.write(
                cmds.terminated_status(
                    pid=None, exit_code=127, started_at=self.started_at, finished_at=now(), reason=message
                )
            )
            return
        await self.write(cmds.running_status(self.process.pid, self.started_at))

    async def _finished(self, reason: str | None = None) -> None:
        assert self.process is not None
        assert self.process.returncode is not None
        assert self.started_at is not None
        exit_code, exit_reason = processes.exit_reason(self.process.returncode)
        reason = reason or exit_reason
        self.logger.info("process %d %s", self.process.pid, reason)
        status = cmds.terminated_status(
            pid=self.process.pid, exit_code=exit_code, started_at=self.started_at, finished_at=now(), reason=reason
        )
        self.process = None
        await self.write(status)

    async def stop(self, reason: str | None = None) -> None:
        if self.process and self.process.returncode is None:
            await processes.stop(self.process, STOP_GRACE_SECONDS)
            await self._finished(reason)


def _describe(status: dict[str, Any]) -> str:
    if status.get("running"):
        return f"running as pid {status['running']['pid']}"
    if status.get("terminated"):
        return str(status["terminated"]["reason"])
    return str((status.get("waiting") or {}).get("reason", ""))


# kopf cancels a daemon at once when it is stopped unless given a backoff; the supervisor
# needs that time to stop its process gracefully and say so in the status.
@kopf.daemon(CMD.resource, cancellation_backoff=STOP_GRACE_SECONDS + 5, cancellation_timeout=STOP_GRACE_SECONDS)
async def supervise(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: logging.Logger,
    button_clicks: kopf.Index,
    **_: Any,
) -> None:
    settings: Settings = memo.settings
    supervisor = _Supervisor(body, logger)
    if not settings.exec_enabled:
        await supervisor.write(cmds.waiting_status(cmds.EXEC_DISABLED))
        await stopped.wait()
        return
    try:
        while not stopped:
            try:
                await supervisor.tick(button_clicks)
            except Exception:
                logger.exception("Cmd supervisor failed; retrying")
            await stopped.wait(TICK_SECONDS)
    finally:
        exiting = bool(stopped.reason and kopf.DaemonStoppingReason.OPERATOR_EXITING in stopped.reason)
        await supervisor.stop(cmds.STOPPED_WITH_OPERATOR if exiting else None)
