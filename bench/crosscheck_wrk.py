"""Cross-check the load generator against an independent one (``wrk``, C) at the same
concurrency: ``python -m bench.crosscheck_wrk [--build build] [--concurrency 16]``.

For each target (each backend's digits MLP over its REST API, and the zero-delay local
server), closed loop for ``--seconds`` with ``tandem loadtest``'s engine, then with
``wrk -t1 -cN`` sending the identical request, taking turns for ``--rounds`` rounds; prints
the median throughputs and their ratio. The
issue's bar: they agree within 25%.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tandem.loadtest.engine import Budget, closed_loop
from tandem.loadtest.payloads import sample_inputs, v1_body
from tandem.loadtest.runner import run_on_uvloop
from tandem.loadtest.targets import Endpoints, Target, endpoints_from_build, models_from_build


def wrk_rps(url: str, body: bytes, headers: dict[str, str], conc: int, seconds: float) -> float:
    """``wrk``'s requests/s (non-2xx answers subtracted)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua(body)}"]
    lines += [f"wrk.headers[{_lua(k.encode())}] = {_lua(v.encode())}" for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            [wrk, "-t1", f"-c{conc}", f"-d{max(1, round(seconds))}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    total = int(_grab(r"(\d+) requests in", out))
    elapsed = _seconds(_grab(r"requests in ([\d.]+\w+),", out))
    bad = int(_grab(r"Non-2xx or 3xx responses: (\d+)", out, "0"))
    return (total - bad) / elapsed


def _lua(raw: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in raw) + '"'


def _grab(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
        return default
    return match.group(1)


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(\w+)", text)
    if match is None:
        raise RuntimeError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match.group(2)]


def engine_rps(url: str, body: bytes, headers: dict[str, str], conc: int, seconds: float) -> float:
    from tandem.loadtest.clients import http_client

    async def go() -> float:
        client = http_client(url, body, headers, 10)
        try:
            budget = Budget(warmup_s=0.5, window_s=seconds / 3, max_windows=3)
            return (await closed_loop(client.send, conc, budget)).throughput_rps
        finally:
            await client.aclose()

    return run_on_uvloop(go())


def rest_request(target: Target) -> tuple[str, bytes, dict[str, str]]:
    """URL, body and headers of a direct-REST target (what both generators send)."""
    e, route = target.endpoints, target.route
    body = v1_body(sample_inputs(route))
    version = route.default_version
    if target.backend == "tfserving":
        url = f"{e.tfserving_rest}/v1/models/{route.upstream_name}/versions/{version}:predict"
        return url, body, {"Content-Type": "application/json"}
    headers = {"Content-Type": "application/json"}
    if e.torchserve_token:
        headers["Authorization"] = f"Bearer {e.torchserve_token}"
    return f"{e.torchserve_rest}/predictions/{route.upstream_name}/{version}", body, headers


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--build", type=Path, default=Path("build"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--models", default="digits_mlp_tf,digits_mlp_torch")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved; medians kept")
    args = parser.parse_args()
    endpoints: Endpoints = endpoints_from_build(args.build, 0)
    routes = models_from_build(args.build)
    cases: list[tuple[str, str, bytes, dict[str, str]]] = []
    for model in args.models.split(","):
        route = routes[model]
        cases.append(
            (model, *rest_request(Target(model, route.backend, "direct-rest", route, endpoints)))
        )
    server = subprocess.Popen(
        [sys.executable, "-m", "tandem.loadtest.delay_server", "--lifetime-s", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        cases.append(("zero-delay local server", f"http://127.0.0.1:{port}/", b"{}", {}))
        print(
            f"closed loop c={args.concurrency}, {args.seconds:g} s each, engine and wrk "
            f"taking turns, median of {args.rounds} rounds; load average "
            f"{os.getloadavg()[0]:.2f}"
        )
        print(f"{'target':<26}{'engine req/s':>14}{'wrk req/s':>12}{'engine/wrk':>12}")
        for name, url, body, headers in cases:
            ours_all, theirs_all = [], []
            for _ in range(args.rounds):  # turns: a noisy neighbour hits both alike
                ours_all.append(engine_rps(url, body, headers, args.concurrency, args.seconds))
                theirs_all.append(wrk_rps(url, body, headers, args.concurrency, args.seconds))
            ours, theirs = statistics.median(ours_all), statistics.median(theirs_all)
            verdict = "agree" if abs(ours / theirs - 1) <= 0.25 else "DIFFER (>25%)"
            print(f"{name:<26}{ours:>14.1f}{theirs:>12.1f}{ours / theirs:>12.2f}  {verdict}")
    finally:
        server.kill()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
