"""An open loop spread over several generator processes, merged into one point.

One Python process on uvloop sends a few thousand requests a second at most; the overload
point asks for twice a backend's capacity. :func:`open_loop_processes` runs the engine's own
open loop (:func:`tandem.loadtest.engine.open_loop`, constant arrivals) in ``processes``
spawned children at ``rate / processes`` each and merges their results (:func:`merge`):
histograms added, counts summed, stable only if every child was, generator-limited if any
was, so a generator that still cannot keep up is reported, not hidden. Each child also
returns the latency of every non-200 answer (the refusals).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from tandem.loadtest.engine import Budget, PointResult, open_loop
from tandem.loadtest.runner import run_on_uvloop
from tandem.loadtest.targets import Target


@dataclass(frozen=True)
class ChildResult:
    """What one generator process sends back (histograms in HdrHistogram's encoded form)."""

    fields: dict[str, Any]
    hist: bytes
    lag: bytes
    refusals: list[float]


def timing_refusals(
    inner: Callable[[], Awaitable[int]], refusals: list[float]
) -> Callable[[], Awaitable[int]]:
    """``inner`` that also appends the latency (s) of every non-200 answer to ``refusals``."""

    async def send() -> int:
        started = time.perf_counter()
        status = await inner()
        if status != 200:
            refusals.append(time.perf_counter() - started)
        return status

    return send


def _child(target: Target, rate: float, budget: Budget, seed: int) -> ChildResult:
    refusals: list[float] = []

    async def run() -> PointResult:
        client = target.open(timeout_s=budget.request_timeout_s)
        send = timing_refusals(client.send, refusals)
        try:
            return await open_loop(send, rate, budget, target=target.name, seed=seed)
        finally:
            await client.aclose()

    r = run_on_uvloop(run())
    fields = {
        k: getattr(r, k)
        for k in (
            "target",
            "load",
            "arrival",
            "stable",
            "windows_measured",
            "measured_s",
            "completed",
            "errors",
            "sent",
            "send_span_s",
            "gen_cpu_s",
        )
    }
    return ChildResult(fields, r.hist.encode(), r.lag.encode(), refusals)


def merge(children: list[ChildResult]) -> tuple[PointResult, list[float]]:
    """One open-loop point from the children's (same target, concurrent) points."""
    hist, lag = HdrHistogram.decode(children[0].hist), HdrHistogram.decode(children[0].lag)
    for child in children[1:]:
        hist.add(HdrHistogram.decode(child.hist))
        lag.add(HdrHistogram.decode(child.lag))
    f = [c.fields for c in children]
    throughput = sum(x["completed"] / x["measured_s"] for x in f if x["measured_s"] > 0)
    completed = sum(x["completed"] for x in f)
    sent = sum(x["sent"] for x in f)
    sent_rate = sum(x["sent"] / x["send_span_s"] for x in f if x["send_span_s"] > 0)
    errors: dict[str, int] = {}
    for x in f:
        for key, n in x["errors"].items():
            errors[key] = errors.get(key, 0) + n
    result = PointResult(
        target=f[0]["target"],
        mode="open",
        load=sum(x["load"] for x in f),
        arrival=f[0]["arrival"],
        stable=all(x["stable"] for x in f),
        windows_measured=min(x["windows_measured"] for x in f),
        # so that throughput_rps is the sum of the children's rates
        measured_s=completed / throughput
        if throughput
        else statistics.fmean(x["measured_s"] for x in f),
        hist=hist,
        completed=completed,
        errors=errors,
        lag=lag,
        sent=sent,
        # likewise: sent_rps is the sum of the children's sending rates
        send_span_s=sent / sent_rate if sent_rate else max(x["send_span_s"] for x in f),
        gen_cpu_s=sum(x["gen_cpu_s"] for x in f),
        series=[],
    )
    return result, [s for c in children for s in c.refusals]


def open_loop_processes(
    target: Target, rate: float, budget: Budget, processes: int
) -> tuple[PointResult, list[float]]:
    """``rate`` req/s to ``target`` from ``processes`` spawned generator processes (blocks
    until they finish); the merged point and every refusal's latency in seconds."""
    ctx = multiprocessing.get_context("spawn")  # the caller may run an event loop: no fork
    with ctx.Pool(processes) as pool:
        children = pool.starmap(
            _child, [(target, rate / processes, budget, seed) for seed in range(processes)]
        )
    return merge(children)
