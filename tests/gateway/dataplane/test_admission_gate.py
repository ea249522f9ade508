"""The admission gate on its own: bounds, first-come-first-served hand-over, a waiter that
gives up (deadline or cancellation) leaving no slot behind, and the derived defaults."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.dataplane.admission import DEADLINE, QUEUE_FULL, AdmissionGate
from gateway.errors import Overloaded
from gateway.route_table import Admission

FAR = 3600.0  # a deadline that never passes in a test


def _gate(in_flight: int = 1, queue: int = 2) -> AdmissionGate:
    return AdmissionGate("m", Admission(max_in_flight=in_flight, max_queue=queue))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_slots_then_queue_then_refusal():
    gate = _gate(in_flight=2, queue=1)
    deadline = time.monotonic() + FAR
    await gate.acquire(deadline)
    await gate.acquire(deadline)
    waiter = asyncio.create_task(gate.acquire(deadline))
    await _settle()
    assert (gate.in_flight, gate.waiting) == (2, 1)
    with pytest.raises(Overloaded) as refused:
        await gate.acquire(deadline)
    assert refused.value.reason == QUEUE_FULL
    assert refused.value.headers() == {"Retry-After": "1"}
    gate.release()
    await waiter  # the freed slot went to the waiter
    assert (gate.in_flight, gate.waiting) == (2, 0)
    gate.release()
    gate.release()
    assert gate.in_flight == 0


async def test_waiters_are_served_in_arrival_order():
    gate = _gate(in_flight=1, queue=3)
    deadline = time.monotonic() + FAR
    await gate.acquire(deadline)
    order: list[int] = []

    async def wait(i: int) -> None:
        await gate.acquire(deadline)
        order.append(i)

    tasks = [asyncio.create_task(wait(i)) for i in range(3)]
    await _settle()
    for _ in range(3):
        gate.release()
        await _settle()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    gate.release()
    assert gate.in_flight == 0


async def test_newcomer_does_not_overtake_the_queue():
    gate = _gate(in_flight=1, queue=2)
    deadline = time.monotonic() + FAR
    await gate.acquire(deadline)
    queued = asyncio.create_task(gate.acquire(deadline))
    await _settle()
    gate.release()  # handed to the waiter, not returned to the pool
    late = asyncio.create_task(gate.acquire(deadline))
    await _settle()
    assert queued.done()
    assert not late.done()
    gate.release()
    await late
    gate.release()
    assert gate.in_flight == 0


async def test_deadline_while_waiting_leaves_queue_and_slot_intact():
    gate = _gate(in_flight=1, queue=1)
    await gate.acquire(time.monotonic() + FAR)
    with pytest.raises(Overloaded) as late:
        await gate.acquire(time.monotonic() + 0.01)
    assert late.value.reason == DEADLINE
    assert gate.waiting == 0
    gate.release()
    assert gate.in_flight == 0


async def test_past_deadline_is_refused_without_queueing():
    gate = _gate(in_flight=1, queue=1)
    await gate.acquire(time.monotonic() + FAR)
    with pytest.raises(Overloaded) as late:
        await gate.acquire(time.monotonic() - 1)
    assert late.value.reason == DEADLINE
    assert gate.waiting == 0


async def test_cancelled_waiter_gives_its_place_back():
    gate = _gate(in_flight=1, queue=1)
    await gate.acquire(time.monotonic() + FAR)
    waiter = asyncio.create_task(gate.acquire(time.monotonic() + FAR))
    await _settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting == 0
    gate.release()
    assert gate.in_flight == 0


@pytest.mark.parametrize(
    ("workers", "batch", "in_flight"), [(1, 1, 2), (1, 8, 16), (4, 8, 64), (0, 0, 2)]
)
def test_derived_defaults(workers, batch, in_flight):
    limits = Admission.derive(workers=workers, batch_size=batch)
    assert (limits.max_in_flight, limits.max_queue) == (in_flight, 4 * in_flight)
