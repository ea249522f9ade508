"""Helpers shared by the gateway tests (imported by module name: tests/gateway is on the
test path): the route table, the failure-injecting fake backend, sample inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.backends.base import (
    InferCall,
    InferResult,
    ModelMetadata,
    Signature,
    route_metadata,
)
from gateway.errors import GatewayError, UnsupportedSignature, UpstreamRejected
from gateway.route_table import ModelRoute

API_KEY = "test-key-0123456789abcdef"

_IO = {
    "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 64]}],
    "outputs": [
        {"name": "probabilities", "dtype": "float32", "shape": [-1, 10]},
        {"name": "label", "dtype": "int64", "shape": [-1]},
    ],
}

ROUTES: dict[str, Any] = {
    "schema_version": 1,
    "backends": {
        "tfserving": {
            "kind": "tfserving",
            "grpc_target": "127.0.0.1:1",
            "rest_url": "http://127.0.0.1:1",
        },
        "torchserve": {
            "kind": "torchserve",
            "grpc_target": "127.0.0.1:1",
            "rest_url": "http://127.0.0.1:1",
            "token_file": "/nonexistent",
        },
    },
    "models": {
        "digits_mlp_tf": {
            "framework": "tensorflow",
            "backend": "tfserving",
            "upstream_name": "digits_mlp_tf",
            "versions": [1, 2],
            "default_version": 1,
            "labels": {"stable": 1, "canary": 2},
            "signature_name": "serving_default",
            "max_batch_size": 32,
            "timeout_ms": 5000,
            "extra_key_is_tolerated": True,
            **_IO,
        },
        "digits_cnn_tf": {
            "framework": "tensorflow",
            "backend": "tfserving",
            "upstream_name": "digits_cnn_tf",
            "versions": [1],
            "default_version": 1,
            "labels": {"stable": 1},
            "signature_name": "serving_default",
            "inputs": [{"name": "image", "dtype": "float32", "shape": [-1, 8, 8, 1]}],
            "outputs": _IO["outputs"],
            "max_batch_size": 32,
            "timeout_ms": 5000,
        },
        "digits_mlp_torch": {
            "framework": "pytorch",
            "backend": "torchserve",
            "upstream_name": "digits_mlp_torch",
            "versions": [1],
            "default_version": 1,
            "labels": {"stable": 1},
            "signature_name": None,
            "max_batch_size": 8,
            "timeout_ms": 300,
            **_IO,
        },
    },
}


def predict_digits(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A deterministic stand-in model: softmax over the first ten features."""
    (array,) = inputs.values()
    flat = array.reshape(array.shape[0], -1)[:, :10].astype(np.float32)
    exp = np.exp(flat - flat.max(axis=1, keepdims=True))
    probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return {"probabilities": probabilities, "label": probabilities.argmax(axis=1).astype(np.int64)}


@dataclass
class FakeBackend:
    """Implements the adapter interface; only for failure injection (see STYLE 13)."""

    name: str
    delay_s: float = 0.0
    fail_with: GatewayError | None = None
    fail_times: int = 0
    ready_value: bool = True
    calls: list[InferCall] = field(default_factory=list)
    hook: Callable[[InferCall], None] | None = None
    closed: bool = False
    gate: asyncio.Event | None = None
    """When set, every inference waits here until the test releases it (a backend that
    holds requests, for admission-control tests)."""

    async def infer(self, call: InferCall) -> InferResult:
        self.calls.append(call)
        if self.hook is not None:
            self.hook(call)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None and self.fail_times != 0:
            self.fail_times -= 1
            raise self.fail_with
        # Like a model's own ops (TF Serving checks no shapes itself): a misfit is refused.
        for spec in call.route.inputs:
            got = call.inputs[spec.name].shape
            if len(got) != len(spec.shape) or any(
                w >= 0 and w != g for w, g in zip(spec.shape, got, strict=True)
            ):
                raise UpstreamRejected(f"Matrix size-incompatible: In[0]: {list(got)}")
        outputs = predict_digits(call.inputs)
        if call.output_names:
            outputs = {k: v for k, v in outputs.items() if k in call.output_names}
        return InferResult(outputs, call.version)

    async def metadata(self, route: ModelRoute, version: int, timeout_s: float) -> ModelMetadata:
        if self.fail_with is not None and self.fail_times != 0:
            raise self.fail_with
        meta = route_metadata(route, f"fake_{self.name}")
        if route.framework == "tensorflow":
            signatures = dict(meta.signatures)
            signatures["classify_sig"] = Signature(
                "tensorflow/serving/classify", route.inputs, route.outputs
            )
            return ModelMetadata(meta.platform, meta.default_signature, signatures)
        return meta

    async def ready(self, route: ModelRoute, version: int, timeout_s: float) -> bool:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.ready_value

    async def examples(self, call):
        if call.route.framework != "tensorflow":
            raise UnsupportedSignature("not a TensorFlow model")
        return {"results": [[["0", 0.9], ["1", 0.1]] for _ in call.body["examples"]]}

    async def aclose(self) -> None:
        self.closed = True


def pixels(batch: int = 2) -> list[list[float]]:
    rng = np.random.default_rng(0)
    return rng.random((batch, 64), dtype=np.float32).round(4).tolist()
