"""TF Serving REST v1 endpoints, in-process."""

from __future__ import annotations

import pytest
from gateway_testkit import pixels


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/digits_mlp_tf:predict",
        "/v1/models/digits_mlp_tf/versions/2:predict",
        "/v1/models/digits_mlp_tf/labels/stable:predict",
        "/v1/models/digits_mlp_torch:predict",
    ],
)
async def test_predict_row(client, path):
    response = await client.post(path, json={"instances": pixels(2)})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 2
    assert set(predictions[0]) == {"probabilities", "label"}
    assert response.headers["x-request-id"]


async def test_predict_columnar_and_version_routing(client, fakes):
    response = await client.post(
        "/v1/models/digits_mlp_tf/labels/canary:predict", json={"inputs": {"pixels": pixels(1)}}
    )
    assert response.status_code == 200
    assert set(response.json()["outputs"]) == {"probabilities", "label"}
    assert fakes["tfserving"].calls[-1].version == 2


async def test_request_id_is_propagated(client, fakes):
    response = await client.post(
        "/v1/models/digits_mlp_torch:predict",
        json={"instances": pixels(1)},
        headers={"X-Request-ID": "abc-123"},
    )
    assert response.headers["x-request-id"] == "abc-123"
    assert fakes["torchserve"].calls[-1].request_id == "abc-123"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/models/nope:predict", {"instances": [[0]]}, 404, "nope"),
        ("/v1/models/digits_mlp_tf/versions/9:predict", {"instances": [[0]]}, 404, "version"),
        ("/v1/models/digits_mlp_tf/labels/x:predict", {"instances": [[0]]}, 404, "label"),
        (
            "/v1/models/digits_mlp_tf:predict",
            {"instances": [[0.0] * 63]},
            400,
            "'pixels' float32 (FP32) [-1, 64]",
        ),
        ("/v1/models/digits_mlp_tf:predict", {"instances": [["a"] * 64]}, 400, "pixels"),
        ("/v1/models/digits_mlp_tf:predict", {"nothing": 1}, 400, "instances"),
        (
            "/v1/models/digits_mlp_tf:predict",
            {"signature_name": "other", "instances": [[0.0] * 64]},
            400,
            "signature",
        ),
    ],
)
async def test_predict_errors(client, path, body, status, fragment):
    response = await client.post(path, json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]


async def test_non_json_is_415_and_bad_json_400(client):
    response = await client.post(
        "/v1/models/digits_mlp_tf:predict", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = await client.post(
        "/v1/models/digits_mlp_tf:predict",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


async def test_status_metadata_and_list(client, fakes):
    response = await client.get("/v1/models/digits_mlp_tf")
    assert [s["version"] for s in response.json()["model_version_status"]] == ["1", "2"]
    response = await client.get("/v1/models/digits_mlp_tf/labels/canary")
    assert response.json()["model_version_status"][0]["state"] == "AVAILABLE"
    for path in (
        "/v1/models/digits_mlp_torch/metadata",
        "/v1/models/digits_mlp_tf/versions/1/metadata",
        "/v1/models/digits_mlp_tf/labels/stable/metadata",
    ):
        body = (await client.get(path)).json()
        sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert sig["inputs"]["pixels"]["dtype"] == "DT_FLOAT"
        assert sig["inputs"]["pixels"]["tensor_shape"]["dim"][1]["size"] == "64"
    fakes["torchserve"].ready_value = False
    models = {m["name"]: m for m in (await client.get("/v1/models")).json()["models"]}
    assert models["digits_mlp_torch"]["state"] == "UNAVAILABLE"
    assert models["digits_mlp_tf"]["framework"] == "tensorflow"
    assert models["digits_mlp_tf"]["labels"] == {"stable": 1, "canary": 2}


async def test_classify_and_regress(client):
    body = {"signature_name": "classify_sig", "examples": [{"pixels": [0.0] * 64}]}
    response = await client.post("/v1/models/digits_mlp_tf:classify", json=body)
    assert response.status_code == 200
    assert "results" in response.json()
    response = await client.post("/v1/models/digits_mlp_tf:regress", json=body)
    assert response.status_code == 400  # the signature is a classifier
    response = await client.post("/v1/models/digits_mlp_tf:classify", json={"examples": [{"x": 1}]})
    assert response.status_code == 400  # serving_default is a predict signature
    response = await client.post("/v1/models/digits_mlp_torch:classify", json=body)
    assert response.status_code == 400
