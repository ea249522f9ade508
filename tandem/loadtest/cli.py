"""``tandem loadtest``: resolve endpoints and targets, run the sweep with a live progress
display, write the report. Who calls it: :func:`tandem.cli.loadtest` (a thin shell).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tandem.loadtest.cpu import ProcessMeter, server_meter
from tandem.loadtest.engine import Budget, PointResult
from tandem.loadtest.report import write_report
from tandem.loadtest.runner import (
    PROFILES,
    Point,
    calibrate,
    machine,
    plan,
    run_on_uvloop,
    run_points,
)
from tandem.loadtest.targets import (
    GATEWAY_GRPC,
    LOOPBACK,
    PATHS,
    LoadTestError,
    Path_,
    default_models,
    endpoints_from_build,
    grpc_stubs_missing,
    make_targets,
    models_from_build,
    twin_variants,
)
from tandem.manifest import load_manifest


@dataclass
class LoadTestOptions:
    """What the command line asked for (strings as typed; parsed here)."""

    out: Path
    profile: str = "full"
    models: str | None = None
    twin: str | None = None
    """A twin of the route table: its variants are the models compared (not with --models)."""
    paths: str | None = None
    concurrency: str | None = None
    rate: str | None = None
    arrival: str = "constant"
    build: Path = Path("build")
    manifest: Path = Path("models.yaml")
    endpoints: dict[str, str | None] = field(default_factory=dict)
    allow_remote: bool = False
    calibrate: bool = True
    window_s: float | None = None
    max_windows: int | None = None


def _numbers(text: str | None, kind: type[float] | type[int]) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise LoadTestError(f"not a comma-separated list of numbers: {text!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise LoadTestError(f"expected positive numbers, got {text!r}")
    return [float(v) for v in values]


def run_loadtest(options: LoadTestOptions, console: Console) -> list[Path]:
    """Run the sweep ``options`` describe; print one line per point; write the report."""
    if options.profile not in PROFILES:
        raise LoadTestError(f"unknown profile {options.profile!r}; known: {sorted(PROFILES)}")
    if options.arrival not in ("constant", "poisson"):
        raise LoadTestError(f"--arrival must be constant or poisson, not {options.arrival!r}")
    profile = PROFILES[options.profile]
    gateway_port, grpc_port = 8000, 8001
    if options.manifest.exists():
        gateway = load_manifest(options.manifest).data.servers.gateway
        gateway_port, grpc_port = gateway.port, gateway.grpc_port
    # A gateway named by URL runs elsewhere: its gRPC port only from --gateway-grpc.
    local_grpc = None if options.endpoints.get("gateway") else grpc_port
    endpoints = endpoints_from_build(options.build, gateway_port, local_grpc, **options.endpoints)
    remote = endpoints.non_loopback()
    if remote and not options.allow_remote:
        raise LoadTestError(f"refusing non-loopback targets {remote} (--allow-remote)")
    routes = models_from_build(options.build)
    if options.twin is not None:
        if options.models:
            raise LoadTestError("--twin and --models are exclusive: a twin names its models")
        models = twin_variants(options.build, options.twin)
    else:
        models = options.models.split(",") if options.models else default_models(routes)
    paths = options.paths.split(",") if options.paths else list(PATHS)
    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise LoadTestError(f"unknown path(s) {bad}; known: {list(PATHS)}")
    stubbed = [p for p in paths if p == "direct-grpc" or p in GATEWAY_GRPC]
    no_grpc = grpc_stubs_missing() if stubbed else None
    if no_grpc is not None:
        if options.paths:  # asked for by name: say why it cannot run
            raise LoadTestError(f"{', '.join(stubbed)}: {no_grpc}")
        paths = [p for p in paths if p not in stubbed]
        for path in stubbed:
            console.print(f"{path} left out: {no_grpc}", highlight=False)
    targets = make_targets(routes, endpoints, models, cast(list[Path_], paths))
    conc = _numbers(options.concurrency, int)
    points = plan(
        targets,
        profile,
        concurrency=[int(c) for c in conc] if conc else None,
        rates=_numbers(options.rate, float),
        arrival=cast(Literal["constant", "poisson"], options.arrival),
    )
    if not points:
        raise LoadTestError("nothing to measure (no target has an endpoint)")
    budget = profile.budget
    if options.window_s is not None:
        if options.window_s <= 0:
            raise LoadTestError("--window-s must be positive")
        budget = replace(
            budget, window_s=options.window_s, warmup_s=min(budget.warmup_s, options.window_s)
        )
    if options.max_windows is not None:
        if options.max_windows < budget.stable_windows:
            raise LoadTestError(f"--max-windows must be at least {budget.stable_windows}")
        budget = replace(budget, max_windows=options.max_windows)
    meta = {**machine(), "profile": profile.name, "budget": budget.__dict__}
    # Server CPU per request, for the servers of this machine (a port number says nothing
    # about a remote one).
    local = {
        "gateway": endpoints.gateway,
        "tfserving": endpoints.tfserving_rest,
        "torchserve": endpoints.torchserve_rest,
    }
    meter = server_meter({k: u for k, u in local.items() if u and urlsplit(u).hostname in LOOPBACK})
    meta["server_processes"] = dict(meter.pids)
    if options.twin is not None:
        meta["twin"] = {"name": options.twin, "variants": models}
    started = time.monotonic()
    console.print(
        f"{len(points)} points, {len(targets)} targets, at most "
        f"{len(points) * (budget.warmup_s + budget.max_windows * budget.window_s):.0f} s "
        f"(load average {meta['load_average_1_5_15']})"
    )
    if options.calibrate:
        meta.update(run_on_uvloop(calibrate(budget)))
        console.print(
            f"generator ceiling (trivial local server, c=64): "
            f"{meta['generator_ceiling_rps']:.0f} req/s, "
            f"{meta['generator_cpu_us_per_request']} us CPU/request"
        )
    results = _run_with_progress(points, budget, console, meter)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    written = write_report(options.out, meta, [r.to_dict() for r in results])
    console.print(f"report: {options.out}/report.html ({meta['elapsed_s']} s)")
    return written


def _run_with_progress(
    points: list[Point], budget: Budget, console: Console, meter: ProcessMeter
) -> list[PointResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=len(points))

        def start(point: Point) -> None:
            progress.update(task, description=point.title)

        def done(point: Point, r: PointResult) -> None:
            progress.advance(task)
            flags = "" if r.stable else " [yellow]unstable[/]"
            if r.generator_limited:
                flags += " [red]generator-limited[/]"
            if r.errors:
                flags += f" [red]errors {r.errors}[/]"
            cpu = r.to_dict()["server_cpu_ms_per_request"].get(point.target.backend)
            if cpu is not None:
                flags += f"  {point.target.backend} CPU {cpu:.2f} ms/req"
            progress.console.print(
                f"{point.title:<48} {r.throughput_rps:9.1f} req/s  p50 {r.pct_ms(50):8.2f} ms"
                f"  p99 {r.pct_ms(99):8.2f} ms{flags}",
                highlight=False,
                soft_wrap=True,  # one line per point, also in a log
            )

        return run_on_uvloop(run_points(points, budget, start, done, meter))
