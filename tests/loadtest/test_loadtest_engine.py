"""The load generator against a local server whose delay and capacity are known."""

from __future__ import annotations

import statistics
import time
from itertools import islice, pairwise

import pytest

from tandem.loadtest.clients import http_client
from tandem.loadtest.engine import Budget, agree, arrival_times, closed_loop, open_loop

QUICK = Budget(warmup_s=0.3, window_s=0.5, max_windows=6, request_timeout_s=5)


async def test_closed_loop_percentiles_match_the_known_delay(delay_server) -> None:
    client = http_client(delay_server(delay_ms=20) + "/x", b"{}", {}, timeout_s=5)
    try:
        r = await closed_loop(client.send, 4, QUICK, "delay20")
    finally:
        await client.aclose()
    assert r.error_count == 0
    # Every answer takes the delay (the server's timer has 1 ms resolution); on a busy
    # shared machine a few ms more.
    assert 19 <= r.pct_ms(50) <= 26
    assert 19 <= r.pct_ms(90) <= 40
    assert r.hist.get_min_value() >= 19_000
    # 4 connections x 1/20 ms = 200 req/s at most.
    assert 140 <= r.throughput_rps <= 200
    assert r.to_dict()["latency_ms"]["p99.9"] >= r.pct_ms(99)


async def test_open_loop_at_a_light_rate_sends_on_schedule(delay_server) -> None:
    client = http_client(delay_server(delay_ms=10) + "/x", b"{}", {}, timeout_s=5)
    try:
        r = await open_loop(client.send, 100, QUICK, target="delay10")
    finally:
        await client.aclose()
    assert r.error_count == 0
    assert 10 <= r.pct_ms(50) <= 16
    assert r.sent_rps == pytest.approx(100, rel=0.05)
    assert r.throughput_rps == pytest.approx(100, rel=0.15)
    # The generator's lag is measured for every request it sent during measurement.
    assert r.lag.get_total_count() >= 0.9 * r.completed


async def test_open_loop_keeps_its_rate_under_overload_and_latency_grows(delay_server) -> None:
    # Capacity 1 x 10 ms: the server answers 100 req/s at most; offer 200.
    url = delay_server(delay_ms=10, capacity=1) + "/x"
    client = http_client(url, b"{}", {}, timeout_s=10)
    budget = Budget(warmup_s=0.2, window_s=0.5, max_windows=4, request_timeout_s=10)
    try:
        r = await open_loop(client.send, 200, budget, target="overloaded")
    finally:
        await client.aclose()
    assert r.sent_rps == pytest.approx(200, rel=0.05)  # the arrival rate did not drop
    assert r.throughput_rps <= 110  # the server's ceiling
    # Latency from the scheduled time: the queue grows ~0.5 s per second of overload, so
    # the tail is far above the 10 ms service time (a closed loop would hide this).
    assert r.pct_ms(99) > 500
    waits = [w["p50_ms"] for w in r.series]
    assert waits == sorted(waits)  # it grows window after window:
    # 100 req/s too many for 1.5 s at 10 ms each: ~1.5 s more wait by the last window.
    assert waits[-1] - waits[0] > 500
    assert not r.stable


async def test_a_drifting_server_is_reported_unstable(delay_server) -> None:
    # The delay grows by 20 ms every second: no three windows agree.
    client = http_client(delay_server(delay_ms=5, ramp_ms_per_s=20) + "/x", b"{}", {}, 5)
    try:
        r = await closed_loop(client.send, 2, QUICK, "drift")
    finally:
        await client.aclose()
    assert not r.stable
    assert r.windows_measured == QUICK.max_windows
    assert r.to_dict()["stable"] is False


async def test_a_steady_server_is_stable_after_three_windows(delay_server) -> None:
    client = http_client(delay_server(delay_ms=5) + "/x", b"{}", {}, 5)
    try:
        r = await closed_loop(client.send, 2, QUICK, "steady")
    finally:
        await client.aclose()
    assert r.stable
    assert r.windows_measured < QUICK.max_windows


async def test_a_server_that_never_answers_still_ends_in_bounded_time(delay_server) -> None:
    client = http_client(delay_server(delay_ms=3_600_000) + "/x", b"{}", {}, timeout_s=1)
    budget = Budget(warmup_s=0.1, window_s=0.3, max_windows=3, request_timeout_s=1)
    started = time.monotonic()
    try:
        closed = await closed_loop(client.send, 8, budget, "hung")
        opened = await open_loop(client.send, 50, budget, target="hung")
    finally:
        await client.aclose()
    assert time.monotonic() - started < 2 * budget.max_seconds
    assert closed.ok == 0
    assert opened.ok == 0
    # Each of the 8 connections times out at least once (a warm-up request timing out
    # inside the measurement counts too); nothing else is counted.
    assert set(closed.errors) == {"timeout"}
    assert closed.errors["timeout"] >= 8
    assert opened.errors["timeout"] >= 40  # every request sent during measurement


async def test_request_budget_stops_the_point(delay_server) -> None:
    client = http_client(delay_server() + "/x", b"{}", {}, 5)
    budget = Budget(warmup_s=0.1, window_s=5, max_windows=5, max_requests=300)
    try:
        r = await closed_loop(client.send, 4, budget, "budget")
    finally:
        await client.aclose()
    assert r.sent <= 300 + 4
    # The request budget, not the windows, ended it: it stopped before its last window.
    assert r.windows_measured < budget.max_windows


async def test_errors_are_counted_by_status(delay_server) -> None:
    client = http_client(delay_server(status=503) + "/x", b"{}", {}, 5)
    try:
        r = await closed_loop(client.send, 2, QUICK, "503")
    finally:
        await client.aclose()
    assert r.ok == 0
    assert set(r.errors) == {"503"}
    assert r.errors["503"] > 10


async def test_refused_connections_are_errors_not_crashes() -> None:
    client = http_client("http://127.0.0.1:9/x", b"{}", {}, 1)
    budget = Budget(warmup_s=0.1, window_s=0.2, max_windows=2)
    try:
        r = await closed_loop(client.send, 2, budget, "refused")
    finally:
        await client.aclose()
    assert r.ok == 0
    assert "connection" in r.errors


def test_poisson_arrivals_have_the_rate_and_exponential_gaps() -> None:
    times = list(islice(arrival_times(500, "poisson", seed=3), 20_000))
    gaps = [b - a for a, b in pairwise(times)]
    assert statistics.fmean(gaps) == pytest.approx(1 / 500, rel=0.03)
    # Exponential: standard deviation equals the mean (constant arrivals: 0).
    assert statistics.stdev(gaps) == pytest.approx(1 / 500, rel=0.05)
    constant = list(islice(arrival_times(500, "constant"), 3))
    assert constant == pytest.approx([0, 0.002, 0.004])


@pytest.mark.parametrize(
    ("values", "expected"),
    [([100, 105, 95], True), ([100, 100, 125], False), ([0, 0, 0], True), ([], False)],
)
def test_stability_rule(values: list[float], expected: bool) -> None:
    assert agree(values, 0.10) is expected
