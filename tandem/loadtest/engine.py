"""The load generator: one measured point, closed or open loop, bounded, with HdrHistograms.

Who calls it: :mod:`tandem.loadtest.runner` (``tandem loadtest``, ``make bench``) with a
:data:`Send` built by :mod:`tandem.loadtest.targets`; the tests with a local delay server.

A point runs a warm-up (not counted), then measurement windows of ``window_s``. It counts
once ``stable_windows`` successive windows agree within ``stability`` (each window's
throughput and p50 within 10% of their mean: perf_analyzer's rule); after ``max_windows``
without agreement it stops and is marked unstable. Every point is bounded in time and in
request count, and a request that outlives ``request_timeout_s`` is counted as a timeout.

Open loop sends on a fixed schedule (constant or Poisson arrivals) whatever the answers do,
and measures each latency from the request's *scheduled* send time, so a stalled server
shows in the tail instead of slowing the generator down (coordinated omission). How late the
generator itself sent (its lag) is recorded too: an overloaded generator is reported, not
hidden. Closed loop records the event loop's own lag (a 5 ms ticker) for the same purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from hdrh.histogram import HdrHistogram

#: One request: returns the HTTP status (200 for a gRPC OK). Raising counts as an error keyed
#: by the exception's ``label`` or class name. A send must time out by itself.
Send = Callable[[], Awaitable[int]]

# Latencies are recorded in microseconds, 1 us .. 10 min, 3 significant digits.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 600_000_000, 3
_TICK_S = 0.005


def new_histogram() -> HdrHistogram:
    """An empty latency histogram (microseconds)."""
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def _record(hist: HdrHistogram, seconds: float) -> None:
    hist.record_value(min(_HIGHEST_US, max(_LOWEST_US, round(seconds * 1e6))))


@dataclass(frozen=True)
class Budget:
    """How long a point may run and when it counts (all bounds, none optional)."""

    warmup_s: float = 1.0
    window_s: float = 1.0
    stable_windows: int = 3
    max_windows: int = 8
    stability: float = 0.10
    max_requests: int = 200_000
    request_timeout_s: float = 10.0
    #: Open loop: at most this many requests in flight; beyond it an arrival is counted as
    #: an error ("in_flight_cap") rather than queued without bound in the generator.
    max_in_flight: int = 4096

    @property
    def max_seconds(self) -> float:
        """The hard bound of one point: warm-up, every window and the drain."""
        return self.warmup_s + self.max_windows * self.window_s + self.request_timeout_s + 5


@dataclass
class Window:
    """One measurement window. ``completed`` counts the answers that arrived in it (its
    throughput); ``hist`` holds the latencies of the requests attributed to it: by answer
    time in closed loop, by *scheduled* time in open loop (so a request that is answered
    late, even after the last window, still counts its whole wait)."""

    started: float
    hist: HdrHistogram = field(default_factory=new_histogram)
    completed: int = 0
    errors: int = 0


@dataclass
class PointResult:
    """The figures of one point; ``to_dict`` is its ``report.json`` form."""

    target: str
    mode: Literal["closed", "open"]
    load: float  # concurrency (closed) or offered rate in req/s (open)
    arrival: str  # "closed", "constant" or "poisson"
    stable: bool
    windows_measured: int
    measured_s: float
    hist: HdrHistogram
    completed: int
    errors: dict[str, int]
    lag: HdrHistogram
    sent: int
    send_span_s: float
    gen_cpu_s: float
    series: list[dict[str, float]]
    labels: dict[str, str] = field(default_factory=dict)
    server_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each server process (label → seconds) spent during the point."""

    @property
    def ok(self) -> int:
        return int(self.hist.get_total_count())

    @property
    def throughput_rps(self) -> float:
        """Successful answers per second over the counted windows."""
        return self.completed / self.measured_s if self.measured_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def sent_rps(self) -> float:
        """Open loop: the rate the generator actually sent at (should equal ``load``)."""
        return self.sent / self.send_span_s if self.send_span_s > 0 else 0.0

    def pct_ms(self, percentile: float) -> float:
        if self.ok == 0:
            return math.nan
        return float(self.hist.get_value_at_percentile(percentile)) / 1000

    def lag_ms(self, percentile: float) -> float:
        if self.lag.get_total_count() == 0:
            return 0.0
        return float(self.lag.get_value_at_percentile(percentile)) / 1000

    @property
    def generator_limited(self) -> bool:
        """The generator, not the server, may have set the pace: it sent late (lag p99 over
        5 ms) or, open loop, below 95% of the offered rate."""
        if self.lag_ms(99) > 5.0:
            return True
        return self.mode == "open" and self.sent_rps < 0.95 * self.load

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            **self.labels,
            "mode": self.mode,
            "arrival": self.arrival,
            "concurrency": int(self.load) if self.mode == "closed" else None,
            "offered_rps": self.load if self.mode == "open" else None,
            "stable": self.stable,
            "windows": self.windows_measured,
            "measured_s": round(self.measured_s, 3),
            "requests_ok": self.ok,
            "throughput_rps": round(self.throughput_rps, 2),
            "sent_rps": round(self.sent_rps, 2) if self.mode == "open" else None,
            "latency_ms": {
                "p50": self.pct_ms(50),
                "p90": self.pct_ms(90),
                "p99": self.pct_ms(99),
                "p99.9": self.pct_ms(99.9),
                "max": self.hist.get_max_value() / 1000 if self.ok else math.nan,
                "mean": self.hist.get_mean_value() / 1000 if self.ok else math.nan,
            },
            "errors": dict(self.errors),
            "generator": {
                "lag_p50_ms": self.lag_ms(50),
                "lag_p99_ms": self.lag_ms(99),
                "lag_max_ms": self.lag.get_max_value() / 1000,
                "cpu_us_per_request": round(1e6 * self.gen_cpu_s / max(1, self.sent), 1),
                "limited": self.generator_limited,
            },
            # Over the whole point (warm-up included), per request sent, like the generator's.
            "server_cpu_ms_per_request": {
                label: round(1e3 * seconds / max(1, self.sent), 3)
                for label, seconds in self.server_cpu_s.items()
            },
            "series": self.series,
            # HdrHistogram's compressed form: mergeable and exact, for anyone re-analysing.
            "histogram": self.hist.encode().decode("ascii") if self.ok else "",
        }


