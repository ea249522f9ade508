"""TF Serving REST API conformance (https://www.tensorflow.org/tfx/serving/api_rest).

Every case asserts the HTTP status and a fragment of TF Serving's message.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def _error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert fragment in body["error"], body["error"]


def _versions(body: dict[str, Any]) -> dict[str, str]:
    return {v["version"]: v["state"] for v in body["model_version_status"]}


# ------------------------------------------------------------------ status / labels


def test_model_status_lists_all_versions(rest: httpx.Client) -> None:
    response = rest.get("/v1/models/native")
    assert response.status_code == 200
    body = response.json()
    assert _versions(body) == {"1": "AVAILABLE", "2": "AVAILABLE"}
    for entry in body["model_version_status"]:
        assert entry["status"] == {"error_code": "OK", "error_message": ""}


def test_model_status_by_version(rest: httpx.Client) -> None:
    body = rest.get("/v1/models/native/versions/1").json()
    assert body == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


@pytest.mark.parametrize("label", ["stable", "canary", "nope"])
def test_model_status_ignores_labels(rest: httpx.Client, label: str) -> None:
    # GetModelStatusImpl narrows only by an explicit version: a label, known or not,
    # answers every version (the REST guide implies otherwise; the code is the truth).
    response = rest.get(f"/v1/models/native/labels/{label}")
    assert response.status_code == 200, response.text
    assert _versions(response.json()) == {"1": "AVAILABLE", "2": "AVAILABLE"}


def test_status_unknown_model(rest: httpx.Client) -> None:
    _error(rest.get("/v1/models/nope"), 404, "Could not find any versions of model nope")


def test_status_unknown_version(rest: httpx.Client) -> None:
    _error(
        rest.get("/v1/models/native/versions/7"), 404, "Could not find version 7 of model native"
    )


def test_metadata_unknown_label(rest: httpx.Client) -> None:
    _error(
        rest.get("/v1/models/native/labels/nope/metadata"),
        400,
        "Unrecognized servable version label: nope",
    )


# ---------------------------------------------------------------------------- metadata


def test_metadata_native(rest: httpx.Client) -> None:
    response = rest.get("/v1/models/native/versions/2/metadata")
    assert response.status_code == 200
    body = response.json()
    assert body["model_spec"]["name"] == "native"
    assert body["model_spec"]["version"] == "2"
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "multi", "echo_bytes", "text"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    x = default["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [int(d["size"]) for d in x["tensor_shape"]["dim"]] == [-1, 3]
    assert set(default["outputs"]) == {"doubled", "total", "version"}
    assert default["outputs"]["version"]["dtype"] == "DT_INT64"
    assert sigs["multi"]["inputs"]["b"]["dtype"] == "DT_INT64"
    assert sigs["echo_bytes"]["inputs"]["data_bytes"]["dtype"] == "DT_STRING"


def test_metadata_tf1_methods(rest: httpx.Client) -> None:
    sigs = rest.get("/v1/models/tf1/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert sigs["classify_x"]["method_name"] == "tensorflow/serving/classify"
    assert sigs["regress_x"]["method_name"] == "tensorflow/serving/regress"
    assert set(sigs["classify_x"]["outputs"]) == {"classes", "scores"}
    assert sigs["classify_x"]["inputs"]["inputs"]["dtype"] == "DT_STRING"


def test_metadata_unknown_model(rest: httpx.Client) -> None:
    _error(
        rest.get("/v1/models/nope/metadata"), 404, "Servable not found for request: Latest(nope)"
    )


# ----------------------------------------------------------------------------- predict


def test_predict_row_format(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/native/versions/2:predict", json={"instances": [[1, 2, 3], [4, 5, 6]]}
    )
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    assert rows == [
        {"doubled": [2.0, 4.0, 6.0], "total": 6.0, "version": 2},
        {"doubled": [8.0, 10.0, 12.0], "total": 15.0, "version": 2},
    ]


def test_predict_columnar_format(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/native/versions/1:predict", json={"inputs": [[1, 1, 1]]})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {
        "doubled": [[2.0, 2.0, 2.0]],
        "total": [3.0],
        "version": [1],
    }


def test_predict_default_version_is_latest(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/native:predict", json={"instances": [[0, 0, 0]]})
    assert response.json()["predictions"][0]["version"] == 2


@pytest.mark.parametrize(("label", "version"), [("stable", 1), ("canary", 2)])
def test_predict_by_label(rest: httpx.Client, label: str, version: int) -> None:
    response = rest.post(
        f"/v1/models/native/labels/{label}:predict", json={"instances": [[0, 0, 0]]}
    )
    assert response.json()["predictions"][0]["version"] == version


def test_predict_multi_input_row(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/native:predict",
        json={
            "signature_name": "multi",
            "instances": [{"a": [1.0, 2.0], "b": 3}, {"a": [0.5, 0.5], "b": 2}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [
        {"scaled": [3.0, 6.0], "b_plus_one": 4},
        {"scaled": [1.0, 1.0], "b_plus_one": 3},
    ]


def test_predict_multi_input_columnar(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/native:predict",
        json={"signature_name": "multi", "inputs": {"a": [[1.0, 2.0]], "b": [2]}},
    )
    assert response.json()["outputs"] == {"scaled": [[2.0, 4.0]], "b_plus_one": [3]}


def test_predict_b64_in_and_out(rest: httpx.Client) -> None:
    payload = b"\x00\xffbinary"
    encoded = base64.b64encode(payload).decode()
    response = rest.post(
        "/v1/models/native:predict",
        json={"signature_name": "echo_bytes", "instances": [{"b64": encoded}]},
    )
    assert response.status_code == 200, response.text
    (row,) = response.json()["predictions"]
    assert row["length"] == len(payload)
    assert base64.b64decode(row["echo_bytes"]["b64"]) == payload


def test_predict_plain_strings(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/native:predict", json={"signature_name": "text", "instances": ["abc", "xY"]}
    )
    assert response.json()["predictions"] == ["ABC", "XY"]


def test_predict_nan_and_infinity(rest: httpx.Client) -> None:
    body = b'{"instances": [[NaN, 1.0, Infinity]]}'
    response = rest.post("/v1/models/native:predict", content=body)
    assert response.status_code == 200, response.text
    assert "NaN" in response.text
    assert "Infinity" in response.text
    (row,) = response.json()["predictions"]  # the stdlib parser reads NaN / Infinity back
    assert math.isnan(row["doubled"][0])
    assert math.isinf(row["doubled"][2])


def test_predict_tf1_graph(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/tf1:predict", json={"instances": [[1.0, 2.0]]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [[5.0]]


# ------------------------------------------------------------------- classify / regress


def test_classify(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/tf1:classify",
        json={
            "signature_name": "classify_x",
            "context": {"x2": 0.0},
            "examples": [{"x1": 0.0}, {"x1": 50.0}],
        },
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"results"}  # json_tensor.cc's key; the REST guide says "result"
    result = response.json()["results"]
    assert [[label for label, _ in row] for row in result] == [["neg", "pos"], ["neg", "pos"]]
    assert result[0][0][1] == pytest.approx(0.5)
    assert result[1][1][1] == pytest.approx(1.0)


def test_regress(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/tf1:regress",
        json={"signature_name": "regress_x", "examples": [{"x1": 1.0, "x2": 0.5}, {"x1": 2.0}]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"results": pytest.approx([2.5, 4.0])}


def test_classify_on_predict_signature(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/tf1:classify", json={"examples": [{"x1": 1.0}]})
    # No method-name check by default (--enable_signature_method_name_check is off).
    _error(response, 400, "No classification inputs found in SignatureDef")


def test_regress_on_classify_signature(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/tf1:regress", json={"signature_name": "classify_x", "examples": [{"x1": 1.0}]}
    )
    _error(response, 400, "Expected one output Tensor.")  # classify_x has classes + scores


# ---------------------------------------------------------------------------- errors

PREDICT = "/v1/models/native:predict"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"instances": [[1, 2, 3]', "JSON Parse error"),
        (b"not json", "JSON Parse error"),
        (b"", "JSON Parse error"),
    ],
)
def test_malformed_json(rest: httpx.Client, body: bytes, fragment: str) -> None:
    _error(rest.post(PREDICT, content=body), 400, fragment)


def test_both_instances_and_inputs(rest: httpx.Client) -> None:
    response = rest.post(PREDICT, json={"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]})
    _error(response, 400, "expecting only one of 'inputs' or 'instances' keys")


def test_neither_instances_nor_inputs(rest: httpx.Client) -> None:
    _error(
        rest.post(PREDICT, json={"signature_name": ""}), 400, "Missing 'inputs' or 'instances' key"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instances": [[1, 2, "x"]]}, "is not of expected type: float"),
        ({"inputs": [[True, 2, 3]]}, "is not of expected type: float"),
        (
            {"signature_name": "multi", "inputs": {"a": [[1.0, 2.0]], "b": [1.5]}},
            "is not of expected type: int64",
        ),
        ({"signature_name": "text", "instances": [1]}, "is not of expected type: string"),
    ],
)
def test_wrong_types(rest: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    _error(rest.post(PREDICT, json=body), 400, fragment)


def test_ragged_instances(rest: httpx.Client) -> None:
    _error(
        rest.post(PREDICT, json={"instances": [[1, 2, 3], [1, 2]]}), 400, "Expecting tensor size"
    )


def test_instances_not_a_list(rest: httpx.Client) -> None:
    _error(
        rest.post(PREDICT, json={"instances": 3}), 400, "Expecting 'instances' to be an list/array"
    )


def test_named_instance_missing_key(rest: httpx.Client) -> None:
    response = rest.post(
        PREDICT, json={"signature_name": "multi", "instances": [{"a": [1.0, 2.0]}]}
    )
    _error(response, 400, "Failed to process element: 0")


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        (
            {"instances": [[1, 2]]},
            "predictions",
            [{"doubled": [2.0, 4.0], "total": 3.0, "version": 2}],
        ),
        (
            {"inputs": [[[1, 2, 3]]]},
            "outputs",
            {"doubled": [[[2.0, 4.0, 6.0]]], "total": [[1.0, 2.0, 3.0]], "version": [2]},
        ),
    ],
)
def test_shapes_are_not_checked_against_the_signature(
    rest: httpx.Client, body: dict[str, Any], key: str, expected: Any
) -> None:
    # TF Serving feeds what the body holds (x is float[-1,3]); the model's ops decide.
    response = rest.post(PREDICT, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {key: expected}


def test_shape_the_ops_reject(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/tf1:predict", json={"instances": [[1, 2, 3]]})
    _error(response, 400, "Matrix size-incompatible")


def test_unknown_model(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/nope:predict", json={"instances": [[1, 2, 3]]})
    _error(response, 404, "Servable not found for request: Latest(nope)")


def test_unknown_version(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/native/versions/7:predict", json={"instances": [[1, 2, 3]]})
    _error(response, 404, "Servable not found for request: Specific(native, 7)")


def test_unknown_label(rest: httpx.Client) -> None:
    response = rest.post("/v1/models/native/labels/nope:predict", json={"instances": [[1, 2, 3]]})
    _error(response, 400, "Unrecognized servable version label: nope")


def test_unknown_signature(rest: httpx.Client) -> None:
    response = rest.post(PREDICT, json={"signature_name": "nope", "instances": [[1, 2, 3]]})
    _error(response, 400, 'Serving signature name: "nope" not found in signature def')


def test_unknown_signature_classify(rest: httpx.Client) -> None:
    response = rest.post(
        "/v1/models/tf1:classify", json={"signature_name": "nope", "examples": [{}]}
    )
    _error(response, 400, "No signature was found with the name: nope")  # classifier.cc
