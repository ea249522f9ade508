"""Circuit breaker and connect-retry behaviour (fake backend = failure injection)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.backends.base import InferCall
from gateway.backends.resilience import CircuitBreaker, ResilientBackend
from gateway.errors import BackendUnavailable, CircuitOpen, UpstreamRejected, UpstreamTimeout


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(route_table):
    route = route_table.models["digits_mlp_tf"]
    return InferCall(route, 1, {"pixels": np.zeros((1, 64), np.float32)}, None, "r", 1.0)


async def test_breaker_opens_and_recovers(route_table, fakes):
    clock = Clock()
    fake = fakes["tfserving"]
    backend = ResilientBackend(fake, CircuitBreaker("tf", 2, 1.0, clock), retries=0)
    fake.fail_with, fake.fail_times = UpstreamTimeout("slow"), 2
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            await backend.infer(call(route_table))
    with pytest.raises(CircuitOpen):
        await backend.infer(call(route_table))
    assert len(fake.calls) == 2
    clock.now = 1.5  # half-open: one probe goes through and closes the circuit
    await backend.infer(call(route_table))
    assert backend.breaker.state == "closed"


async def test_half_open_waits_for_readiness_and_answers_503_meanwhile(route_table, fakes):
    """A backend back from a crash but still loading: 503 at once, not a queued request."""
    import asyncio

    clock = Clock()
    fake = fakes["tfserving"]
    backend = ResilientBackend(fake, CircuitBreaker("tf", 1, 1.0, clock), 0, probe_wait_s=0.05)
    fake.fail_with, fake.fail_times = BackendUnavailable("refused", sent=False), 1
    with pytest.raises(BackendUnavailable):
        await backend.infer(call(route_table))
    clock.now = 1.5
    fake.delay_s = 0.3  # readiness takes a while (models loading)
    with pytest.raises(CircuitOpen, match="not ready yet"):
        await backend.infer(call(route_table))
    with pytest.raises(CircuitOpen):  # the check is in flight: no second one, no request
        await backend.infer(call(route_table))
    assert len(fake.calls) == 1
    await asyncio.sleep(0.4)  # the background check saw it ready: the circuit closed
    assert backend.breaker.state == "closed"
    fake.delay_s = 0.0
    await backend.infer(call(route_table))
    assert len(fake.calls) == 2


async def test_client_errors_do_not_trip(route_table, fakes):
    fake = fakes["tfserving"]
    backend = ResilientBackend(fake, CircuitBreaker("tf", 1, 1.0), retries=0)
    fake.fail_with, fake.fail_times = UpstreamRejected("bad"), 3
    for _ in range(3):
        with pytest.raises(UpstreamRejected):
            await backend.infer(call(route_table))
    assert backend.breaker.state == "closed"


@pytest.mark.parametrize(("sent", "calls", "ok"), [(False, 2, True), (True, 1, False)])
async def test_retry_only_when_not_sent(route_table, fakes, sent, calls, ok):
    fake = fakes["tfserving"]
    backend = ResilientBackend(fake, CircuitBreaker("tf", 5, 1.0), retries=1)
    fake.fail_with, fake.fail_times = BackendUnavailable("down", sent=sent), 1
    if ok:
        await backend.infer(call(route_table))
    else:
        with pytest.raises(BackendUnavailable):
            await backend.infer(call(route_table))
    assert len(fake.calls) == calls
