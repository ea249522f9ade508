"""Gateway benchmark: ``python -m bench.gateway [--routes build/config/routes.json]``
(``make bench``, with ``make up`` running): issue 16's targets on the engine of
``tandem loadtest`` (HdrHistogram, warm-up excluded, stability windows, generator lag).

For each backend (its MLP), against loopback servers only and bounded in time:

* ``--rounds`` interleaved rounds (direct, via the gateway, direct, ...; the median counts) of
  a closed loop at ``--saturation-concurrency`` (throughput ratio) and an open loop at
  ``--light-rps`` (added p50: latency from each request's scheduled send time);
* every point records, beside req/s and percentiles, the CPU time per request of each
  process involved, read from /proc: the gateway, each backend (its process tree) and the
  generator; the load average before it, and the cores' worth of CPU every other process
  of the machine used during it (``others``);
* an open loop at ``--overload-factor`` x the capacity through the gateway for
  ``--overload-seconds``: goodput, p99 of the 2xx answers, the slowest refusal, timeouts
  (on the batching-off stack, through a gateway of its own: see :func:`bench_overload`);
* JSON vs binary (OIP v2) encode+decode of a 1x224x224x3 fp32 tensor in the codecs;
* a 1x224x224x3 v2 binary request through the gateway at concurrency 1 (each backend's
  224x224x3 model, when the stack serves one) against the model's in-process forward time
  (:mod:`bench.forward`, in a subprocess) + 2 ms;
* batching on vs off, direct, for both MLPs: the running stack (on) against a second stack of
  the same exported MLPs with batching off (:mod:`bench.batching`, started and stopped here,
  about 40 s), interleaved rounds at each ``--batching-concurrency``;
* beside each c=32 point, the batch sizes that reached the model (:mod:`bench.batches`).

Verdicts come from :mod:`bench.verdict`: PASS or FAIL only from stable, not
generator-limited points on a machine that was not busy (other processes used at most a
quarter of a core, or a tenth of the cores, during the point; CPU per request, read from
/proc, is judged on a busy machine too), else INCONCLUSIVE with the reason.
The gateway runs as ``python -m gateway`` (uvloop + httptools) on a free loopback port;
``--transport rest`` makes it talk REST instead of gRPC to the backends.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import orjson

from bench.batches import BatchProbe
from bench.batching import nobatch_stack
from bench.forward import forward_ms
from bench.openloop import open_loop_processes, timing_refusals
from bench.verdict import Conditions, Figure, Verdict, judge, judge_all, summary
from bench.verdict import Target as VerdictTarget
from gateway.route_table import ModelRoute, load_route_table
from gateway.settings import is_loopback
from tandem.kinds.torchserve import torch_threads_per_worker
from tandem.loadtest.cpu import MachineSample, listening_pid, machine_sample, others_cores
from tandem.loadtest.cpu import ProcessMeter as Meter
from tandem.loadtest.engine import Budget, PointResult, closed_loop, open_loop
from tandem.loadtest.runner import run_on_uvloop
from tandem.loadtest.targets import Endpoints, Target, endpoints_from_build, models_from_build
from tandem.manifest import load_manifest
from wire import v2

KEY = "bench-key-0123456789abcdef"

#: Issue 16's targets (judged by ``bench.verdict``).
TARGET_CPU_MS = 0.2
TARGET_ADDED_P50_MS = 0.3  # at --light-rps (100 req/s)
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_BINARY_SPEEDUP = 5.0
TARGET_LARGE_OVER_FORWARD_MS = 2.0  # 224x224x3 v2 binary p50 at c=1 <= forward + 2 ms
TARGET_BATCHING_AT_SATURATION = 1.5  # on / off at c=32, direct
TARGET_BATCHING_FLOOR = 0.9  # on / off at every concurrency measured
LARGE_ELEMENTS = 224 * 224 * 3


def budget(args: argparse.Namespace) -> Budget:
    """``--seconds`` per point at most: warm-up, then up to 4 windows (3 must agree)."""
    window = max(0.5, (args.seconds - 0.5) / 4)
    return Budget(
        warmup_s=0.5,
        window_s=window,
        max_windows=4,
        max_requests=args.max_requests,
        request_timeout_s=10,
    )


async def point(
    target: Target, args: argparse.Namespace, *, concurrency: int = 0, rate: float = 0.0
) -> PointResult:
    client = target.open(timeout_s=10)
    try:
        if rate:
            return await open_loop(client.send, rate, budget(args), target=target.name)
        return await closed_loop(client.send, concurrency, budget(args), target.name)
    finally:
        await client.aclose()


async def saturate(target: Target, args: argparse.Namespace) -> dict[int, PointResult]:
    """Closed loop at each ``--concurrency``: the saturation rate is the best of them (the
    backends batch, so their rate keeps growing with the queue for a while)."""
    return {c: await point(target, args, concurrency=c) for c in args.concurrency}


def _best(results: dict[int, PointResult]) -> PointResult:
    return max(results.values(), key=lambda r: r.throughput_rps)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(
    routes: Path, port: int, transport: str, source: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TANDEM_GATEWAY_PREFER_GRPC": "true" if transport == "grpc" else "false",
        "TANDEM_GATEWAY_ROUTES_FILE": str(routes),
        "TANDEM_GATEWAY_PORT": str(port),
        "TANDEM_GATEWAY_API_KEYS": KEY,
        "TANDEM_GATEWAY_LOG_LEVEL": "WARNING",
        "TANDEM_GATEWAY_ACCESS_LOG": "false",
    }
    if source is not None:  # another checkout's gateway package, e.g. for before/after
        env["PYTHONPATH"] = str(source.resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=env,
        cwd=source,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def backend_pids(routes_file: Path, suffix: str = "") -> dict[str, int]:
    """The process listening on each backend's REST (else gRPC) port, by backend name +
    ``suffix``: whose CPU a point reads."""
    pids = {}
    for name, server in sorted(load_route_table(routes_file).backends.items()):
        pid = listening_pid(server.rest_url) or listening_pid(server.grpc_target)
        if pid is not None:
            pids[name + suffix] = pid
    return pids


def stop_gateway(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def warm_up(*targets: Target) -> None:
    """A short closed loop on each target first: connections, batchers, JIT."""
    for target in targets:
        client = target.open(10)
        await closed_loop(client.send, 4, Budget(warmup_s=0.5, window_s=0.5, max_windows=1))
        await client.aclose()


def codec_times(repeats: int) -> tuple[float, float]:
    tensor = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)

    def json_roundtrip() -> None:
        body, _ = v2.encode_infer_request({"x": tensor}, binary=False)
        v2.decode_infer_request(orjson.loads(body))

    def binary_roundtrip() -> None:
        body, n = v2.encode_infer_request({"x": tensor}, binary=True)
        assert n is not None
        header, tail = v2.split_binary(body, n)
        v2.decode_infer_request(header, tail)

    return forward_ms(json_roundtrip, 0, repeats), forward_ms(binary_roundtrip, 0, repeats)


def _sustained(r: PointResult, rate: float) -> bool:
    """Every request answered and the answers kept up with the arrivals."""
    return r.error_count == 0 and r.throughput_rps >= 0.9 * rate


@dataclass
class Measured:
    """One point, with the CPU each process spent per request and its conditions."""

    label: str
    result: PointResult
    cpu_ms: dict[str, float]
    conditions: Conditions

    def line(self) -> str:
        r = self.result
        cpu = " ".join(f"{k} {v:.3f}" for k, v in self.cpu_ms.items())
        flags = [] if r.stable else ["UNSTABLE"]
        if r.generator_limited:
            flags.append("GENERATOR-LIMITED")
        if r.error_count:
            flags.append(f"errors {dict(r.errors)}")
        return (
            f"  {self.label:<34} {r.throughput_rps:9.1f} req/s  p50 {r.pct_ms(50):7.2f} ms  "
            f"p99 {r.pct_ms(99):8.2f} ms | CPU ms/req: {cpu} "
            f"| load {self.conditions.load_average:.2f}, others "
            f"{self.conditions.others_cores:.2f} cores" + (f" | {' '.join(flags)}" if flags else "")
        )


@dataclass(frozen=True, slots=True)
class Start:
    """What is read just before a point: the load average, every measured process' CPU and
    the machine's, so that :meth:`finish` can tell the point's own CPU from everyone else's."""

    load: float
    processes: dict[str, float]
    machine: MachineSample

    @classmethod
    def now(cls, meter: Meter) -> Start:
        return cls(os.getloadavg()[0], meter.snapshot(), machine_sample())

    def finish(self, meter: Meter, label: str, result: PointResult) -> Measured:
        """The point's figures and conditions, printed."""
        spent = meter.since(self.processes)
        machine = machine_sample()
        n = max(1, result.sent)
        ours = sum(v for v in spent.values() if not math.isnan(v))
        conditions = Conditions(
            stable=result.stable,
            generator_limited=result.generator_limited,
            load_average=self.load,
            others_cores=others_cores(self.machine, machine, ours),
            cores=os.cpu_count() or 1,
        )
        measured = Measured(label, result, {k: v * 1000 / n for k, v in spent.items()}, conditions)
        print(measured.line(), flush=True)
        return measured


