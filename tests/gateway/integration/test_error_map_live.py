"""The error tables against the real servers: what TF Serving and TorchServe send for an
unknown model and for input the model refuses, over gRPC and REST, through the adapters.

TorchServe 0.12's gRPC API answers an unknown model with INTERNAL and names
``ModelNotFoundException`` in the details (a row of ``error_map.GRPC_ROWS``); its REST API
answers 404. Either way the gateway's error is ``ModelNotReady``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.backends.base import Backend, InferCall
from gateway.backends.tfserving import TFServingBackend
from gateway.backends.torchserve import TorchServeBackend
from gateway.errors import GatewayError, ModelNotReady, UpstreamRejected
from gateway.route_table import load_route_table

pytestmark = pytest.mark.integration

MODELS = {"tfserving": "digits_mlp_tf", "torchserve": "digits_mlp_torch"}


async def _infer(
    routes_file: Path, kind: str, grpc: bool, upstream: str, inputs: dict[str, np.ndarray]
) -> GatewayError:
    """The error the adapter of `kind` raises for one inference of `upstream` (the routed
    TorchServe backend reads its token from the stack's key file, as the gateway does)."""
    table = load_route_table(routes_file)
    route = table.models[MODELS[kind]].model_copy(update={"upstream_name": upstream})
    config = table.backends[kind]
    backend: Backend = (
        TFServingBackend(kind, config, prefer_grpc=grpc)
        if kind == "tfserving"
        else TorchServeBackend(kind, config, prefer_grpc=grpc)
    )
    call = InferCall(route, 1, inputs, None, "error-map-live", timeout_s=30.0)
    try:
        with pytest.raises(GatewayError) as info:
            await backend.infer(call)
    finally:
        await backend.aclose()
    return info.value


@pytest.mark.parametrize("grpc", [True, False], ids=["grpc", "rest"])
@pytest.mark.parametrize("kind", ["tfserving", "torchserve"])
async def test_unknown_model_is_model_not_ready(live_stack, kind: str, grpc: bool) -> None:
    pixels = {"pixels": np.zeros((1, 64), np.float32)}
    error = await _infer(live_stack.routes_file, kind, grpc, "no_such_model", pixels)
    assert isinstance(error, ModelNotReady), (type(error), error.message)


@pytest.mark.parametrize("grpc", [True, False], ids=["grpc", "rest"])
@pytest.mark.parametrize("kind", ["tfserving", "torchserve"])
async def test_input_the_model_refuses_is_upstream_rejected(
    live_stack, kind: str, grpc: bool
) -> None:
    # The gateway's own validation is skipped here: the adapter sends what it is given.
    wrong = {"pixels": np.zeros((1, 63), np.float32)}
    error = await _infer(live_stack.routes_file, kind, grpc, MODELS[kind], wrong)
    assert isinstance(error, UpstreamRejected), (type(error), error.message)