def agree(values: list[float], tolerance: float) -> bool:
    """Every value within ``tolerance`` (a fraction) of their mean."""
    if not values:
        return False
    mean = sum(values) / len(values)
    if mean == 0:
        return all(v == 0 for v in values)
    return all(abs(v - mean) <= tolerance * mean for v in values)


class _Point:
    """The shared state of one running point: windows, errors, stop flag."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.windows: list[Window] = []
        self.warm: Window | None = None  # before measurement: discarded
        self.errors: dict[str, int] = {}
        self.lag = new_histogram()
        self.stop = asyncio.Event()
        self.stable = False
        self.started = time.perf_counter()
        self.measure_start = 0.0
        self.measure_end = 0.0
        self.closed = False  # measurement over: answers no longer count as throughput
        self.issued = 0

    def live(self) -> Window | None:
        """The window open now (the warm-up one before measurement, none after it)."""
        if self.closed:
            return None
        return self.windows[-1] if self.windows else self.warm

    def done(self, latency_s: float, status: int | str, owner: Window | None) -> None:
        """Count one answer; ``owner`` is the window its latency belongs to."""
        now = self.live()
        in_warmup = owner is self.warm or (owner is None and not self.windows)
        if status == 200:
            if now is not None:
                now.completed += 1
            if owner is not None and not in_warmup:
                _record(owner.hist, latency_s)
            return
        if in_warmup:
            return
        if now is not None:
            now.errors += 1
        key = str(status)
        self.errors[key] = self.errors.get(key, 0) + 1

    async def control(self) -> None:
        """Warm up, then open a window every ``window_s`` until stable or out of budget."""
        b = self.budget
        self.warm = Window(time.perf_counter())
        await self._sleep(b.warmup_s)
        self.measure_start = time.perf_counter()
        self.windows.append(Window(self.measure_start))
        while not self.stop.is_set():
            await self._sleep(b.window_s)
            if self.stop.is_set():  # request budget spent mid-window
                break
            recent = self.windows[-b.stable_windows :]
            if len(recent) >= b.stable_windows and agree(
                [float(w.completed) for w in recent], b.stability
            ):
                p50s = [float(w.hist.get_value_at_percentile(50)) for w in recent]
                if all(w.completed for w in recent) and agree(p50s, b.stability):
                    self.stable = True
                    break
            if len(self.windows) >= b.max_windows:
                break
            self.windows.append(Window(time.perf_counter()))
        self.measure_end = time.perf_counter()
        self.closed = True
        self.stop.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    def counted(self) -> tuple[list[Window], float]:
        """The windows whose figures count and their span: the agreeing ones when stable,
        else every window measured (closed at ``measure_end``)."""
        ends = [w.started for w in self.windows[1:]] + [self.measure_end]
        spans = [end - w.started for w, end in zip(self.windows, ends, strict=True)]
        keep = self.budget.stable_windows if self.stable else len(self.windows)
        return self.windows[-keep:], sum(spans[-keep:])

    def result(
        self, target: str, mode: Literal["closed", "open"], load: float, arrival: str, **kw: Any
    ) -> PointResult:
        windows, span = self.counted()
        total = new_histogram()
        for w in windows:
            total.add(w.hist)
        series = [
            {
                "t_s": round(w.started - self.measure_start, 3),
                "rps": w.completed / self.budget.window_s,
                "p50_ms": _pct_ms(w.hist, 50),
                "p99_ms": _pct_ms(w.hist, 99),
                "errors": w.errors,
            }
            for w in self.windows
        ]
        return PointResult(
            target=target,
            mode=mode,
            load=load,
            arrival=arrival,
            stable=self.stable,
            windows_measured=len(self.windows),
            measured_s=span,
            hist=total,
            completed=sum(w.completed for w in windows),
            errors=dict(sorted(self.errors.items())),
            lag=self.lag,
            series=series,
            **kw,
        )


def _pct_ms(hist: HdrHistogram, percentile: float) -> float:
    return hist.get_value_at_percentile(percentile) / 1000 if hist.get_total_count() else math.nan


async def _timed(send: Send) -> int | str:
    """One request's outcome. The senders bound each request themselves (both clients in
    :mod:`tandem.loadtest.clients` take ``request_timeout_s``; a second timer here cost 3 us
    of the generator's CPU per request); stragglers are cancelled when the point ends."""
    try:
        return await send()
    except TimeoutError:
        return "timeout"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any client error is a result to count, not a crash
        return getattr(exc, "label", None) or type(exc).__name__


