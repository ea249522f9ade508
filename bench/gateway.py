"""Gateway benchmark: ``python -m bench.gateway [--routes build/config/routes.json]``
(``make bench``): the ``bench`` profile of ``tandem loadtest``'s engine.

For each backend, side by side in one run, against loopback servers only and bounded in time,
with the load generator of :mod:`tandem.loadtest.engine` (HdrHistogram, warm-up excluded,
stability windows, generator lag reported):

* saturation throughput, direct (the backend's own REST API) and via the gateway: the best
  rate of closed loops at a few concurrencies (the backends batch), and their ratio;
* added p50/p99 latency versus calling the backend directly, both measured open loop
  (constant arrival rate, latency from the scheduled send time) at a light rate
  (``--light-rps``, 100 req/s: issue 7's target) and at half the direct saturation rate.
  When the gateway cannot keep a rate up, the output says so instead of reporting queueing
  as "added latency";
* gateway CPU ms per request (the gateway process' CPU time / requests it served), at half
  load and at saturation;
* JSON vs binary (OIP v2) encode+decode time of a 1x224x224x3 fp32 tensor in the gateway's
  codecs.

The gateway runs as ``python -m gateway`` (uvloop + httptools) on a free loopback port;
``--transport rest`` makes it talk REST instead of gRPC to the backends.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import orjson

from gateway.route_table import load_route_table
from gateway.settings import is_loopback
from tandem.loadtest.engine import Budget, PointResult, closed_loop, open_loop
from tandem.loadtest.runner import run_on_uvloop
from tandem.loadtest.targets import Endpoints, Target, endpoints_from_build, models_from_build
from wire import v2

KEY = "bench-key-0123456789abcdef"

#: Issue 7's targets; ``check_targets`` prints them with the results.
TARGET_CPU_MS = 0.3
TARGET_ADDED_P50_MS = 0.5  # at --light-rps (100 req/s)
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_BINARY_SPEEDUP = 5.0


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

    def timed(fn: Callable[[], None]) -> float:
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples) * 1000

    return timed(json_roundtrip), timed(binary_roundtrip)


def _sustained(r: PointResult, rate: float) -> bool:
    """Every request answered and the answers kept up with the arrivals."""
    return r.error_count == 0 and r.throughput_rps >= 0.9 * rate


async def bench_backend(
    args: argparse.Namespace, endpoints: Endpoints, model: str, gateway_pid: int
) -> dict[str, float]:
    routes = models_from_build(args.routes.parent.parent)
    route = routes[model]
    direct = Target(model, route.backend, "direct-rest", route, endpoints)
    via = Target(model, route.backend, "gateway-v1", route, endpoints)
    warm = Budget(warmup_s=0.5, window_s=0.5, max_windows=1)
    for target in (direct, via):  # warm up both paths (connections, batchers, JIT)
        client = target.open(10)
        await closed_loop(client.send, 4, warm)
        await client.aclose()
    sweep_direct = await saturate(direct, args)
    cpu0 = cpu_seconds(gateway_pid)
    sweep_gateway = await saturate(via, args)
    cpu1 = cpu_seconds(gateway_pid)
    sat_direct, sat_gateway = _best(sweep_direct), _best(sweep_gateway)
    sat_served = sum(r.sent for r in sweep_gateway.values())
    rate = max(1.0, sat_direct.throughput_rps / 2)
    half_direct = await point(direct, args, rate=rate)
    cpu2 = cpu_seconds(gateway_pid)
    half_gateway = await point(via, args, rate=rate)
    cpu3 = cpu_seconds(gateway_pid)
    # Issue 7's rate: light, where the shared cores are not busy: what the hop itself adds.
    light_direct = await point(direct, args, rate=args.light_rps)
    light_gateway = await point(via, args, rate=args.light_rps)
    everything = [
        *sweep_direct.values(),
        *sweep_gateway.values(),
        half_direct,
        half_gateway,
        light_direct,
        light_gateway,
    ]
    return {
        "cpu_ms_per_request": (cpu3 - cpu2) * 1000 / max(1, half_gateway.sent),
        "cpu_ms_per_request_sat": (cpu1 - cpu0) * 1000 / max(1, sat_served),
        "half_load_rps": rate,
        "direct_p50_ms": half_direct.pct_ms(50),
        "direct_p99_ms": half_direct.pct_ms(99),
        "gateway_p50_ms": half_gateway.pct_ms(50),
        "gateway_p99_ms": half_gateway.pct_ms(99),
        "added_p50_ms": half_gateway.pct_ms(50) - half_direct.pct_ms(50),
        "added_p99_ms": half_gateway.pct_ms(99) - half_direct.pct_ms(99),
        "light_load_rps": float(args.light_rps),
        "direct_p50_ms_light": light_direct.pct_ms(50),
        "gateway_p50_ms_light": light_gateway.pct_ms(50),
        "added_p50_ms_light": light_gateway.pct_ms(50) - light_direct.pct_ms(50),
        "added_p99_ms_light": light_gateway.pct_ms(99) - light_direct.pct_ms(99),
        "gateway_half_load_rps": half_gateway.throughput_rps,
        "half_load_sustained": float(_sustained(half_gateway, rate)),
        "light_load_sustained": float(_sustained(light_gateway, args.light_rps)),
        "generator_lag_p99_ms": max(r.lag_ms(99) for r in everything),
        "unstable_points": float(sum(not r.stable for r in everything)),
        **{f"direct_rps_c{c}": r.throughput_rps for c, r in sweep_direct.items()},
        **{f"gateway_rps_c{c}": r.throughput_rps for c, r in sweep_gateway.items()},
        "direct_sat_rps": sat_direct.throughput_rps,
        "gateway_sat_rps": sat_gateway.throughput_rps,
        "throughput_ratio": (
            sat_gateway.throughput_rps / sat_direct.throughput_rps
            if sat_direct.throughput_rps
            else 0.0
        ),
        "direct_errors": float(
            sum(r.error_count for r in (*sweep_direct.values(), half_direct, light_direct))
        ),
        "gateway_errors": float(
            sum(r.error_count for r in (*sweep_gateway.values(), half_gateway, light_gateway))
        ),
    }


def check_targets(results: dict[str, dict[str, float]], speedup: float) -> list[str]:
    """One PASS/FAIL line per target and backend (issue 7's targets)."""
    lines = []
    for backend, r in results.items():
        cpu = max(r["cpu_ms_per_request"], r["cpu_ms_per_request_sat"])
        added = r["added_p50_ms_light"]
        sustained = bool(r["light_load_sustained"])
        checks = [
            (f"gateway CPU <= {TARGET_CPU_MS} ms/request", cpu <= TARGET_CPU_MS, f"{cpu:.3f}"),
            (
                f"added p50 <= {TARGET_ADDED_P50_MS} ms at {r['light_load_rps']:g} req/s",
                sustained and added <= TARGET_ADDED_P50_MS,
                f"{added:.3f}" + ("" if sustained else " (rate NOT sustained by the gateway)"),
            ),
            (
                f"throughput >= {TARGET_THROUGHPUT_RATIO}x direct",
                r["throughput_ratio"] >= TARGET_THROUGHPUT_RATIO,
                f"{r['throughput_ratio']:.3f}",
            ),
        ]
        for name, ok, value in checks:
            verdict = "PASS" if ok else "FAIL"
            if "added p50" in name and added < 0:
                # The direct path was slower than the path through the gateway: the backend
                # itself was overloaded at this rate, so the difference measures nothing.
                verdict = "INCONCLUSIVE"
                value += " (direct slower than via gateway: backend overloaded; rerun)"
            lines.append(f"{verdict:<4}  {backend:<12} {name}: {value}")
    ok = speedup >= TARGET_BINARY_SPEEDUP
    lines.append(
        f"{'PASS' if ok else 'FAIL'}  {'codec':<12} binary >= "
        f"{TARGET_BINARY_SPEEDUP:.0f}x faster than JSON: {speedup:.0f}x"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--routes", type=Path, default=Path("build/config/routes.json"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per point, at most")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[16, 64],
        help="closed-loop connections, comma-separated; saturation = the best rate",
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
    load = os.getloadavg()
    try:
        results = {
            backend: run_on_uvloop(bench_backend(args, endpoints, model, gateway.pid))
            for backend, model in sorted(picks.items())
        }
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
    json_ms, binary_ms = codec_times(args.codec_repeats)

    print(
        f"gateway benchmark (loopback, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} at start, gateway->backend {args.transport}; engine: tandem loadtest, "
        f"saturation closed loop best of concurrency {','.join(map(str, args.concurrency))}, "
        f"latency open loop; <= {args.seconds:g} s/point)"
    )
    header = f"{'metric':<24}" + "".join(f"{b + ' (' + picks[b] + ')':>34}" for b in results)
    print(header)
    for key in next(iter(results.values())):
        print(f"{key:<24}" + "".join(f"{r[key]:>34.3f}" for r in results.values()))
    speedup = json_ms / binary_ms
    print(
        f"codec 1x224x224x3 fp32 encode+decode: JSON {json_ms:.1f} ms, binary "
        f"{binary_ms:.2f} ms, binary speed-up {speedup:.0f}x"
    )
    for line in check_targets(results, speedup):
        print(line)


if __name__ == "__main__":
    main()
