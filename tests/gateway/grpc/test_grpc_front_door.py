"""The gRPC front door over real gRPC on loopback, against the failure-injecting fake backend:
statuses for bad input, unknown names, keys, limits, deadlines and backend failures; the
metrics count gRPC by protocol; a malformed message never takes the server down. Clients are
the real ``tensorflow_serving.apis`` stubs and, for OIP, the gateway's own wire-identical
messages (the unmodified ``tritonclient.grpc`` runs in tests/gateway/integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from gateway_testkit import API_KEY

from gateway._pb import grpc_predict_v2_pb2 as v2
from gateway._pb import grpc_predict_v2_pb2_grpc as v2_grpc
from gateway.app import create_app
from gateway.errors import BackendUnavailable
from gateway.settings import GatewaySettings

tfs_predict = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
tfs_service = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
tfs_models = pytest.importorskip("tensorflow_serving.apis.model_service_pb2_grpc")
tfs_status = pytest.importorskip("tensorflow_serving.apis.get_model_status_pb2")
tfs_meta = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2")
tf_tensor_util = pytest.importorskip("tensorflow.core.framework.tensor_pb2")

# grpc.aio objects belong to the loop that made them: fixtures and tests share one.
pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = (("x-api-key", API_KEY),)


class Gateway:
    def __init__(self, app: Any, channel: Any) -> None:
        self.app = app
        self.channel = channel
        self.v2 = v2_grpc.GRPCInferenceServiceStub(channel)
        self.tfs = tfs_service.PredictionServiceStub(channel)
        self.models = tfs_models.ModelServiceStub(channel)

    def metric(self, protocol: str, status: str) -> float:
        value = self.app.state.gateway.metrics.registry.get_sample_value(
            "tandem_gateway_requests_total",
            {
                "model": "digits_mlp_torch",
                "version": "1",
                "backend": "torchserve",
                "protocol": protocol,
                "status": status,
            },
        )
        return float(value or 0.0)


@pytest.fixture
def grpc_settings(settings: GatewaySettings) -> GatewaySettings:
    return settings.model_copy(
        update={"grpc_port": 0, "grpc_max_message_bytes": 1 << 20, "rate_limit_burst": 50}
    )


@pytest.fixture
async def gateway(route_table, fakes, grpc_settings) -> AsyncIterator[Gateway]:
    app = create_app(grpc_settings, table=route_table, backends=fakes)
    async with app.router.lifespan_context(app):
        port = app.state.grpc_port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Gateway(app, channel)


def _v2_request(model: str, rows: int = 2, *, raw: bool = False, **kw: Any) -> Any:
    pixels = np.arange(rows * 64, dtype=np.float32).reshape(rows, 64) / 100
    request = v2.ModelInferRequest(model_name=model, **kw)
    tensor = request.inputs.add(name="pixels", datatype="FP32", shape=[rows, 64])
    if raw:
        request.raw_input_contents.append(pixels.tobytes())
    else:
        tensor.contents.fp32_contents.extend(pixels.reshape(-1).tolist())
    return request, pixels


def _tfs_request(model: str, array: np.ndarray) -> Any:
    request = tfs_predict.PredictRequest()
    request.model_spec.name = model
    proto = request.inputs["pixels"]
    proto.dtype = 1
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    proto.tensor_content = array.astype("<f4").tobytes()
    return request


async def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


async def test_v2_typed_and_raw_infer_exact(gateway: Gateway, fakes) -> None:
    from gateway_testkit import predict_digits

    for raw in (False, True):
        request, pixels = _v2_request("digits_mlp_torch", raw=raw, id="req-1")
        response = await gateway.v2.ModelInfer(request, metadata=KEY, timeout=10)
        want = predict_digits({"pixels": pixels})
        assert response.model_name == "digits_mlp_torch"
        assert response.model_version == "1"
        assert response.id == "req-1"
        assert [o.name for o in response.outputs] == ["probabilities", "label"]
        assert bool(response.raw_output_contents) is raw
        if raw:
            probs = np.frombuffer(response.raw_output_contents[0], "<f4").reshape(2, 10)
            label = np.frombuffer(response.raw_output_contents[1], "<i8")
        else:
            probs = np.asarray(response.outputs[0].contents.fp32_contents, np.float32)
            label = np.asarray(response.outputs[1].contents.int64_contents)
        np.testing.assert_array_equal(probs.reshape(2, 10), want["probabilities"])
        np.testing.assert_array_equal(label, want["label"])
    # The raw request reached the TorchServe adapter as the client's bytes (v2 binary body).
    body, header_length = fakes["torchserve"].calls[-1].v2_body
    assert body[header_length:] == pixels.tobytes()
    assert gateway.metric("v2-grpc", "200") == 2


async def test_v2_requested_output_version_and_label(gateway: Gateway, fakes) -> None:
    request, _ = _v2_request("digits_mlp_tf", model_version="canary")
    request.outputs.add(name="label")
    response = await gateway.v2.ModelInfer(request, metadata=KEY, timeout=10)
    assert response.model_version == "2"
    assert [o.name for o in response.outputs] == ["label"]
    assert fakes["tfserving"].calls[-1].output_names == ("label",)
    request, _ = _v2_request("digits_mlp_tf", model_version="1")
    assert (await gateway.v2.ModelInfer(request, metadata=KEY, timeout=10)).model_version == "1"


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (lambda r: setattr(r, "model_name", "nope"), grpc.StatusCode.NOT_FOUND, "'nope' not found"),
        (
            lambda r: setattr(r, "model_version", "7"),
            grpc.StatusCode.NOT_FOUND,
            "has no version 7",
        ),
        (
            lambda r: setattr(r, "model_version", "beta"),
            grpc.StatusCode.NOT_FOUND,
            "no version or label 'beta'",
        ),
        (
            lambda r: setattr(r.inputs[0], "datatype", "INT32"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expects int_contents",
        ),
        (
            lambda r: r.inputs[0].shape.__setitem__(0, 3),
            grpc.StatusCode.INVALID_ARGUMENT,
            "needs 192 values",
        ),
        (
            lambda r: setattr(r.inputs[0], "name", "image"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown input 'image'",
        ),
        (
            lambda r: r.outputs.add(name="logits"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown output 'logits'",
        ),
        (
            lambda r: setattr(r.inputs[0], "datatype", "FP99"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unsupported datatype",
        ),
    ],
)
async def test_v2_errors(gateway: Gateway, change, code, text) -> None:
    request, _ = _v2_request("digits_mlp_torch")
    change(request)
    got, details = await _code(gateway.v2.ModelInfer(request, metadata=KEY, timeout=10))
    assert got == code
    assert text in details


async def test_raw_size_mismatch_and_huge_shape(gateway: Gateway) -> None:
    request, _ = _v2_request("digits_mlp_torch", raw=True)
    request.raw_input_contents[0] = b"\x00" * 12
    code, details = await _code(gateway.v2.ModelInfer(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not match shape" in details
    request, _ = _v2_request("digits_mlp_torch")
    request.inputs[0].shape[:] = [1 << 40, 64]
    code, details = await _code(gateway.v2.ModelInfer(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "message limit" in details


async def test_keys(gateway: Gateway) -> None:
    request, _ = _v2_request("digits_mlp_torch")
    code, details = await _code(gateway.v2.ModelInfer(request, timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "API key" in details
    wrong = (("authorization", "Bearer not-the-key"),)
    code, _ = await _code(gateway.v2.ModelInfer(request, metadata=wrong, timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    bearer = (("authorization", f"Bearer {API_KEY}"),)
    assert (await gateway.v2.ModelInfer(request, metadata=bearer, timeout=10)).outputs
    # Liveness needs no key, like /v2/health/live.
    assert (await gateway.v2.ServerLive(v2.ServerLiveRequest(), timeout=10)).live
    registry = gateway.app.state.gateway.metrics.registry
    labels = {"model": "_unknown", "version": "", "backend": "", "protocol": "v2-grpc"}
    assert (
        registry.get_sample_value("tandem_gateway_requests_total", {**labels, "status": "401"}) == 2
    )


async def test_rate_limit(route_table, fakes, grpc_settings) -> None:
    limited = grpc_settings.model_copy(update={"rate_limit_per_s": 0.001, "rate_limit_burst": 1})
    app = create_app(limited, table=route_table, backends=fakes)
    async with app.router.lifespan_context(app):  # noqa: SIM117 - the port is known inside
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as channel:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            request, _ = _v2_request("digits_mlp_torch")
            await stub.ModelInfer(request, metadata=KEY, timeout=10)
            code, details = await _code(stub.ModelInfer(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit" in details


async def test_deadline_caps_the_backend_call(gateway: Gateway, fakes) -> None:
    fakes["tfserving"].delay_s = 2.0
    request = _tfs_request("digits_mlp_tf", np.zeros((1, 64), np.float32))
    code, _ = await _code(gateway.tfs.Predict(request, metadata=KEY, timeout=0.3))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    # The backend was told the client's deadline, not the route's 5 s. gRPC carries the
    # deadline as a remaining duration, re-based on the server's clock, so what the server sees
    # can be a hair over 0.3 s (0.3004 seen): the bound only tells 0.3 s from 5 s.
    assert fakes["tfserving"].calls[-1].timeout_s < 1.0


async def test_backend_down_is_unavailable(gateway: Gateway, fakes) -> None:
    fakes["torchserve"].fail_with = BackendUnavailable("torchserve is unavailable: refused")
    fakes["torchserve"].fail_times = -1
    request, _ = _v2_request("digits_mlp_torch")
    code, details = await _code(gateway.v2.ModelInfer(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "unavailable" in details


async def test_malformed_message_is_invalid_not_a_crash(gateway: Gateway) -> None:
    garbage = gateway.channel.unary_unary(
        "/inference.GRPCInferenceService/ModelInfer",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await garbage(b"\xff\xff\xff\xff\x0f", metadata=KEY, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid inference.ModelInferRequest" in (info.value.details() or "")
    # The server still serves.
    assert (await gateway.v2.ServerLive(v2.ServerLiveRequest(), timeout=10)).live


async def test_tfs_predict_status_metadata(gateway: Gateway) -> None:
    from gateway_testkit import predict_digits

    array = np.linspace(0, 1, 128, dtype=np.float32).reshape(2, 64)
    request = _tfs_request("digits_mlp_torch", array)
    request.output_filter.append("probabilities")
    response = await gateway.tfs.Predict(request, metadata=KEY, timeout=10)
    assert list(response.outputs) == ["probabilities"]
    got = np.frombuffer(response.outputs["probabilities"].tensor_content, "<f4").reshape(2, 10)
    np.testing.assert_array_equal(got, predict_digits({"pixels": array})["probabilities"])
    assert response.model_spec.name == "digits_mlp_torch"
    assert response.model_spec.version.value == 1
    assert gateway.metric("tfs-grpc", "200") == 1
    # The status page splits each model's requests by protocol.
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        report = (await client.get("/ui/status", headers={"X-API-Key": API_KEY})).json()
    (torch,) = [m for m in report["models"] if m["name"] == "digits_mlp_torch"]
    assert torch["by_protocol"] == {"tfs-grpc": 1}

    status = await gateway.models.GetModelStatus(
        tfs_status.GetModelStatusRequest(model_spec={"name": "digits_mlp_tf"}),
        metadata=KEY,
        timeout=10,
    )
    assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30), (2, 30)]
    missing = tfs_status.GetModelStatusRequest(model_spec={"name": "digits_mlp_tf"})
    missing.model_spec.version.value = 5
    code, details = await _code(gateway.models.GetModelStatus(missing, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.NOT_FOUND
    assert details == "Could not find version 5 of model digits_mlp_tf"

    meta_request = tfs_meta.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta_request.model_spec.name = "digits_mlp_tf"
    meta_request.model_spec.version_label = "canary"
    meta = await gateway.tfs.GetModelMetadata(meta_request, metadata=KEY, timeout=10)
    assert meta.model_spec.version.value == 2
    sigmap = tfs_meta.SignatureDefMap()
    assert meta.metadata["signature_def"].Unpack(sigmap)
    sig = sigmap.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert [d.size for d in sig.inputs["pixels"].tensor_shape.dim] == [-1, 64]


@pytest.mark.parametrize(
    ("spec", "code", "text"),
    [
        (
            {"name": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            {"name": "digits_mlp_tf", "version": {"value": 9}},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(digits_mlp_tf, 9)",
        ),
        (
            {"name": "digits_mlp_tf", "version_label": "gold"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: gold",
        ),
        ({"name": ""}, grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            {"name": "digits_mlp_tf", "signature_name": "other"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "serves signature 'serving_default'",
        ),
    ],
)
async def test_tfs_errors(gateway: Gateway, spec, code, text) -> None:
    request = _tfs_request("x", np.zeros((1, 64), np.float32))
    request.model_spec.Clear()
    request.model_spec.MergeFrom(tfs_predict.PredictRequest(model_spec=spec).model_spec)
    got, details = await _code(gateway.tfs.Predict(request, metadata=KEY, timeout=10))
    assert got == code
    assert text in details


async def test_tfs_bad_tensor(gateway: Gateway) -> None:
    request = _tfs_request("digits_mlp_tf", np.zeros((1, 64), np.float32))
    request.inputs["pixels"].tensor_content = b"\x00" * 7
    code, details = await _code(gateway.tfs.Predict(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "pixels" in details
    request.inputs["pixels"].dtype = 1234
    code, _ = await _code(gateway.tfs.Predict(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_tfs_classify_forwards_examples_exactly(gateway: Gateway, fakes) -> None:
    classification = pytest.importorskip("tensorflow_serving.apis.classification_pb2")
    regression = pytest.importorskip("tensorflow_serving.apis.regression_pb2")
    seen: list[dict[str, Any]] = []
    answer = fakes["tfserving"].examples

    async def record(call: Any) -> dict[str, Any]:
        seen.append(call.body)
        return await answer(call)

    fakes["tfserving"].examples = record
    request = classification.ClassificationRequest()
    request.model_spec.name = "digits_mlp_tf"
    request.model_spec.signature_name = "classify_sig"
    listed = request.input.example_list_with_context
    listed.context.features.feature["country"].bytes_list.value.append(b"\xffno-utf8")
    example = listed.examples.add()
    example.features.feature["age"].int64_list.value.extend([7, -3])
    example.features.feature["height"].float_list.value.append(1.25)
    response = await gateway.tfs.Classify(request, metadata=KEY, timeout=10)
    assert seen == [
        {
            "context": {"country": [{"b64": "/25vLXV0Zjg="}]},
            "examples": [{"age": [7, -3], "height": [1.25]}],
            "signature_name": "classify_sig",
        }
    ]
    (row,) = response.result.classifications
    assert [(c.label, round(c.score, 6)) for c in row.classes] == [("0", 0.9), ("1", 0.1)]
    assert response.model_spec.signature_name == "classify_sig"

    # A signature without the method, and a PyTorch model: INVALID_ARGUMENT, as TF Serving.
    regress = regression.RegressionRequest()
    regress.model_spec.name = "digits_mlp_tf"
    regress.model_spec.signature_name = "classify_sig"
    regress.input.example_list.examples.add()
    code, details = await _code(gateway.tfs.Regress(regress, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not support :regress" in details
    request.model_spec.name = "digits_mlp_torch"
    code, _ = await _code(gateway.tfs.Classify(request, metadata=KEY, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    empty = classification.ClassificationRequest(model_spec={"name": "digits_mlp_tf"})
    code, details = await _code(gateway.tfs.Classify(empty, metadata=KEY, timeout=10))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
