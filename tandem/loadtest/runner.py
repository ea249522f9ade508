"""Sweeps: which points a profile measures, run one after another on uvloop with a progress
display. Who calls it: ``tandem loadtest`` (:func:`run_sweep`) and ``bench/gateway.py``.

A profile says, per path, the closed-loop concurrencies and open-loop rates to measure and
the budget of each point. ``quick`` fits in under two minutes against the demo stack.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from tandem.loadtest.clients import http_client
from tandem.loadtest.cpu import ProcessMeter
from tandem.loadtest.engine import Budget, PointResult, closed_loop, open_loop
from tandem.loadtest.targets import GATEWAY_GRPC, PATHS, Path_, Target

T = TypeVar("T")


@dataclass(frozen=True)
class Point:
    """One point to measure: a target at a concurrency (closed) or a rate (open)."""

    target: Target
    mode: Literal["closed", "open"]
    load: float
    arrival: Literal["constant", "poisson"] = "constant"

    @property
    def title(self) -> str:
        what = f"c={int(self.load)}" if self.mode == "closed" else f"{self.load:g} req/s"
        return f"{self.target.name} {what}"


@dataclass(frozen=True)
class Profile:
    """What to measure per path, and each point's budget."""

    name: str
    concurrency: dict[Path_, tuple[int, ...]]
    rates: dict[Path_, tuple[float, ...]] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    #: Models with a large input (1x224x224x3): JSON vs binary vs gRPC through the gateway.
    large_concurrency: tuple[int, ...] = (4,)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick",
        concurrency={
            "direct-rest": (1, 8, 32),
            "direct-grpc": (8,),
            "gateway-v1": (1, 8, 32),
            "gateway-v2-json": (8,),
            "gateway-v2-binary": (8,),
            "gateway-grpc-v2": (8,),
            "gateway-grpc-tfs": (8,),
        },
        budget=Budget(warmup_s=0.5, window_s=1.0, max_windows=3, request_timeout_s=10),
        large_concurrency=(2,),
    ),
    "full": Profile(
        "full",
        concurrency={
            "direct-rest": (1, 4, 16, 32, 64),
            "direct-grpc": (8, 32),
            "gateway-v1": (1, 4, 16, 32, 64),
            "gateway-v2-json": (8, 32),
            "gateway-v2-binary": (8, 32),
            "gateway-grpc-v2": (8, 32),
            "gateway-grpc-tfs": (8, 32),
        },
        rates={"direct-rest": (100.0, 300.0), "gateway-v1": (100.0, 300.0)},
        budget=Budget(warmup_s=1.0, window_s=1.0, max_windows=6, request_timeout_s=10),
        large_concurrency=(1, 4),
    ),
}


def is_large(target: Target) -> bool:
    """Inputs of 100k+ elements: the JSON vs binary comparison's models."""
    size = 1
    for spec in target.route.inputs:
        for d in spec.shape:
            size *= max(1, d)
    return size >= 100_000


def plan(
    targets: Sequence[Target],
    profile: Profile,
    *,
    concurrency: Sequence[int] | None = None,
    rates: Sequence[float] | None = None,
    arrival: Literal["constant", "poisson"] = "constant",
) -> list[Point]:
    """The profile's points for ``targets``; explicit ``concurrency``/``rates`` replace it."""
    points: list[Point] = []
    for t in targets:
        if is_large(t):
            # direct-grpc: the stock client's call (TF Serving: tensor_content), the baseline.
            if t.path not in ("direct-grpc", "gateway-v2-json", "gateway-v2-binary", *GATEWAY_GRPC):
                continue
            loads: Sequence[int] = concurrency or profile.large_concurrency
            points += [Point(t, "closed", c) for c in loads]
            continue
        if concurrency is not None or rates is not None:
            points += [Point(t, "closed", c) for c in concurrency or ()]
            points += [Point(t, "open", r, arrival) for r in rates or ()]
            continue
        points += [Point(t, "closed", c) for c in profile.concurrency.get(t.path, ())]
        points += [Point(t, "open", r, arrival) for r in profile.rates.get(t.path, ())]
    order = {p: i for i, p in enumerate(PATHS)}
    points.sort(key=lambda p: (p.target.backend, p.target.model, order[p.target.path]))
    return points


async def measure(point: Point, budget: Budget) -> PointResult:
    """Run one point on a fresh client (its own connections) and close it."""
    client = point.target.open(budget.request_timeout_s)
    try:
        if point.mode == "closed":
            return await closed_loop(
                client.send, int(point.load), budget, point.target.name, point.target.labels
            )
        return await open_loop(
            client.send,
            point.load,
            budget,
            point.arrival,
            point.target.name,
            labels=point.target.labels,
        )
    finally:
        await client.aclose()


async def run_points(
    points: Sequence[Point],
    budget: Budget,
    on_start: Callable[[Point], None] = lambda p: None,
    on_done: Callable[[Point, PointResult], None] = lambda p, r: None,
    meter: ProcessMeter | None = None,
) -> list[PointResult]:
    """Measure every point in turn (one at a time: they would compete for the cores); with a
    ``meter``, each result carries the CPU its server processes spent during it."""
    results = []
    for point in points:
        on_start(point)
        before = meter.snapshot() if meter else {}
        result = await measure(point, budget)
        if meter:
            result.server_cpu_s = meter.since(before)
        on_done(point, result)
        results.append(result)
    return results


def run_on_uvloop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (the gateway's own loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coro)
    return uvloop.run(coro)


def machine() -> dict[str, Any]:
    """What the figures were measured on (load average included: the cores are shared)."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "command": " ".join(["tandem", *sys.argv[1:]]) if sys.argv else "",
        "started_monotonic": time.monotonic(),
    }


async def calibrate(budget: Budget, concurrency: int = 64) -> dict[str, float]:
    """The generator's own ceiling: closed loop against the zero-delay local server (its
    own process) on loopback. Figures from any target near this rate measure the generator."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tandem.loadtest.delay_server",
        "--lifetime-s",
        str(budget.max_seconds + 30),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        port = int(line.split()[1])
        client = http_client(f"http://127.0.0.1:{port}/", b"{}", {}, budget.request_timeout_s)
        try:
            r = await closed_loop(client.send, concurrency, budget, "calibration")
        finally:
            await client.aclose()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return {
        "generator_ceiling_rps": round(r.throughput_rps),
        "generator_cpu_us_per_request": round(1e6 * r.gen_cpu_s / max(1, r.sent), 1),
        "calibration_p50_ms": r.pct_ms(50),
    }