async def measure(
    meter: Meter,
    label: str,
    send_target: Target,
    budget_: Budget,
    *,
    concurrency: int = 0,
    rate: float = 0.0,
    refusals: list[float] | None = None,
) -> Measured:
    """One point with the load average before it and every process' CPU around it;
    ``refusals`` collects the latency of every non-200 answer."""
    client = send_target.open(timeout_s=budget_.request_timeout_s)
    send = client.send if refusals is None else timing_refusals(client.send, refusals)
    start = Start.now(meter)
    try:
        if rate:
            result = await open_loop(send, rate, budget_, target=send_target.name)
        else:
            result = await closed_loop(send, concurrency, budget_, send_target.name)
    finally:
        await client.aclose()
    return start.finish(meter, label, result)


async def bench_backend(
    args: argparse.Namespace, endpoints: Endpoints, model: str, meter: Meter
) -> list[Verdict]:
    """Interleaved rounds of direct and via-gateway points, then the overload point; the
    verdicts for one backend."""
    routes = models_from_build(args.routes.parent.parent)
    route = routes[model]
    backend = route.backend
    direct = Target(model, backend, "direct-rest", route, endpoints)
    via = Target(model, backend, "gateway-v1", route, endpoints)
    await warm_up(direct, via)
    c = args.saturation_concurrency
    probe = BatchProbe(
        backend,
        route.upstream_name,
        endpoints.tfserving_rest if backend == "tfserving" else None,
        args.routes.parent.parent,
    )
    ratio, added, cpu = [], [], []
    ratio_cond, added_cond, cpu_cond = [], [], []
    added_notes: list[str] = []
    for n in range(1, args.rounds + 1):
        print(f"{backend} ({model}) round {n}/{args.rounds}", flush=True)
        probe.start()
        d = await measure(meter, f"direct c={c}", direct, budget(args), concurrency=c)
        print(f"    batches reaching {model}: {_batches(probe)}", flush=True)
        probe.start()
        g = await measure(meter, f"gateway c={c}", via, budget(args), concurrency=c)
        print(f"    batches reaching {model}: {_batches(probe)}", flush=True)
        ld = await measure(
            meter, f"direct {args.light_rps:g} req/s", direct, budget(args), rate=args.light_rps
        )
        lg = await measure(
            meter, f"gateway {args.light_rps:g} req/s", via, budget(args), rate=args.light_rps
        )
        ratio.append(
            g.result.throughput_rps / d.result.throughput_rps
            if d.result.throughput_rps
            else math.nan
        )
        ratio_cond += [d.conditions, g.conditions]
        added.append(lg.result.pct_ms(50) - ld.result.pct_ms(50))
        added_cond += [ld.conditions, lg.conditions]
        if not _sustained(lg.result, args.light_rps):
            added_notes.append(f"round {n}: the gateway did not sustain {args.light_rps:g} req/s")
        if added[-1] < 0:
            added_notes.append(f"round {n}: direct slower than via the gateway (backend busy)")
        # Under load, as the figure (a closed loop); the light-load figure, which also
        # pays the event loop's idle wake-ups, is printed with its point.
        cpu.append(g.cpu_ms["gateway"])
        cpu_cond.append(g.conditions)
    checks: list[tuple[VerdictTarget, Figure]] = [
        (
            VerdictTarget(f"gateway CPU per request at c={c}", TARGET_CPU_MS, False, " ms"),
            Figure(tuple(cpu), tuple(cpu_conditions(cpu_cond))),
        ),
        (
            VerdictTarget(
                f"added p50 at {args.light_rps:g} req/s", TARGET_ADDED_P50_MS, False, " ms"
            ),
            Figure(tuple(added), tuple(added_cond), tuple(added_notes)),
        ),
        (
            VerdictTarget(
                f"throughput via gateway / direct at c={c}", TARGET_THROUGHPUT_RATIO, True, "x"
            ),
            Figure(tuple(ratio), tuple(ratio_cond)),
        ),
    ]
    return judge_all(backend, checks)


