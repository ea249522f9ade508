"""What a load test can aim at: each backend directly (REST, gRPC) and the gateway (v1 JSON,
v2 JSON, v2 binary; gRPC: OIP v2 with raw contents, TF Serving ``Predict`` with
``tensor_content``), for one model, with a request body built from the model's input spec.

Who calls it: :mod:`tandem.loadtest.runner`. Endpoints come from the build directory's route
table (``config/routes.json``: the ``make up`` stack) unless overridden by URL, so the same
sweep runs against the compose stack or a cluster (``--gateway URL`` and backend URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import numpy as np
import orjson

from gateway.route_table import ModelRoute, RouteTable, load_route_table
from tandem.errors import TandemError
from tandem.loadtest.clients import Client, grpc_client, http_client
from tandem.loadtest.payloads import sample_inputs, v1_body, v2_body

Path_ = Literal[
    "direct-rest",
    "direct-grpc",
    "gateway-v1",
    "gateway-v2-json",
    "gateway-v2-binary",
    "gateway-grpc-v2",
    "gateway-grpc-tfs",
]
PATHS: tuple[Path_, ...] = (
    "direct-rest",
    "direct-grpc",
    "gateway-v1",
    "gateway-v2-json",
    "gateway-v2-binary",
    "gateway-grpc-v2",
    "gateway-grpc-tfs",
)
GATEWAY_GRPC: tuple[Path_, ...] = ("gateway-grpc-v2", "gateway-grpc-tfs")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LoadTestError(TandemError):
    """A load test that cannot run as asked (missing endpoint, unknown model)."""


@dataclass(frozen=True)
class Endpoints:
    """Where each server answers; ``None`` leaves the paths through it out."""

    gateway: str | None = None
    gateway_grpc: str | None = None
    api_key: str | None = None
    tfserving_rest: str | None = None
    tfserving_grpc: str | None = None
    torchserve_rest: str | None = None
    torchserve_grpc: str | None = None
    torchserve_token: str | None = None

    def non_loopback(self) -> list[str]:
        """Hosts that are not this machine (the CLI refuses them unless told otherwise)."""
        hosts = []
        for url in (self.gateway, self.tfserving_rest, self.torchserve_rest):
            if url and urlsplit(url).hostname not in LOOPBACK:
                hosts.append(str(urlsplit(url).hostname))
        for target in (self.tfserving_grpc, self.torchserve_grpc, self.gateway_grpc):
            if target and urlsplit(f"//{target}").hostname not in LOOPBACK:
                hosts.append(str(urlsplit(f"//{target}").hostname))
        return hosts


def endpoints_from_build(
    out: Path, gateway_port: int, gateway_grpc_port: int | None = None, **overrides: str | None
) -> Endpoints:
    """The ``make up`` stack's endpoints (routes.json, ``run/api_key``, TorchServe's key
    file), with any non-``None`` override applied."""
    table = _table(out)
    found: dict[str, str | None] = {"gateway": f"http://127.0.0.1:{gateway_port}"}
    if gateway_grpc_port is not None:
        found["gateway_grpc"] = f"127.0.0.1:{gateway_grpc_port}"
    key_file = out / "run" / "api_key"
    found["api_key"] = key_file.read_text().strip() if key_file.exists() else None
    for backend in table.backends.values():
        prefix = backend.kind
        found[f"{prefix}_rest"] = backend.rest_url
        found[f"{prefix}_grpc"] = backend.grpc_target
        if backend.kind == "torchserve" and backend.token_file and backend.token_file.exists():
            keys = orjson.loads(backend.token_file.read_bytes())
            found["torchserve_token"] = keys.get("inference", {}).get("key")
    found.update({k: v for k, v in overrides.items() if v is not None})
    return Endpoints(**found)


def _table(out: Path) -> RouteTable:
    path = out / "config" / "routes.json"
    if not path.exists():
        raise LoadTestError(f"{path} not found: export first (`tandem export` or `make up`)")
    return load_route_table(path)


def models_from_build(out: Path) -> dict[str, ModelRoute]:
    """Every model of the route table, with its backend kind in ``backend``."""
    table = _table(out)
    return {
        name: route.model_copy(update={"backend": table.backends[route.backend].kind})
        for name, route in table.models.items()
    }


def twin_variants(out: Path, twin: str) -> list[str]:
    """The models that serve ``twin`` (its variants), for a run comparing them."""
    twins = _table(out).twins
    if twin not in twins:
        raise LoadTestError(f"no twin {twin!r} in the route table (twins: {sorted(twins)})")
    return list(twins[twin].variants)


@dataclass(frozen=True)
class Target:
    """One model over one path; ``open`` makes the client that sends its request."""

    model: str
    backend: str  # "tfserving" | "torchserve"
    path: Path_
    route: ModelRoute
    endpoints: Endpoints

    @property
    def name(self) -> str:
        return f"{self.model} {self.path}"

    @property
    def labels(self) -> dict[str, str]:
        return {"model": self.model, "backend": self.backend, "path": self.path}

    def open(self, timeout_s: float) -> Client:
        arrays = sample_inputs(self.route)
        version = self.route.default_version
        e = self.endpoints
        upstream = self.route.upstream_name
        if self.path in GATEWAY_GRPC:
            return self._gateway_grpc(arrays, timeout_s)
        if self.path.startswith("gateway"):
            if not e.gateway:
                raise LoadTestError("no gateway URL (--gateway)")
            headers = {"Content-Type": "application/json"}
            if e.api_key:
                headers["X-API-Key"] = e.api_key
            if self.path == "gateway-v1":
                url = f"{e.gateway}/v1/models/{self.model}:predict"
                return http_client(url, v1_body(arrays), headers, timeout_s)
            url = f"{e.gateway}/v2/models/{self.model}/infer"
            body, content = v2_body(arrays, binary=self.path == "gateway-v2-binary")
            return http_client(url, body, {**headers, **content}, timeout_s)
        if self.backend == "tfserving":
            return self._tfserving(arrays, version, upstream, timeout_s)
        return self._torchserve(arrays, version, upstream, timeout_s)

    def _gateway_grpc(self, arrays: dict[str, np.ndarray], timeout_s: float) -> Client:
        """The gateway's gRPC front door: OIP v2 ``ModelInfer`` with raw contents, or TF
        Serving ``Predict`` with ``tensor_content`` (the fast forms of each protocol)."""
        e = self.endpoints
        if not e.gateway_grpc:
            raise LoadTestError("no gateway gRPC target (--gateway-grpc)")
        metadata = (("x-api-key", e.api_key),) if e.api_key else ()
        if self.path == "gateway-grpc-tfs":
            from gateway._pb import predict_pb2
            from gateway.codecs.tensor_proto import array_to_tensor_proto

            request = predict_pb2.PredictRequest()
            request.model_spec.name = self.model
            for name, array in arrays.items():
                request.inputs[name].CopyFrom(array_to_tensor_proto(array))
            return grpc_client(
                e.gateway_grpc,
                "/tensorflow.serving.PredictionService/Predict",
                request,
                predict_pb2.PredictResponse,
                metadata,
                timeout_s,
            )
        from gateway._pb import grpc_predict_v2_pb2 as v2
        from wire.dtypes import NAME_TO_V2, name_of
        from wire.v2 import encode_binary_tensor

        infer = v2.ModelInferRequest(model_name=self.model)
        for name, array in arrays.items():
            infer.inputs.add(name=name, datatype=NAME_TO_V2[name_of(array)], shape=array.shape)
            infer.raw_input_contents.append(encode_binary_tensor(array))
        return grpc_client(
            e.gateway_grpc,
            "/inference.GRPCInferenceService/ModelInfer",
            infer,
            v2.ModelInferResponse,
            metadata,
            timeout_s,
        )

    def _tfserving(
        self, arrays: dict[str, np.ndarray], version: int, upstream: str, timeout_s: float
    ) -> Client:
        e = self.endpoints
        if self.path == "direct-rest":
            if not e.tfserving_rest:
                raise LoadTestError("no TF Serving REST URL (--tfserving-rest)")
            url = f"{e.tfserving_rest}/v1/models/{upstream}/versions/{version}:predict"
            return http_client(
                url, v1_body(arrays), {"Content-Type": "application/json"}, timeout_s
            )
        if not e.tfserving_grpc:
            raise LoadTestError("no TF Serving gRPC target (--tfserving-grpc)")
        from gateway._pb import predict_pb2
        from gateway.codecs.tensor_proto import array_to_tensor_proto

        request = predict_pb2.PredictRequest()
        request.model_spec.name = upstream
        request.model_spec.version.value = version
        if self.route.signature_name:
            request.model_spec.signature_name = self.route.signature_name
        for name, array in arrays.items():
            request.inputs[name].CopyFrom(array_to_tensor_proto(array))
        return grpc_client(
            e.tfserving_grpc,
            "/tensorflow.serving.PredictionService/Predict",
            request,
            predict_pb2.PredictResponse,
            (),
            timeout_s,
        )

    def _torchserve(
        self, arrays: dict[str, np.ndarray], version: int, upstream: str, timeout_s: float
    ) -> Client:
        e = self.endpoints
        auth = {"Authorization": f"Bearer {e.torchserve_token}"} if e.torchserve_token else {}
        if self.path == "direct-rest":
            if not e.torchserve_rest:
                raise LoadTestError("no TorchServe REST URL (--torchserve-rest)")
            url = f"{e.torchserve_rest}/predictions/{upstream}/{version}"
            headers = {"Content-Type": "application/json", **auth}
            return http_client(url, v1_body(arrays), headers, timeout_s)
        if not e.torchserve_grpc:
            raise LoadTestError("no TorchServe gRPC target (--torchserve-grpc)")
        from gateway._pb import torchserve_modules

        inference_pb2, _ = torchserve_modules()
        request = inference_pb2.PredictionsRequest(
            model_name=upstream, model_version=str(version), input={"body": v1_body(arrays)}
        )
        metadata = tuple((k.lower(), v) for k, v in auth.items())
        return grpc_client(
            e.torchserve_grpc,
            "/org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions",
            request,
            inference_pb2.PredictionResponse,
            metadata,
            timeout_s,
        )


def grpc_stubs_missing() -> str | None:
    """Why the direct gRPC paths cannot run in this install, or None when they can: their
    request types are the gateway's generated stubs, which a wheel built without
    `python -m gateway.protos.build` (a fresh clone) does not carry."""
    try:
        import gateway._pb  # noqa: F401
    except RuntimeError as exc:  # gateway._pb's own one-line reason
        return str(exc)
    return None


def make_targets(
    routes: dict[str, ModelRoute],
    endpoints: Endpoints,
    models: list[str],
    paths: list[Path_],
) -> list[Target]:
    """Targets for ``models`` x ``paths`` (a path whose server has no endpoint is skipped)."""
    unknown = [m for m in models if m not in routes]
    if unknown:
        raise LoadTestError(f"unknown model(s) {unknown}; known: {sorted(routes)}")
    out = []
    for model in models:
        route = routes[model]
        for path in paths:
            if not _reachable(endpoints, route.backend, path):
                continue
            out.append(Target(model, route.backend, path, route, endpoints))
    return out


def _reachable(e: Endpoints, backend: str, path: Path_) -> bool:
    if path in GATEWAY_GRPC:
        return e.gateway_grpc is not None
    if path.startswith("gateway"):
        return e.gateway is not None
    key = f"{backend}_{'rest' if path == 'direct-rest' else 'grpc'}"
    return getattr(e, key, None) is not None


def default_models(routes: dict[str, ModelRoute]) -> list[str]:
    """One small model per backend (an MLP when there is one: the cheapest to serve, so the
    figures show the serving path) plus every large-input model (JSON vs binary)."""
    picks: dict[str, str] = {}
    large = []
    for name in sorted(routes, key=lambda n: ("mlp" not in n, n)):
        route = routes[name]
        size = 1
        for spec in route.inputs:
            for d in spec.shape:
                size *= max(1, d)
        if size >= 100_000:
            large.append(name)
        elif route.inputs and route.inputs[0].dtype.startswith("float"):
            picks.setdefault(route.backend, name)
    return [picks[b] for b in sorted(picks)] + large
