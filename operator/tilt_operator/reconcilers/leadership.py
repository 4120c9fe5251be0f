"""Leader election on a ``coordination.k8s.io`` Lease, as client-go's leaderelection does it.

With several replicas, one holds the Lease ``tilt-operator`` in the operator's namespace and
works; the others watch (kopf keeps their caches warm) and write nothing. ``kubectl get lease -n
tilt-operator`` shows the holder.

- **Acquire.** Every ``retry_period`` a standby reads the Lease. It takes it when nobody holds
  it, or when the holder's ``renewTime`` has not moved for ``leaseDurationSeconds`` as measured by
  this process's own clock (not by comparing clocks across machines). A take is a PUT with the
  resourceVersion read, so of two standbys only one wins.
- **Renew.** The leader renews every ``retry_period``. When no renewal has succeeded for
  ``renew_deadline`` (shorter than the lease's duration), :meth:`Elector.is_leader` turns False at
  once: the API client's fence refuses every write from then on, and :meth:`Elector.keep` returns
  so the caller stops all work (Cmd processes, Tiltfile runs) before anyone else may take the
  Lease. A paused or partitioned leader that comes back finds the same: its last renewal is too
  old, so it writes nothing and steps down.
- **Release.** On a graceful shutdown the leader empties ``holderIdentity`` (and sets the
  duration to 1 s), so a standby takes over at its next try instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tilt_operator import kube, timestamps
from tilt_operator.kube import ApiError, Call

logger = logging.getLogger(__name__)

LEASE_NAME = "tilt-operator"


class LeaseClient(Protocol):
    async def send(self, call: Call) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    identity: str
    name: str = LEASE_NAME
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class Elector:
    def __init__(
        self, client: LeaseClient, settings: LeaseSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client, self.settings, self._clock = client, settings, clock
        self._leading = False
        self._renewed_at = -math.inf
        # The holder and renewTime last seen, and when (by this process's clock) they last changed.
        self._observed: tuple[str, str] | None = None
        self._observed_at = -math.inf
        # Who held the Lease before this process took it over ("" when nobody did).
        self.previous_holder = ""
        self._problem: str | None = None

    def is_leader(self) -> bool:
        """Holding the Lease, renewed within the renew deadline: whether this process may write."""
        return self._leading and self._clock() - self._renewed_at < self.settings.renew_deadline

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        while not await self._try():
            await asyncio.sleep(self.settings.retry_period)

    async def keep(self) -> None:
        """Renew the Lease until a renewal fails to come within the renew deadline; then return."""
        while True:
            await asyncio.sleep(self.settings.retry_period)
            left = self.settings.renew_deadline - (self._clock() - self._renewed_at)
            try:
                renewed = left > 0 and await asyncio.wait_for(self._try(), timeout=left)
            except TimeoutError:
                renewed = False
            if not renewed and not self.is_leader():
                self._leading = False
                return

    async def release(self) -> None:
        """Give the Lease up now, if this process holds it, so that a standby takes over at its next try."""
        if not self.is_leader():
            return
        self._leading = False
        lease = await self._client.send(kube.lease_get_call(self.settings.namespace, self.settings.name))
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.settings.identity:
            return
        lease["spec"] = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
        try:
            await self._client.send(kube.lease_replace_call(lease))
        except ApiError as error:
            logger.warning("could not release the lease %s: %s", self.where, error.message)

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease; True when this process holds it now."""
        started = self._clock()
        try:
            taken = await self._take_or_renew(started)
        except Exception as error:
            if not (isinstance(error, ApiError) or kube.is_unreachable(error)):
                raise
            self._report(f"cannot read or write the lease {self.where}: {error}")
            return False
        if taken:
            self._leading, self._renewed_at = True, started
            self._report(None)
        return taken

    async def _take_or_renew(self, started: float) -> bool:
        settings, now = self.settings, timestamps.now()
        lease = await self._client.send(kube.lease_get_call(settings.namespace, settings.name))
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": settings.name, "namespace": settings.namespace},
                "spec": self._spec(now, now, transitions=0),
            }
            return await self._write(kube.lease_create_call(body), previous="")
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, started
        if holder and holder != settings.identity:
            duration = float(spec.get("leaseDurationSeconds") or settings.duration)
            if started - self._observed_at < duration:
                return False
        ours = holder == settings.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        acquired = str(spec.get("acquireTime") or now) if ours else now
        lease["spec"] = self._spec(acquired, now, transitions=transitions)
        return await self._write(kube.lease_replace_call(lease), previous=holder if not ours else self.previous_holder)

    async def _write(self, call: Call, *, previous: str) -> bool:
        try:
            await self._client.send(call)
        except ApiError as error:
            if error.status == 409:  # another replica wrote the Lease first
                return False
            raise
        self.previous_holder = previous
        self._observed = (self.settings.identity, "")
        return True

    def _spec(self, acquired: str, renewed: str, *, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": math.ceil(self.settings.duration),
            "acquireTime": acquired,
            "renewTime": renewed,
            "leaseTransitions": transitions,
        }

    @property
    def where(self) -> str:
        """The Lease as ``namespace/name``, for messages."""
        return f"{self.settings.namespace}/{self.settings.name}"

    def _report(self, problem: str | None) -> None:
        """One log line per problem, not one per retry."""
        if problem != self._problem and problem is not None:
            logger.warning("%s", problem)
        self._problem = problem
