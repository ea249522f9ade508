"""Unmodified gRPC clients through the gateway to the real TF server and TorchServe (issue 18):
TF Serving's own ``tensorflow_serving.apis`` stubs here, and ``tritonclient.grpc`` in its own
virtualenv (it pins protobuf below this project's), run as a subprocess. Each answer must be
exactly the gateway's REST v2 JSON answer for the same input (float32 text round-trips)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

pytestmark = pytest.mark.integration

tfs_predict = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
tfs_service = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
tfs_models = pytest.importorskip("tensorflow_serving.apis.model_service_pb2_grpc")
tfs_status = pytest.importorskip("tensorflow_serving.apis.get_model_status_pb2")
tfs_meta = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2")
tf_tensor = pytest.importorskip("tensorflow.core.framework.tensor_pb2")

MODELS = {"tfserving": "digits_mlp_tf", "torchserve": "digits_mlp_torch"}
CLIENT = Path(__file__).with_name("triton_grpc_client.py")


def _images(rows: int = 3) -> np.ndarray:
    return np.random.default_rng(18).random((rows, 64), dtype=np.float32)


def _rest_answer(http, model: str, images: np.ndarray) -> dict[str, np.ndarray]:
    body = {
        "inputs": [
            {
                "name": "pixels",
                "datatype": "FP32",
                "shape": list(images.shape),
                "data": images.reshape(-1).tolist(),
            }
        ]
    }
    reply = http.post(f"/v2/models/{model}/infer", json=body)
    assert reply.status_code == 200, reply.text
    outputs = {o["name"]: o for o in reply.json()["outputs"]}
    return {
        "probabilities": np.asarray(outputs["probabilities"]["data"], np.float32).reshape(-1, 10),
        "label": np.asarray(outputs["label"]["data"], np.int64),
    }


@pytest.fixture(scope="module")
def channel(gateway_server):
    with grpc.insecure_channel(gateway_server.grpc_target) as ch:
        yield ch


@pytest.fixture(scope="module")
def key(gateway_server) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", gateway_server.headers["Authorization"].removeprefix("Bearer ")),)


def _predict_request(model: str, images: np.ndarray, *, typed: bool) -> object:
    request = tfs_predict.PredictRequest()
    request.model_spec.name = model
    proto = request.inputs["pixels"]
    proto.dtype = 1  # DT_FLOAT
    for size in images.shape:
        proto.tensor_shape.dim.add(size=size)
    if typed:
        proto.float_val.extend(images.reshape(-1).tolist())
    else:
        proto.tensor_content = images.astype("<f4").tobytes()
    return request


def _array(proto: object) -> np.ndarray:
    import tensorflow as tf

    return tf.make_ndarray(proto)


@pytest.mark.parametrize("backend", list(MODELS))
@pytest.mark.parametrize("typed", [True, False], ids=["float_val", "tensor_content"])
def test_tfs_predict_exact(gateway_server, http, channel, key, backend, typed) -> None:
    model = MODELS[backend]
    images = _images()
    want = _rest_answer(http, model, images)
    stub = tfs_service.PredictionServiceStub(channel)
    response = stub.Predict(_predict_request(model, images, typed=typed), metadata=key, timeout=30)
    assert response.model_spec.name == model
    assert response.model_spec.version.value == 1
    np.testing.assert_array_equal(_array(response.outputs["probabilities"]), want["probabilities"])
    np.testing.assert_array_equal(_array(response.outputs["label"]), want["label"])


@pytest.mark.parametrize("backend", list(MODELS))
def test_tfs_filter_version_label(gateway_server, http, channel, key, backend) -> None:
    model = MODELS[backend]
    images = _images(2)
    want = _rest_answer(http, model, images)
    stub = tfs_service.PredictionServiceStub(channel)
    for pin in ({"version": {"value": 1}}, {"version_label": "stable"}):
        request = _predict_request(model, images, typed=False)
        request.model_spec.MergeFrom(tfs_predict.PredictRequest(model_spec=pin).model_spec)
        request.output_filter.append("label")
        response = stub.Predict(request, metadata=key, timeout=30)
        assert list(response.outputs) == ["label"]
        assert response.model_spec.version.value == 1
        np.testing.assert_array_equal(_array(response.outputs["label"]), want["label"])


@pytest.mark.parametrize("backend", list(MODELS))
def test_tfs_errors(gateway_server, channel, key, backend) -> None:
    model = MODELS[backend]
    stub = tfs_service.PredictionServiceStub(channel)
    images = _images(1)

    def code(request: object, **kw: object) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, **kw)
        return info.value.code(), info.value.details()

    bad = _predict_request(model, images, typed=False)
    bad.inputs["pixels"].dtype = 2  # DT_DOUBLE with float32 bytes: the wrong dtype
    assert code(bad, metadata=key, timeout=30)[0] == grpc.StatusCode.INVALID_ARGUMENT
    unknown = _predict_request("no_such_model", images, typed=False)
    assert code(unknown, metadata=key, timeout=30) == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(no_such_model)",
    )
    good = _predict_request(model, images, typed=False)
    assert code(good, timeout=30)[0] == grpc.StatusCode.UNAUTHENTICATED


def _native(gateway_server):  # type: ignore[no-untyped-def]
    native = gateway_server.stack.native
    if native is None:
        pytest.skip("needs live_stack to pause a backend")
    return native


@pytest.mark.parametrize("backend", list(MODELS))
def test_tfs_deadline_with_a_hung_backend(gateway_server, channel, key, backend) -> None:
    """A hung backend (its processes stopped) and a 0.5 s deadline: DEADLINE_EXCEEDED, and
    the next call is answered once it runs again. A tiny deadline instead is no test: gRPC
    sends it rounded up to ~1 ms, in which a fast model answers."""
    native = _native(gateway_server)
    stub = tfs_service.PredictionServiceStub(channel)
    request = _predict_request(MODELS[backend], _images(1), typed=False)
    with native.paused_backend(backend), pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, metadata=key, timeout=0.5)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _array(stub.Predict(request, metadata=key, timeout=30).outputs["label"]).shape == (1,)


def test_tfs_metadata_and_status(gateway_server, channel, key) -> None:
    stub = tfs_service.PredictionServiceStub(channel)
    models = tfs_models.ModelServiceStub(channel)
    for model in MODELS.values():
        request = tfs_meta.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = model
        meta = stub.GetModelMetadata(request, metadata=key, timeout=30)
        sigmap = tfs_meta.SignatureDefMap()
        assert meta.metadata["signature_def"].Unpack(sigmap)
        sig = sigmap.signature_def["serving_default"]
        assert sig.inputs["pixels"].dtype == 1
        assert sorted(sig.outputs) == ["label", "probabilities"]
        status = models.GetModelStatus(
            tfs_status.GetModelStatusRequest(model_spec={"name": model}), metadata=key, timeout=30
        )
        assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30)]


def _triton_python() -> Path:
    """The Python of a virtualenv with ``tritonclient[grpc]``, made once under a cache dir
    (``TANDEM_TRITON_VENV`` names an existing one)."""
    given = os.environ.get("TANDEM_TRITON_VENV")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = Path(given) if given else cache / "tandem" / "venv-triton"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import tritonclient.grpc, numpy"]
    if python.exists() and subprocess.run(probe, capture_output=True, timeout=120).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "tritonclient[grpc]", "numpy"],
        check=True,
        timeout=900,
    )
    return python


@pytest.mark.parametrize("backend", list(MODELS))
def test_tritonclient_grpc_exact(gateway_server, http, key, backend, tmp_path) -> None:
    model = MODELS[backend]
    images = _images()
    want = _rest_answer(http, model, images)
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "out.npz"
    run = subprocess.run(
        [
            str(_triton_python()),
            str(CLIENT),
            gateway_server.grpc_target,
            key[0][1],
            model,
            "pixels",
            str(tmp_path / "images.npy"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,  # only catches a hang
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    got = dict(np.load(out))

    assert report["live"] is True
    assert report["model_ready"] is True
    meta = report["metadata"]
    assert meta["name"] == model
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": ["-1", "64"]}]
    for prefix in ("raw", "typed"):
        np.testing.assert_array_equal(got[f"{prefix}_probabilities"], want["probabilities"])
        np.testing.assert_array_equal(got[f"{prefix}_label"], want["label"])
    assert report["raw_version"] == "1"
    assert report["typed_id"] == "typed-1"
    assert report["typed_raw"] == 0  # typed in, typed out
    assert report["requested_outputs"] == ["label"]
    np.testing.assert_array_equal(got["v1_label"], want["label"])
    np.testing.assert_array_equal(got["stable_label"], want["label"])
    assert report["label_version"] == "1"
    assert report["bad_input"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "expected" in report["bad_input"]["message"]
    assert report["unknown_model"]["status"] == "StatusCode.NOT_FOUND"
    assert report["missing_key"]["status"] == "StatusCode.UNAUTHENTICATED"


@pytest.mark.parametrize("backend", list(MODELS))
def test_tritonclient_deadline_with_a_hung_backend(gateway_server, key, backend, tmp_path) -> None:
    native = _native(gateway_server)
    np.save(tmp_path / "images.npy", _images(1))
    args = [gateway_server.grpc_target, key[0][1], MODELS[backend], "pixels"]
    with native.paused_backend(backend):
        run = subprocess.run(
            [str(_triton_python()), str(CLIENT), "--deadline", *args, str(tmp_path / "images.npy")],
            capture_output=True,
            text=True,
            timeout=300,  # only catches a hang
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        json.loads(run.stdout.strip().splitlines()[-1])["status"] == "StatusCode.DEADLINE_EXCEEDED"
    )
