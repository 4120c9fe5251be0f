"""The Cmd reconciler: when a Cmd's process starts, what its status says, and stopping it.

Tilt's rules (:func:`start_reason`): a Cmd without ``startOn`` runs as soon as it exists (and
again after an operator restart, since its process died with the operator); one with ``startOn``
waits for a click on one of its buttons after ``startAfter``; a click on a ``restartOn`` button,
an event of a ``restartOn`` FileWatch, or a new spec, restarts it (a new spec of a ``startOn`` Cmd
stops its process, and the Cmd waits for a click again). A process that ends is not started again
until one of those happens.

What ``local_resource`` adds (docs/design.md, "local_resource"): a Cmd annotated
``tilt.dev/start-after`` (a serve_cmd) starts once that Cmd (its update) has succeeded, and again
each time it succeeds again; one annotated ``tilt.dev/resource-deps`` does not start until each of
those resources is ready (:func:`waiting_for`). A ``readinessProbe`` decides ``status.ready`` of a
running process (``probes.py``); without one, running is ready.

Event-driven: the reconciler runs when the Cmd changes, when one of its buttons is clicked (the
Controller's ``Relations`` know which Cmds name a button) and when its process exits (the
process's own wait queues it). The
processes are the only state kept in memory; their status says what became of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tilt_operator import processes, reasons, timestamps
from tilt_operator.api import (
    ANNOTATION_START_AFTER,
    CMD,
    KUBERNETES_APPLY,
)
from tilt_operator.logstore import SYSTEM, Key, LogStore
from tilt_operator.messages import quoted
from tilt_operator.names import InvalidName, object_name
from tilt_operator.reconcilers import buttons, probes
from tilt_operator.reconcilers.buttons import CMD_BUTTONS, RESTART_ON, START_ON
from tilt_operator.reconcilers.cache import Cache
from tilt_operator.reconcilers.dependencies import succeeded_at, waiting_for_resources
from tilt_operator.reconcilers.identities import Identities, ServiceAccountNotFound, stamped_service_account
from tilt_operator.reconcilers.objectlog import for_object
from tilt_operator.reconcilers.queue import Result
from tilt_operator.reconcilers.status import StatusWriter, desired_status, only_state

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 5.0
# The terminated reason of a process stopped because the operator stopped, not because the Cmd ended:
# the next operator starts it again, as Tilt starts every Cmd again when it starts. So does a
# process that ended because the runner it ran in went: it starts again once the runner is back.
STOPPED_WITH_OPERATOR = "stopped with the operator"
STOPPED_WITH_RUNNER = "stopped with the runner"
# Why such a process starts again.
_RESTARTED = {STOPPED_WITH_OPERATOR: "the operator restarted", STOPPED_WITH_RUNNER: "the runner restarted"}
EXEC_DISABLED = (
    "process execution is disabled on this operator: start it with --exec (or TILT_OPERATOR_EXEC=1) to run Cmds"
)


# A start reason that names the button whose click started the process.
CLICKED = "button clicked: "
FILES_CHANGED = "files changed: "


def start_reason(
    spec: Mapping[str, Any],
    *,
    last_started: str | None,
    spec_changed: bool,
    clicks: buttons.Clicks,
    lost_process: str | None = None,
    file_events: buttons.Clicks | None = None,
    succeeded: tuple[str, str] | None = None,
) -> str | None:
    """Why the process should (re)start now, or None to leave things as they are.

    ``last_started`` is when this Cmd's process last started (from its status), ``clicks`` the
    last click of every button its spec names, ``spec_changed`` whether the spec moved since,
    ``lost_process`` why the status says running (or stopped with the operator or the runner) but
    this operator has no such process (:func:`lost_with`), ``file_events`` the last event of each
    ``restartOn`` FileWatch, ``succeeded`` the ``tilt.dev/start-after`` Cmd and when it last succeeded.
    """
    start_on = spec.get(START_ON)
    if spec_changed and not start_on:
        return "spec changed"
    if lost_process and not start_on:
        return lost_process
    restart = buttons.clicked_after({b: clicks.get(b) for b in buttons.named(spec, RESTART_ON)}, last_started)
    if restart and last_started:
        return f"{CLICKED}{restart}"
    changed = buttons.clicked_after(file_events or {}, last_started)
    if changed and last_started:
        return f"{FILES_CHANGED}{changed}"
    if succeeded and last_started and timestamps.parse(succeeded[1]) > timestamps.parse(last_started):
        return f"{succeeded[0]} succeeded"
    if not start_on:
        return None if last_started else "created"
    # A click counts once, after startAfter: a new spec waits for a new click, as in Tilt.
    since = [start_on.get("startAfter"), last_started]
    newest = max(filter(None, since), key=timestamps.parse, default=None)
    start = buttons.clicked_after({b: clicks.get(b) for b in buttons.named(spec, START_ON)}, newest)
    return f"{CLICKED}{start}" if start else None


def waiting_reason(spec: Mapping[str, Any]) -> str:
    names = buttons.named(spec, START_ON)
    return f"waiting for a click on {', '.join(names)}" if names else "waiting"


def running_status(pid: int, started_at: str, ready: bool = True) -> dict[str, Any]:
    return {**only_state("running", {"pid": pid, "startedAt": started_at}), "ready": ready}


def waiting_status(reason: str) -> dict[str, Any]:
    return {**only_state("waiting", {"reason": reason}), "ready": False}


def terminated_status(
    *, pid: int | None, exit_code: int, started_at: str, finished_at: str, reason: str
) -> dict[str, Any]:
    fields = {"pid": pid, "exitCode": exit_code, "startedAt": started_at, "finishedAt": finished_at, "reason": reason}
    return {**only_state("terminated", fields), "ready": False}


def lost_with(status: Mapping[str, Any]) -> str | None:
    """Why the process the status describes is gone though the Cmd did not end: the operator stopped
    (or crashed) while it ran, or the runner it ran in went. None when it ended by itself."""
    if status.get("running"):
        return _RESTARTED[STOPPED_WITH_OPERATOR]
    return _RESTARTED.get((status.get("terminated") or {}).get("reason", ""))


def waiting_for(
    obj: Mapping[str, Any], cmds: Sequence[Mapping[str, Any]], deploys: Sequence[Mapping[str, Any]] = ()
) -> str | None:
    """What a Cmd waits for before it may start (None: nothing), among every Cmd in ``cmds`` and
    KubernetesApply in ``deploys``: the Cmd it starts after, then its resource_deps."""
    after = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_START_AFTER)
    if after:
        found = next((cmd for cmd in cmds if cmd["metadata"]["name"] == _object_name(str(after))), None)
        if found is None or not succeeded_at(found.get("status") or {}):
            return f"waiting for {after} to succeed"
    return waiting_for_resources(obj, cmds, deploys)


def _object_name(tilt_name: str) -> str:
    try:
        return object_name(tilt_name)
    except InvalidName:
        return tilt_name


def last_started(status: Mapping[str, Any]) -> str | None:
    """When the process last started, as the status records it (across operator restarts)."""
    for state in ("running", "terminated"):
        started = (status.get(state) or {}).get("startedAt")
        if started:
            return str(started)
    return None


def cmd_status(
    obj: Mapping[str, Any], current: Mapping[str, Any], state: Mapping[str, Any], reason: str | None = None
) -> dict[str, Any]:
    """The whole status of a Cmd in ``state`` (one of the builders above), with its Ready condition
    (``reason`` when given, else the state's own)."""
    if state.get("running"):
        reason, message = reasons.PROCESS_RUNNING, f"running as pid {state['running']['pid']}"
    elif state.get("terminated"):
        started = state["terminated"].get("pid") is not None
        reason = reasons.PROCESS_EXITED if started else reasons.PROCESS_START_FAILED
        message = str(state["terminated"]["reason"])
    else:
        message = str((state.get("waiting") or {}).get("reason", ""))
        reason = reason or (reasons.EXEC_DISABLED if message == EXEC_DISABLED else reasons.PROCESS_WAITING)
    return desired_status(
        state, obj=obj, current=current, ready=bool(state.get("ready")), reason=reason, message=message
    )


class Journal:
    """Where a Cmd's story is told: its own log (every line), and the operator's (its events, and
    its output only at a trickle, so a process that prints fast cannot flood the operator's log)."""

    ECHO_PER_SECOND, ECHO_BURST = 20.0, 100.0

    def __init__(self, logs: LogStore, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        self._logs, self.key = logs, Key(CMD.plural, name, obj["metadata"]["uid"])
        self._log = for_object(logger, name)
        self._allowance, self._at, self._held_back = self.ECHO_BURST, time.monotonic(), 0

    def system(self, text: str, *, warning: bool = False) -> None:
        self._logs.append(self.key, SYSTEM, text)
        (self._log.warning if warning else self._log.info)("%s", text)

    def output(self, stream: str, lines: list[bytes]) -> None:
        texts = [line.decode(errors="replace") for line in lines]
        self._logs.append_many(self.key, stream, texts)
        now = time.monotonic()
        self._allowance = min(self.ECHO_BURST, self._allowance + (now - self._at) * self.ECHO_PER_SECOND)
        self._at = now
        shown = min(int(self._allowance), len(texts))
        self._allowance -= shown
        if shown and self._held_back:
            self._log.info("(%d lines of output not shown here: kubectl tilt logs has them)", self._held_back)
            self._held_back = 0
        for text in texts[:shown]:
            self._log.info("%s", text)
        self._held_back += len(texts) - shown


@dataclass
class Proc:
    """A process this operator started for a Cmd."""

    uid: str
    generation: int
    started_at: str
    child: processes.Child
    journal: Journal
    # The ServiceAccount it acts as: another one is a new spec.
    account: str
    # Queues the Cmd when the process exits.
    waiter: asyncio.Task[None] | None = None
    # Whether it is ready: its readinessProbe's answer, kept up to date by the prober.
    ready: bool = True
    prober: asyncio.Task[None] | None = None
    # When the process was seen to exit.
    finished_at: str | None = None

    @property
    def process(self) -> processes.Process:
        return self.child.process

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    def terminated(self, reason: str | None = None) -> dict[str, Any]:
        assert self.process.returncode is not None
        exit_code, exit_reason = processes.exit_reason(self.process.returncode)
        self.finished_at = self.finished_at or timestamps.now()
        return terminated_status(
            pid=self.process.pid,
            exit_code=exit_code,
            started_at=self.started_at,
            finished_at=self.finished_at,
            reason=reason or exit_reason,
        )


class CmdReconciler:
    def __init__(
        self,
        *,
        cache: Cache,
        writer: StatusWriter,
        logs: LogStore,
        exec_enabled: bool,
        requeue: Callable[[str], None],
        identities: Identities,
        launcher: processes.Launcher,
    ) -> None:
        self._cache, self._writer, self._logs, self._exec, self._requeue = cache, writer, logs, exec_enabled, requeue
        self._identities, self._launcher = identities, launcher
        self._procs: dict[str, Proc] = {}
        # By uid: when a startOn Cmd whose spec changed last started. Its status now says waiting,
        # and the clicks before that were spent on the old spec (Tilt keeps the same in memory).
        self._spent: dict[str, str] = {}

    async def __call__(self, name: str) -> Result:
        obj = self._cache.get(CMD, name)
        proc = self._procs.get(name)
        if proc is not None and (obj is None or obj["metadata"]["uid"] != proc.uid or _deleting(obj)):
            # Deleted (or re-created): stop the process; the old object has no status left to write.
            await self._stop(name)
            proc = None
        if obj is None or _deleting(obj):
            return Result()
        current = self._writer.current(obj)
        if not self._exec:
            await self._write(obj, waiting_status(EXEC_DISABLED))
            return Result()
        if proc is not None and proc.exited:
            # Forgotten only once its end is in the status: until then the status says it runs.
            _cancel(proc.prober)
            ended = proc.terminated(STOPPED_WITH_RUNNER if proc.process.lost else None)
            await self._write(obj, ended)
            del self._procs[name]
            proc.journal.system(f"process {proc.process.pid} {ended['terminated']['reason']}")
            current, proc = self._writer.current(obj), None
        spec, generation, uid = obj["spec"], obj["metadata"].get("generation") or 0, obj["metadata"]["uid"]
        after = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_START_AFTER)
        after_obj = self._cache.get(CMD, _object_name(str(after))) if after else None
        success = succeeded_at(self._writer.current(after_obj)) if after_obj else None
        # The spec moved since the process ran: since it started, or since it ended (its status
        # answers for the generation it ran).
        spec_changed = (
            proc.generation != generation or proc.account != stamped_service_account(obj, self._identities.default)
            if proc is not None
            else bool(current.get("terminated")) and current.get("observedGeneration") not in (None, generation)
        )
        reason = start_reason(
            spec,
            last_started=proc.started_at if proc else last_started(current) or self._spent.get(uid),
            spec_changed=spec_changed,
            clicks=buttons.clicks(self._cache, buttons.named(spec, *CMD_BUTTONS)),
            lost_process=lost_with(current) if proc is None else None,
            file_events=buttons.file_events(self._cache, buttons.file_watches(spec)),
            succeeded=(str(after), success) if after and success else None,
        )
        waiting = (
            waiting_for(obj, list(self._cache.objects(CMD)), list(self._cache.objects(KUBERNETES_APPLY)))
            if proc is None
            else None
        )
        if reason and waiting:
            await self._write(obj, waiting_status(waiting))
            return Result()
        if reason:
            return await self._restart(obj, reason)
        if spec_changed:
            # A startOn Cmd whose spec changed (any other restarts): a process running the old spec
            # stops, and the new spec waits for a click, as Tilt's Cmd controller does. The status
            # then answers for the new generation truthfully.
            spent = proc.started_at if proc is not None else last_started(current)
            if spent:
                self._spent[uid] = spent
            if proc is not None:
                await self._stop(name)
                ended = proc.terminated()
                proc.journal.system(f"process {proc.process.pid} {ended['terminated']['reason']} (spec changed)")
            await self._write(obj, waiting_status(waiting_reason(spec)))
            return Result()
        if proc is not None:
            await self._write(obj, running_status(proc.process.pid, proc.started_at, proc.ready))
        elif not current.get("terminated"):
            await self._write(obj, waiting_status(waiting_reason(spec)))
        return Result()

    async def _write(self, obj: Mapping[str, Any], state: Mapping[str, Any], reason: str | None = None) -> bool:
        return await self._writer.write(CMD, obj, cmd_status(obj, self._writer.current(obj), state, reason))

    async def _restart(self, obj: Mapping[str, Any], reason: str) -> Result:
        name = obj["metadata"]["name"]
        try:
            identity = await self._identities.get(stamped_service_account(obj, self._identities.default))
        except ServiceAccountNotFound as missing:
            # No process without its identity: it waits, and a retry finds the account once it exists.
            if name in self._procs:
                await self._stop(name)
            if await self._write(obj, waiting_status(str(missing)), reasons.SERVICE_ACCOUNT_NOT_FOUND):
                for_object(logger, name).warning("%s", missing)
            return Result(retry=True)
        if name in self._procs:
            # The old process's end is in its log; the status goes from running to running
            # again in one patch, with the new pid.
            proc = self._procs[name]
            await self._stop(name)
            ended = proc.terminated()
            proc.journal.system(f"process {proc.process.pid} {ended['terminated']['reason']}")
        spec = obj["spec"]
        journal = Journal(self._logs, obj)
        started_at = timestamps.now()
        journal.system(f"starting ({reason}): {' '.join(spec['args'])}")
        # A click's inputs come on top of the spec's env, as Tilt gives them.
        clicked = reason.removeprefix(CLICKED) if reason.startswith(CLICKED) else None
        inputs = buttons.input_environment(self._cache, clicked) if clicked else []
        env = identity.environment([*(spec.get("env") or []), *inputs])
        try:
            child = await processes.start(
                self._launcher, spec["args"], cwd=spec.get("dir"), env=env, output=journal.output
            )
        except OSError as error:
            message = f"cannot start {quoted(spec['args'][0])}: {error.strerror or error}"
            journal.system(message, warning=True)
            await self._write(
                obj,
                terminated_status(
                    pid=None, exit_code=127, started_at=started_at, finished_at=timestamps.now(), reason=message
                ),
            )
            return Result()
        generation = obj["metadata"].get("generation") or 0
        proc = Proc(obj["metadata"]["uid"], generation, started_at, child, journal, identity.name)
        proc.waiter = asyncio.create_task(self._exited(name, proc), name=f"cmd {name} wait")
        if spec.get("readinessProbe"):
            proc.ready = False
            proc.prober = asyncio.create_task(
                probes.watch(
                    spec["readinessProbe"],
                    probes.exec_runner(self._launcher, cwd=spec.get("dir"), env=env),
                    lambda ready: self._readiness(name, proc, ready),
                ),
                name=f"cmd {name} probe",
            )
        self._procs[name] = proc
        self._spent.pop(proc.uid, None)
        await self._write(obj, running_status(child.process.pid, started_at, proc.ready))
        return Result()

    def _readiness(self, name: str, proc: Proc, ready: bool) -> None:
        proc.ready = ready
        proc.journal.system("ready" if ready else "not ready: its readiness probe fails")
        self._requeue(name)

    async def _exited(self, name: str, proc: Proc) -> None:
        await proc.process.wait()
        proc.finished_at = timestamps.now()
        self._requeue(name)

    async def _stop(self, name: str) -> None:
        proc = self._procs.pop(name)
        _cancel(proc.prober)
        await processes.stop(proc.process, STOP_GRACE_SECONDS)

    async def stop(self) -> None:
        """The operator stops: stop every process and say so, so the next operator starts them again."""

        async def stop_one(name: str, proc: Proc) -> None:
            _cancel(proc.prober)
            await processes.stop(proc.process, STOP_GRACE_SECONDS)
            obj = self._cache.get(CMD, name)
            if obj is not None and obj["metadata"]["uid"] == proc.uid:
                await self._write(obj, proc.terminated(STOPPED_WITH_OPERATOR))
                proc.journal.system(f"process {proc.process.pid} {STOPPED_WITH_OPERATOR}")

        procs, self._procs = self._procs, {}
        await asyncio.gather(*(stop_one(name, proc) for name, proc in procs.items()), return_exceptions=True)

    def deleted(self, obj: Mapping[str, Any]) -> None:
        self._spent.pop(obj["metadata"]["uid"], None)
        self._writer.forget(obj["metadata"]["uid"])
        self._logs.delete(Key(CMD.plural, obj["metadata"]["name"], obj["metadata"]["uid"]))


def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))
