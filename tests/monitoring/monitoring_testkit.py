"""Helpers shared by the monitoring tests (imported by module name, as tests/gateway does with
gateway_testkit: every test folder's conftest is a module named ``conftest``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from gateway.backends.base import InferCall, InferResult, ModelMetadata, route_metadata
from gateway.errors import GatewayError
from gateway.route_table import ModelRoute

REPO = Path(__file__).resolve().parents[2]
API_KEY = "monitoring-test-key-0123456789"


def tool(name: str) -> str:
    """Path of a Debian-packaged tool the test needs. A missing one fails the test, naming the
    package (`.ci/run` installs them): CI must not pass without having run the check."""
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: apt-get install -y {_PACKAGES[name]}")
    return exe


_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}


@dataclass
class StandIn:
    """Implements the adapter interface; answers with zeros, or fails as told."""

    name: str
    fail_with: GatewayError | None = None
    ready_value: bool = True
    calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    async def infer(self, call: InferCall) -> InferResult:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        rows = next(iter(call.inputs.values())).shape[0]
        outputs = {
            "probabilities": np.zeros((rows, 10), np.float32),
            "label": np.zeros((rows,), np.int64),
        }
        return InferResult(outputs, call.version)

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        return route_metadata(route, f"stand_in_{self.name}")

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        return self.ready_value

    async def example_method(self, *args: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def concrete(expr: str, rate_interval: str = "1m") -> str:
    """A dashboard query as Grafana sends it with every variable on "All"."""
    return (
        expr.replace("$__rate_interval", rate_interval)
        .replace("$model", ".*")
        .replace("$backend", ".*")
    )


V2_SHAPES = {
    "digits_mlp_tf": (64,),
    "digits_cnn_tf": (8, 8, 1),
    "digits_mlp_torch": (64,),
    "digits_cnn_torch": (1, 8, 8),
    "digits_dynamic_torch": (64,),
}


def send_traffic(live: Any, rounds: int = 10) -> dict[str, int]:
    """Real requests through the live gateway: `rounds` good ones per model (v1 and v2) and
    one naming an unknown input per model (400); returns the status counts."""
    from examples.digits.data import load_split

    x = load_split().x_test[:4]
    counts: dict[str, int] = {}
    headers = {"X-API-Key": live.gateway_api_key}
    with httpx.Client(base_url=live.gateway_url, headers=headers, timeout=30) as client:
        for spec in live.manifest.models:
            model, name = spec.name, spec.inputs[0].name
            if model in V2_SHAPES:  # a digit model: four real held-out digits
                rows = x.reshape(4, *V2_SHAPES[model]).tolist()
            else:  # any other model: one row of zeros of its declared (float32) input
                rows = np.zeros(spec.inputs[0].concrete_shape(1), np.float32).tolist()
            for i in range(rounds):
                if i % 2:
                    r = client.post(f"/v1/models/{model}:predict", json={"instances": rows})
                else:
                    flat = np.asarray(rows, np.float32)
                    body = {
                        "inputs": [
                            {
                                "name": name,
                                "datatype": "FP32",
                                "shape": list(flat.shape),
                                "data": flat.reshape(-1).tolist(),
                            }
                        ]
                    }
                    r = client.post(f"/v2/models/{model}/infer", json=body)
                counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
            # Refused by the gateway itself whatever the backend: an input the model lacks.
            wrong = {
                "inputs": [
                    {"name": "not_an_input", "datatype": "FP32", "shape": [1, 1], "data": [0.0]}
                ]
            }
            bad = client.post(f"/v2/models/{model}/infer", json=wrong)
            counts[str(bad.status_code)] = counts.get(str(bad.status_code), 0) + 1
    return counts
