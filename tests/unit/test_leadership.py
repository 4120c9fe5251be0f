"""Leader election's rules, against an in-memory Lease that refuses stale writes as the API server does."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tilt_operator import kube
from tilt_operator.kube import ApiError, Call
from tilt_operator.reconcilers.leadership import Elector, LeaseSettings


class Leases:
    """One Lease in one namespace: GET, POST and PUT with optimistic concurrency."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.writes = 0
        self.down = False

    async def send(self, call: Call) -> dict[str, Any] | None:
        if self.down:
            raise ApiError(503, "the API server is away")
        if call.method == "GET":
            return copy.deepcopy(self.lease)
        assert not call.fenced, "the Lease's own calls are never fenced"
        body = copy.deepcopy(call.body)
        if call.method == "POST":
            if self.lease is not None:
                raise ApiError(409, "already exists")
        elif body["metadata"].get("resourceVersion") != str(self.version):
            raise ApiError(409, "the object has been modified")
        self.version += 1
        self.writes += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        self.lease = body
        return copy.deepcopy(body)

    @property
    def holder(self) -> str:
        return (self.lease or {}).get("spec", {}).get("holderIdentity") or ""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(leases: Leases, clock: Clock, identity: str) -> Elector:
    return Elector(leases, LeaseSettings(namespace="ns", identity=identity), clock=clock)


def attempt(one: Elector) -> bool:
    return asyncio.run(one._try())


def test_the_first_replica_creates_the_lease_and_the_second_waits_it_out():
    leases, clock = Leases(), Clock()
    first, second = elector(leases, clock, "a_1"), elector(leases, clock, "b_1")
    assert attempt(first)
    assert (leases.holder, first.is_leader(), first.previous_holder) == ("a_1", True, "")
    assert leases.lease is not None
    assert leases.lease["spec"]["leaseDurationSeconds"] == 15
    assert not attempt(second), "held and fresh"
    clock.now += 14
    assert not attempt(second), "the holder's renewTime has not been still for 15 s by this replica's clock"
    clock.now += 2
    assert attempt(second)
    assert (leases.holder, second.previous_holder) == ("b_1", "a_1")
    assert leases.lease["spec"]["leaseTransitions"] == 1


def test_a_renewed_lease_is_never_taken():
    leases, clock = Leases(), Clock()
    first, second = elector(leases, clock, "a_1"), elector(leases, clock, "b_1")
    attempt(first)
    for _ in range(20):
        clock.now += 2
        assert attempt(first)
        assert not attempt(second)
    assert leases.holder == "a_1"


def test_a_leader_that_cannot_renew_stops_writing_before_the_lease_can_expire():
    leases, clock = Leases(), Clock()
    first = elector(leases, clock, "a_1")
    attempt(first)
    leases.down = True
    clock.now += 9.9
    assert not attempt(first)
    assert first.is_leader(), "within the renew deadline"
    clock.now += 0.2
    assert not first.is_leader(), "10 s without a renewal: no more writes, 5 s before anyone may take over"


def test_of_two_standbys_taking_an_expired_lease_only_one_wins():
    leases, clock = Leases(), Clock()
    attempt(elector(leases, clock, "gone_1"))
    b, c = elector(leases, clock, "b_1"), elector(leases, clock, "c_1")
    assert not attempt(b)
    assert not attempt(c)
    clock.now += 16
    # Both read the same Lease; the slower PUT carries a stale resourceVersion and is refused.
    original = leases.send
    reads: list[dict[str, Any] | None] = []

    async def read_then_write(call: Call) -> dict[str, Any] | None:
        if call.method == "GET":
            if not reads:
                reads.append(await original(call))
            return copy.deepcopy(reads[0])
        return await original(call)

    leases.send = read_then_write  # type: ignore[method-assign]
    assert [attempt(b), attempt(c)] == [True, False]
    assert leases.holder == "b_1"


def test_a_released_lease_is_taken_at_the_next_try():
    leases, clock = Leases(), Clock()
    first, second = elector(leases, clock, "a_1"), elector(leases, clock, "b_1")
    attempt(first)
    assert not attempt(second)
    asyncio.run(first.release())
    assert (leases.holder, first.is_leader()) == ("", False)
    assert attempt(second), "no need to wait out the lease"
    assert second.previous_holder == ""


def test_keep_returns_once_renewals_stop_within_the_deadline():
    leases = Leases()
    settings = LeaseSettings(namespace="ns", identity="a_1", duration=1.5, renew_deadline=0.4, retry_period=0.05)
    one = Elector(leases, settings)

    async def scenario() -> None:
        await one.acquire()
        keeping = asyncio.create_task(one.keep())
        # Four retry periods of renewals that succeed: keep() must still be keeping after them.
        done, _ = await asyncio.wait({keeping}, timeout=4 * settings.retry_period)
        assert not done
        leases.down = True
        await asyncio.wait_for(keeping, timeout=2)
        assert not one.is_leader()

    asyncio.run(scenario())


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_the_fence_refuses_every_write_but_not_a_read(method: str):
    client = kube.Client()
    client.fence = lambda: False
    with pytest.raises(kube.Fenced):
        asyncio.run(client.send(Call(method, "/apis/tilt.dev/v1alpha1/cmds/x", body={})))
