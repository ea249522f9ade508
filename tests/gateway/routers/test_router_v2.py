"""Open Inference Protocol v2 endpoints, JSON and binary, in-process."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from wire import v2


def infer_body(shape=(2, 64), datatype="FP32"):
    data = np.random.default_rng(1).random(shape).astype(np.float32).reshape(-1).tolist()
    return {
        "id": "q1",
        "inputs": [{"name": "pixels", "datatype": datatype, "shape": list(shape), "data": data}],
    }


async def test_server_and_health(client):
    assert (await client.get("/v2")).json()["extensions"] == ["binary_tensor_data"]
    assert (await client.get("/v2/health/live")).status_code == 200
    assert (await client.get("/v2/health/ready")).status_code == 200


@pytest.mark.parametrize("model", ["digits_mlp_tf", "digits_mlp_torch"])
async def test_infer_json(client, model):
    response = await client.post(f"/v2/models/{model}/infer", json=infer_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == model
    assert body["id"] == "q1"
    assert {o["name"]: o["shape"] for o in body["outputs"]} == {
        "probabilities": [2, 10],
        "label": [2],
    }


async def test_infer_binary_in_and_out(client):
    array = np.random.default_rng(2).random((3, 64)).astype(np.float32)
    body, n = v2.encode_infer_request({"pixels": array}, output_names=["label"], binary=True)
    header = orjson.loads(body[:n])
    header["outputs"] = [{"name": "label", "parameters": {"binary_data": True}}]
    header_bytes = orjson.dumps(header)
    response = await client.post(
        "/v2/models/digits_mlp_tf/versions/2/infer",
        content=header_bytes + array.tobytes(),
        headers={
            "Inference-Header-Content-Length": str(len(header_bytes)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    head = orjson.loads(response.content[:length])
    assert head["model_version"] == "2"
    (out,) = head["outputs"]
    labels = np.frombuffer(response.content[length:], np.int64)
    assert out["parameters"]["binary_data_size"] == labels.nbytes == 24
    np.testing.assert_array_equal(labels, array[:, :10].argmax(axis=1))


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v2/models/nope/infer", infer_body(), 404),
        ("/v2/models/digits_mlp_tf/versions/5/infer", infer_body(), 404),
        ("/v2/models/digits_mlp_tf/infer", infer_body(datatype="FP64"), 400),
        ("/v2/models/digits_mlp_tf/infer", infer_body(shape=(1, 8)), 400),
        ("/v2/models/digits_mlp_tf/infer", {"inputs": "x"}, 400),
        ("/v2/models/digits_mlp_tf/infer", {**infer_body(), "outputs": [{"name": "nope"}]}, 400),
    ],
)
async def test_infer_errors(client, path, body, status):
    response = await client.post(path, json=body)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str)


async def test_bad_binary_header_length(client):
    response = await client.post(
        "/v2/models/digits_mlp_tf/infer",
        content=b"{}",
        headers={"Inference-Header-Content-Length": "99"},
    )
    assert response.status_code == 400
    response = await client.post(
        "/v2/models/digits_mlp_tf/infer",
        content=b"{}",
        headers={"Inference-Header-Content-Length": "x"},
    )
    assert response.status_code == 400


async def test_metadata_and_ready(client, fakes):
    body = (await client.get("/v2/models/digits_mlp_torch")).json()
    assert body["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
    assert body["versions"] == ["1"]
    assert (await client.get("/v2/models/digits_mlp_tf/versions/2")).status_code == 200
    assert (await client.get("/v2/models/digits_mlp_tf/ready")).status_code == 200
    fakes["tfserving"].ready_value = False
    assert (await client.get("/v2/models/digits_mlp_tf/versions/1/ready")).status_code == 503
    assert (await client.get("/v2/health/ready")).status_code == 503


async def test_binary_body_is_handed_on_as_it_came(client, fakes):
    """A v2 binary request reaches the adapter with its original bytes (no re-encoding);
    a JSON request has none to hand on."""
    array = np.random.default_rng(3).random((2, 64)).astype(np.float32)
    body, length = v2.encode_infer_request({"pixels": array}, binary=True)
    assert length is not None
    response = await client.post(
        "/v2/models/digits_mlp_torch/infer",
        content=body,
        headers={
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(length),
        },
    )
    assert response.status_code == 200, response.text
    call = fakes["torchserve"].calls[-1]
    assert call.v2_body == (body, length)
    np.testing.assert_array_equal(call.inputs["pixels"], array)
    response = await client.post("/v2/models/digits_mlp_torch/infer", json=infer_body())
    assert response.status_code == 200
    assert fakes["torchserve"].calls[-1].v2_body is None