def generator_processes(rate: float, per_process: float) -> int:
    """Generator processes for an open loop at ``rate``: one per ``per_process`` req/s (what
    one Python process sends on time), at most one per core."""
    return max(1, min(os.cpu_count() or 1, math.ceil(rate / per_process)))


def _batches(probe: BatchProbe) -> str:
    found = probe.stop()
    return "not readable" if found is None else found.line()


def cpu_conditions(conditions: list[Conditions]) -> list[Conditions]:
    """CPU per request is read from /proc: robust on a busy machine, so load does not void it
    (an unstable or generator-limited point still does)."""
    return [replace(c, others_cores=0.0) for c in conditions]


async def bench_overload(args: argparse.Namespace, build: Path, models: list[str]) -> list[Verdict]:
    """For each of ``models`` served by ``build``'s stack, through a gateway of its own: the
    capacity (closed loop at ``--saturation-concurrency``), then the overload open loop.

    ``make bench`` runs it on the batching-off stack: with batching on, the MLPs' capacity
    (4,000-5,000 req/s) is more than this 2-core machine can generate at 2x and pass while
    it serves, so the point would measure the machine; batching off, the backend is the
    bottleneck, as admission control presumes."""
    port = free_port()
    routes_file = build / "config" / "routes.json"
    gateway = start_gateway(routes_file, port, args.transport, args.gateway_source)
    verdicts: list[Verdict] = []
    try:
        endpoints = endpoints_from_build(build, port, api_key=KEY)
        pids = {"gateway": gateway.pid, **backend_pids(routes_file), "generator": os.getpid()}
        meter = Meter(pids)
        routes = models_from_build(build)
        c = args.saturation_concurrency
        for model in models:
            route = routes[model]
            via = Target(model, route.backend, "gateway-v1", route, endpoints)
            await warm_up(via)
            print(f"{route.backend} ({model}, batching off) overload through the gateway")
            cap = await measure(meter, f"capacity: gateway c={c}", via, budget(args), concurrency=c)
            verdicts += judge_all(route.backend, await overload(args, meter, via, cap))
    finally:
        stop_gateway(gateway)
    return verdicts


