"""Gateway dispatch cost, in-process: CPU microseconds per inference request through the ASGI
app alone (no sockets, no HTTP parser, a backend that answers at once), so that only what the
gateway's own layers cost is left. Decides between dispatch designs by figures:

    python -m bench.dispatch --variant new=.:bench.dispatch:tandem_app \\
        --variant old=/tmp/base:bench.dispatch:tandem_app --rounds 5

Each variant runs in its own process (``PYTHONPATH`` = its tree), rounds interleaved
(A B C, A B C, ...), the median per variant printed with every round and the load average
before each. CPU time is the process' own (``time.process_time``), robust on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

KEY = "dispatch-bench-key-0123456789"
V1_BODY = json.dumps({"instances": [[0.1] * 64]}).encode()
V2_BODY = json.dumps(
    {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": [0.1] * 64}]}
).encode()


#: One model per backend kind, 64 float inputs, two outputs (as the demo MLPs).
_IO: dict[str, Any] = {
    "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
    "outputs": [
        {"name": "probabilities", "dtype": "float32", "shape": [-1, 10]},
        {"name": "label", "dtype": "int64", "shape": [-1]},
    ],
    "versions": [1],
    "default_version": 1,
    "max_batch_size": 8,
}
ROUTES: dict[str, Any] = {
    "schema_version": 1,
    "backends": {
        "tfserving": {"kind": "tfserving", "rest_url": "http://127.0.0.1:9"},
        "torchserve": {"kind": "torchserve", "rest_url": "http://127.0.0.1:9"},
    },
    "models": {
        "digits_mlp_tf": {
            "framework": "tensorflow",
            "backend": "tfserving",
            "upstream_name": "digits_mlp_tf",
            **_IO,
        },
        "digits_mlp_torch": {
            "framework": "pytorch",
            "backend": "torchserve",
            "upstream_name": "digits_mlp_torch",
            **_IO,
        },
    },
}


class InstantBackend:
    """Answers every inference at once with fixed outputs: only the gateway's cost is left."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._outputs: dict[str, np.ndarray] = {
            "probabilities": np.full((1, 10), 0.1, np.float32),
            "label": np.zeros((1,), np.int64),
        }

    async def infer(self, call: Any) -> Any:
        from gateway.backends.base import InferResult

        return InferResult(dict(self._outputs), call.version)

    async def metadata(self, route: Any, version: int, timeout_s: float) -> Any:
        from gateway.backends.base import route_metadata

        return route_metadata(route, "instant")

    async def ready(self, route: Any, version: int, timeout_s: float) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def tandem_app() -> Any:
    """The gateway app of the tree on ``PYTHONPATH``, over instant in-process backends."""
    from pydantic import SecretStr

    from gateway.app import create_app
    from gateway.route_table import RouteTable
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(api_keys=[SecretStr(KEY)], access_log=False, routes_reload_s=0)
    table = RouteTable.model_validate(ROUTES)
    backends = {name: InstantBackend(name) for name in ROUTES["backends"]}
    return create_app(settings, table=table, backends=backends)


def fastapi_routes_app() -> Any:
    """For a tree before the one-dispatcher change (main at 5a6cd74, whose app put a lean path
    ``HotPath`` ahead of FastAPI): that path switched off, so inference goes through FastAPI's
    own routes, dependencies and middleware stack. The figure behind the choice of plain
    Starlette routes; meaningless on later trees."""
    app = tandem_app()
    stack = app.build_middleware_stack()  # GatewayMiddleware(HotPath(FastAPI's stack))
    stack.app = stack.app.app  # GatewayMiddleware(FastAPI's stack): FastAPI routes all
    app.build_middleware_stack = lambda: stack
    return app


async def _drive(app: Any, path: str, body: bytes, n: int) -> float:
    """CPU seconds for ``n`` POSTs of ``body`` to ``path`` (after a warm-up)."""
    headers = [
        (b"host", b"gateway"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {KEY}".encode()),
    ]
    statuses: list[int] = []

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": list(headers),
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await app(scope, receive, send)

    for _ in range(200):
        await one()
    statuses.clear()
    started = time.process_time()
    for _ in range(n):
        await one()
    spent = time.process_time() - started
    bad = [s for s in statuses if s != 200]
    if bad:
        raise SystemExit(f"{path}: {len(bad)} answers were not 200 (first {bad[0]})")
    return spent


def measure(factory: str, n: int) -> dict[str, float]:
    """µs of CPU per request for v1 and v2 JSON inference through ``factory``'s app."""
    module, _, name = factory.rpartition(":")
    build: Callable[[], Any] = getattr(importlib.import_module(module), name)
    app = build()
    loop = asyncio.new_event_loop()
    try:
        return {
            "v1_us": loop.run_until_complete(
                _drive(app, "/v1/models/digits_mlp_tf:predict", V1_BODY, n)
            )
            / n
            * 1e6,
            "v2_us": loop.run_until_complete(
                _drive(app, "/v2/models/digits_mlp_torch/infer", V2_BODY, n)
            )
            / n
            * 1e6,
        }
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", action="append", default=[], help="label=tree:module:fn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000, help="requests per round and path")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # module:fn, in a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.n)))
        return
    results: dict[str, list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for spec in args.variant:
            label, _, rest = spec.partition("=")
            tree, _, factory = rest.partition(":")
            load = os.getloadavg()[0]
            env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
            out = subprocess.run(
                [sys.executable, "-m", "bench.dispatch", "--one", factory, "-n", str(args.n)],
                cwd=os.path.abspath(tree),
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            results.setdefault(label, []).append(figures)
            print(
                f"round {r + 1} {label:>12}: v1 {figures['v1_us']:7.1f} us  "
                f"v2 {figures['v2_us']:7.1f} us  (load {load:.2f})",
                flush=True,
            )
    print("median CPU per request (in-process, no sockets):")
    for label, rows in results.items():
        v1 = statistics.median(row["v1_us"] for row in rows)
        v2 = statistics.median(row["v2_us"] for row in rows)
        print(f"  {label:>12}: v1 JSON {v1:7.1f} us   v2 JSON {v2:7.1f} us")


if __name__ == "__main__":
    main()
