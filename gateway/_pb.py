"""Typed-as-``Any`` access to the generated protobuf/gRPC modules in ``gateway._generated``.

The stubs are produced by ``python -m gateway.protos.build`` (git-ignored, excluded from
mypy); importing them through :func:`importlib.import_module` keeps the strict type check of
the gateway independent of generated code. Nothing here imports TensorFlow or TorchServe.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


def _load(name: str) -> Any:
    try:
        module: ModuleType = importlib.import_module(f"gateway._generated.{name}")
    except ModuleNotFoundError as exc:  # pragma: no cover - build step missing
        raise RuntimeError(
            "gateway protobuf stubs are missing; run `python -m gateway.protos.build`"
        ) from exc
    return module


tensor_pb2: Any = _load("tensorflow.core.framework.tensor_pb2")
tensor_shape_pb2: Any = _load("tensorflow.core.framework.tensor_shape_pb2")
model_pb2: Any = _load("tensorflow_serving.apis.model_pb2")
predict_pb2: Any = _load("tensorflow_serving.apis.predict_pb2")
get_model_metadata_pb2: Any = _load("tensorflow_serving.apis.get_model_metadata_pb2")
get_model_status_pb2: Any = _load("tensorflow_serving.apis.get_model_status_pb2")
prediction_service_pb2: Any = _load("tensorflow_serving.apis.prediction_service_pb2")
model_service_pb2: Any = _load("tensorflow_serving.apis.model_service_pb2")
prediction_service_pb2_grpc: Any = _load("tensorflow_serving.apis.prediction_service_pb2_grpc")
model_service_pb2_grpc: Any = _load("tensorflow_serving.apis.model_service_pb2_grpc")
classification_pb2: Any = _load("tensorflow_serving.apis.classification_pb2")
regression_pb2: Any = _load("tensorflow_serving.apis.regression_pb2")
input_pb2: Any = _load("tensorflow_serving.apis.input_pb2")
meta_graph_pb2: Any = _load("tensorflow.core.protobuf.meta_graph_pb2")
example_pb2: Any = _load("tensorflow.core.example.example_pb2")
grpc_predict_v2_pb2: Any = _load("inference.grpc_predict_v2_pb2")
grpc_predict_v2_pb2_grpc: Any = _load("inference.grpc_predict_v2_pb2_grpc")


def torchserve_modules() -> tuple[Any, Any]:
    """``(inference_pb2, inference_pb2_grpc)`` of TorchServe, extracted from its jar at build
    time; raises ``RuntimeError`` when TorchServe was not installed at build time."""
    return _load("torchserve.inference_pb2"), _load("torchserve.inference_pb2_grpc")