async def _ticker(point: _Point) -> None:
    """Closed loop: how late the event loop wakes a 5 ms sleeper (the generator's lag)."""
    while not point.stop.is_set():
        due = time.perf_counter() + _TICK_S
        await asyncio.sleep(_TICK_S)
        if point.windows:
            _record(point.lag, max(0.0, time.perf_counter() - due))


async def _bounded(point: _Point, tasks: list[asyncio.Task[None]]) -> None:
    """Let in-flight requests finish (they are bounded by their timeout), then make sure."""
    _, pending = await asyncio.wait(tasks, timeout=point.budget.request_timeout_s + 2)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2)


async def closed_loop(
    send: Send,
    concurrency: int,
    budget: Budget,
    target: str = "",
    labels: dict[str, str] | None = None,
) -> PointResult:
    """``concurrency`` workers, each sending its next request when the last one answered."""
    point = _Point(budget)
    cpu0 = time.process_time()

    async def worker() -> None:
        while not point.stop.is_set():
            if point.issued >= budget.max_requests:
                point.stop.set()
                return
            point.issued += 1
            started = time.perf_counter()
            status = await _timed(send)
            point.done(time.perf_counter() - started, status, point.live())

    controller = asyncio.create_task(point.control())
    ticker = asyncio.create_task(_ticker(point))
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        async with asyncio.timeout(budget.max_seconds):
            await controller
            await _bounded(point, workers)
    finally:
        point.stop.set()
        for task in (controller, ticker, *workers):
            task.cancel()
        await asyncio.gather(controller, ticker, *workers, return_exceptions=True)
    span = point.measure_end - point.started
    return point.result(
        target,
        "closed",
        concurrency,
        "closed",
        sent=point.issued,
        send_span_s=span,
        gen_cpu_s=time.process_time() - cpu0,
        labels=labels or {},
    )


def arrival_times(
    rate: float, arrival: Literal["constant", "poisson"], seed: int = 0
) -> Iterator[float]:
    """Offsets in seconds of successive arrivals at ``rate`` per second."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    rng = random.Random(seed)
    t = 0.0
    while True:
        yield t
        t += rng.expovariate(rate) if arrival == "poisson" else 1.0 / rate


async def open_loop(
    send: Send,
    rate: float,
    budget: Budget,
    arrival: Literal["constant", "poisson"] = "constant",
    target: str = "",
    seed: int = 0,
    labels: dict[str, str] | None = None,
) -> PointResult:
    """Send at ``rate`` per second on schedule; latency counts from the scheduled time."""
    point = _Point(budget)
    in_flight: set[asyncio.Task[None]] = set()
    cpu0 = time.process_time()

    async def one(due: float, owner: Window | None) -> None:
        status = await _timed(send)
        point.done(time.perf_counter() - due, status, owner)

    async def schedule() -> None:
        start = time.perf_counter()
        for offset in arrival_times(rate, arrival, seed):
            if point.stop.is_set() or point.issued >= budget.max_requests:
                break
            due = start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if point.stop.is_set():
                break
            if point.windows:
                _record(point.lag, max(0.0, time.perf_counter() - due))
            point.issued += 1
            if len(in_flight) >= budget.max_in_flight:
                point.done(0.0, "in_flight_cap", point.live())
                continue
            task = asyncio.create_task(one(due, point.live()))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        point.stop.set()

    controller = asyncio.create_task(point.control())
    scheduler = asyncio.create_task(schedule())
    try:
        async with asyncio.timeout(budget.max_seconds):
            await controller
            await scheduler
            if in_flight:
                await _bounded(point, list(in_flight))
    finally:
        point.stop.set()
        leftovers = [controller, scheduler, *in_flight]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
    return point.result(
        target,
        "open",
        rate,
        arrival,
        sent=point.issued,
        send_span_s=point.measure_end - point.started,
        gen_cpu_s=time.process_time() - cpu0,
        labels=labels or {},
    )