async def overload(
    args: argparse.Namespace, meter: Meter, via: Target, cap: Measured
) -> list[tuple[VerdictTarget, Figure]]:
    """Open loop at ``--overload-factor`` x ``cap``'s throughput through the gateway: what
    is admitted is served in time, the rest is refused at once. An unstable capacity point
    voids the verdicts as its own point would."""
    capacity = cap.result.throughput_rps
    rate = args.overload_factor * capacity
    refusals: list[float] = []
    window = max(0.5, (args.overload_seconds - 1.0) / 4)
    budget_ = Budget(warmup_s=1.0, window_s=window, max_windows=4, request_timeout_s=10)
    processes = args.generator_processes or generator_processes(rate, args.rate_per_generator)
    label = f"gateway open loop {rate:.0f} req/s"
    if processes <= 1:
        m = await measure(meter, label, via, budget_, rate=rate, refusals=refusals)
    else:
        # Spawned children: their CPU is in no column once they have exited (nor is it
        # counted as other processes': they are waited for, see MachineSample.children_s).
        start = Start.now(meter)
        result, refusals = await asyncio.to_thread(
            open_loop_processes, via, rate, budget_, processes
        )
        m = start.finish(meter, f"{label} ({processes} generator processes)", result)
    r = m.result
    refused_ms = [x * 1000 for x in refusals]
    timeouts = float(r.errors.get("timeout", 0))
    other = {k: v for k, v in r.errors.items() if not k.isdigit() and k != "timeout"}
    print(
        f"  overload: capacity {capacity:.0f} req/s, offered {rate:.0f}, goodput "
        f"{r.throughput_rps:.0f}, refused {len(refusals)} "
        f"(max {max(refused_ms, default=0):.1f} ms), timeouts {timeouts:.0f}, other errors {other}",
        flush=True,
    )
    cond = (cap.conditions, m.conditions)
    return [
        (
            VerdictTarget(
                f"overload {args.overload_factor:g}x: goodput / capacity", 0.8, True, "x"
            ),
            Figure((r.throughput_rps / capacity if capacity else math.nan,), cond),
        ),
        (
            VerdictTarget("overload: p99 of the 2xx answers", 1000.0, False, " ms"),
            Figure((r.pct_ms(99),), cond),
        ),
        (
            VerdictTarget("overload: slowest refusal", 100.0, False, " ms"),
            Figure((max(refused_ms, default=0.0),), cond),
        ),
        (VerdictTarget("overload: client timeouts", 0.0, False), Figure((timeouts,), cond)),
    ]


def large_model(routes: dict[str, ModelRoute], backend: str) -> str | None:
    """The backend's model taking one 224x224x3 tensor per row (``None``: none served)."""
    for name, route in sorted(routes.items()):
        if route.backend == backend and any(
            math.prod(d for d in spec.shape if d > 0) == LARGE_ELEMENTS for spec in route.inputs
        ):
            return name
    return None


def forward_time_ms(build: Path, model: str, threads: int | None) -> float:
    """The model's in-process forward time (``bench.forward`` in a subprocess)."""
    argv = [sys.executable, "-m", "bench.forward", "--build", str(build), "--model", model]
    if threads:
        argv += ["--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    return float(orjson.loads(done.stdout.strip().splitlines()[-1])["forward_ms"])


async def bench_large(
    args: argparse.Namespace, endpoints: Endpoints, model: str, meter: Meter, forward_ms: float
) -> list[Verdict]:
    """A 1x224x224x3 v2 binary request through the gateway at c=1, ``--rounds`` points;
    the median p50 minus the in-process forward time, against 2 ms."""
    route = models_from_build(args.routes.parent.parent)[model]
    via = Target(model, route.backend, "gateway-v2-binary", route, endpoints)
    print(
        f"{route.backend} ({model}) 1x224x224x3 v2 binary at c=1; in-process forward "
        f"{forward_ms:.2f} ms",
        flush=True,
    )
    over, cond = [], []
    for _ in range(args.rounds):
        m = await measure(meter, "gateway v2 binary c=1", via, budget(args), concurrency=1)
        over.append(m.result.pct_ms(50) - forward_ms)
        cond.append(m.conditions)
    target = VerdictTarget(
        "224x224x3 v2 binary p50 at c=1 over the in-process forward time",
        TARGET_LARGE_OVER_FORWARD_MS,
        False,
        " ms",
    )
    return [judge(route.backend, target, Figure(tuple(over), tuple(cond)))]


async def bench_batching(
    args: argparse.Namespace, on_build: Path, off_build: Path, models: list[str]
) -> list[Verdict]:
    """Direct closed loops on the batching-on stack and the batching-off one, interleaved
    rounds at each ``--batching-concurrency``: on / off per backend and concurrency."""
    on_routes, off_routes = models_from_build(on_build), models_from_build(off_build)
    on_ep = endpoints_from_build(on_build, 0)
    off_ep = endpoints_from_build(off_build, 0)
    pids = {"generator": os.getpid()}
    for label, build in (("on", on_build), ("off", off_build)):
        pids |= backend_pids(build / "config" / "routes.json", f"-{label}")
    meter = Meter(pids)
    verdicts: list[Verdict] = []
    for model in models:
        backend = on_routes[model].backend
        on = Target(model, backend, "direct-rest", on_routes[model], on_ep)
        off = Target(model, backend, "direct-rest", off_routes[model], off_ep)
        await warm_up(on, off)
        ratios: dict[int, list[float]] = {c: [] for c in args.batching_concurrency}
        conds: dict[int, list[Conditions]] = {c: [] for c in args.batching_concurrency}
        for n in range(1, args.rounds + 1):
            print(f"{backend} ({model}) batching on vs off, direct, round {n}", flush=True)
            for c in args.batching_concurrency:
                a = await measure(meter, f"batching on c={c}", on, budget(args), concurrency=c)
                b = await measure(meter, f"batching off c={c}", off, budget(args), concurrency=c)
                off_rps = b.result.throughput_rps
                ratios[c].append(a.result.throughput_rps / off_rps if off_rps else math.nan)
                conds[c] += [a.conditions, b.conditions]
        checks: list[tuple[VerdictTarget, Figure]] = []
        top = max(args.batching_concurrency)
        checks.append(
            (
                VerdictTarget(
                    f"batching on / off at c={top}, direct",
                    TARGET_BATCHING_AT_SATURATION,
                    True,
                    "x",
                ),
                Figure(tuple(ratios[top]), tuple(conds[top])),
            )
        )
        for c in args.batching_concurrency:
            checks.append(
                (
                    VerdictTarget(
                        f"batching on / off at c={c} (never below)",
                        TARGET_BATCHING_FLOOR,
                        True,
                        "x",
                    ),
                    Figure(tuple(ratios[c]), tuple(conds[c])),
                )
            )
        verdicts += judge_all(backend, checks)
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--routes", type=Path, default=Path("build/config/routes.json"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per point, at most")
    parser.add_argument(
        "--saturation-concurrency",
        type=int,
        default=32,
        help="closed-loop connections of the throughput comparison",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument(
        "--overload-seconds", type=float, default=20.0, help="open loop at 2x capacity (0: skip)"
    )
    parser.add_argument("--overload-factor", type=float, default=2.0)
    parser.add_argument(
        "--generator-processes",
        type=int,
        default=0,
        help="processes generating the overload open loop (0: one per --rate-per-generator)",
    )
    parser.add_argument(
        "--rate-per-generator",
        type=float,
        default=1500.0,
        help="req/s one generator process is trusted to send on time",
    )
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--codec-repeats", type=int, default=10)
    parser.add_argument(
        "--transport", choices=("grpc", "rest"), default="grpc", help="gateway → backends"
    )
    parser.add_argument(
        "--light-rps", type=float, default=100.0, help="rate of the added-latency target"
    )
    parser.add_argument(
        "--gateway-source",
        type=Path,
        help="directory holding the gateway package to run (default: this one)",
    )
    parser.add_argument(
        "--manifest", type=Path, default=Path("models.yaml"), help="the stack's manifest"
    )
    parser.add_argument(
        "--batching-concurrency",
        type=lambda text: sorted({int(x) for x in text.split(",")}),
        default=[1, 32],
        help="concurrencies of the batching on/off comparison (comma-separated)",
    )
    parser.add_argument(
        "--no-batching-off",
        dest="batching_off",
        action="store_false",
        help="skip the batching on/off comparison and the overload point (a second stack)",
    )
    parser.add_argument(
        "--no-large",
        dest="large",
        action="store_false",
        help="skip the 1x224x224x3 v2 binary point",
    )
    parser.add_argument(
        "--python-load",
        action="store_true",
        help="kept for old command lines: the engine is always tandem loadtest's",
    )
    args = parser.parse_args()

    table = load_route_table(args.routes)
    for name, backend in table.backends.items():
        for url in (backend.rest_url, f"//{backend.grpc_target}" if backend.grpc_target else None):
            host = urlparse(url).hostname if url else None
            if host and not is_loopback(host):
                raise SystemExit(f"refusing to benchmark non-loopback backend {name}: {host}")
    picks: dict[str, str] = {}
    for model, route in sorted(table.models.items(), key=lambda m: "mlp" not in m[0]):
        picks.setdefault(route.backend, model)
    port = free_port()
    gateway = start_gateway(args.routes.resolve(), port, args.transport, args.gateway_source)
    build = args.routes.parent.parent
    endpoints = endpoints_from_build(build, port, api_key=KEY)
    pids = {"gateway": gateway.pid, **backend_pids(args.routes), "generator": os.getpid()}
    meter = Meter(pids)
    load = os.getloadavg()
    print(
        f"gateway benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} at start; "
        f"gateway->backend {args.transport}; {args.rounds} interleaved rounds of direct and "
        f"via the gateway, <= {args.seconds:g} s/point; CPU ms per request of: "
        f"{', '.join(f'{k} (pid {v})' for k, v in pids.items())}",
        flush=True,
    )
    verdicts: list[Verdict] = []
    routes = models_from_build(build)
    threads = None
    if args.manifest.exists():
        threads = torch_threads_per_worker(load_manifest(args.manifest), os.cpu_count() or 1)
    try:
        for _, model in sorted(picks.items()):
            verdicts += run_on_uvloop(bench_backend(args, endpoints, model, meter))
        for kind in sorted(picks) if args.large else ():
            large = large_model(routes, routes[picks[kind]].backend)
            if large is None:
                print(f"{kind}: no 224x224x3 model served; that target is not run")
                continue
            forward = forward_time_ms(build, large, threads)
            verdicts += run_on_uvloop(bench_large(args, endpoints, large, meter, forward))
    finally:
        stop_gateway(gateway)
    json_ms, binary_ms = codec_times(args.codec_repeats)
    speedup = json_ms / binary_ms
    print(
        f"codec 1x224x224x3 fp32 encode+decode: JSON {json_ms:.1f} ms, binary "
        f"{binary_ms:.2f} ms, binary speed-up {speedup:.0f}x"
    )
    verdicts.append(
        judge(
            "codec",
            VerdictTarget("binary speed-up over JSON", TARGET_BINARY_SPEEDUP, True, "x"),
            Figure((speedup,), ()),
        )
    )
    if args.batching_off and args.manifest.exists():
        mlps = [model for _, model in sorted(picks.items())]
        with nobatch_stack(args.manifest, build, mlps) as off:
            verdicts += run_on_uvloop(bench_batching(args, build, off, mlps))
            if args.overload_seconds > 0:
                verdicts += run_on_uvloop(bench_overload(args, off, mlps))
    elif args.batching_off:
        print(f"{args.manifest} not found: batching on vs off is not run (--manifest)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for verdict in verdicts:
        print(verdict.line())
    print(f"overall: {summary(verdicts)}")


if __name__ == "__main__":
    main()
