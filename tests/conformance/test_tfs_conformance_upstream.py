"""Cases from TF Serving's own implementation and tests, on its half_plus_two test models.

Sources (tensorflow/serving): ``model_servers/http_rest_api_handler_test.cc`` (paths,
statuses, predict/classify/regress answers, metadata JSON), ``util/json_tensor.cc`` (keys
and error texts) and ``sources/storage_path`` (the zero-padded ``00000123/`` version
directory). The models are this suite's equivalents of upstream's (see
``tfs_fixture_models.py``); every case holds for the official server too.
"""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

HP2 = "/v1/models/half_plus_two"
HP2_TF2 = "/v1/models/half_plus_two_tf2"
OK_STATUS = {"error_code": "OK", "error_message": ""}


def _error(response: httpx.Response, status: int, fragment: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert fragment in body["error"], body["error"]
    return str(body["error"])


# ------------------------------------------------------------------ paths (ParseModelInfo)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/foo"),
        ("POST", "/v1/foo"),
        ("GET", "/v1/models/debug/model_name"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/foo:predict"),
        ("GET", "/v1/models/foo/version/50:predict"),
        ("POST", "/v1/models/foo/version/50:regress"),
        ("POST", "/v1/models/foo/versions/HELLO:regress"),
        ("POST", "/v1/models/foo/metadata"),
        ("POST", "/v1/models/foo/label/some_label:regress"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress"),
        ("POST", "/v1/models/foo/versions/some_label:regress"),
        ("POST", "/v1/models/half_plus_two:explain"),
        ("PUT", "/v1/models/half_plus_two"),
    ],
)
def test_malformed_request(rest: httpx.Client, method: str, path: str) -> None:
    response = rest.request(method, path, content=b"{}")
    _error(response, 400, f"Malformed request: {method} {path}")


def test_version_too_large(rest: httpx.Client) -> None:
    version = str(2**64 - 1)
    response = rest.post(f"/v1/models/foo/versions/{version}:regress", content=b"")
    _error(response, 400, f"Failed to convert version: {version} to numeric.")


def test_missing_model_name(rest: httpx.Client) -> None:
    _error(rest.get("/v1/models"), 400, "Missing model name in request.")


def test_paths_are_case_insensitive_and_url_decoded(rest: httpx.Client) -> None:
    response = rest.get("/V1/MODELS/half%5Fplus%5Ftwo/VERSIONS/123")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/models/foo:predict", 404),
        ("/v1/models/foo/versions/50:predict", 404),
        ("/v1/models/half_plus_two/versions/99:predict", 404),
    ],
)
def test_predict_model_name_version_errors(rest: httpx.Client, path: str, status: int) -> None:
    _error(rest.post(path, json={"instances": [1]}), status, "Servable not found for request")


# ----------------------------------------------------------------------- status (123)


def test_status_of_zero_padded_version(rest: httpx.Client) -> None:
    expected = {
        "model_version_status": [{"version": "123", "state": "AVAILABLE", "status": OK_STATUS}]
    }
    for path in (HP2, f"{HP2}/versions/123", HP2_TF2):
        response = rest.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == expected


# -------------------------------------------------------------------- predict request


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"instances = [1, 2]", "JSON Parse error: Invalid value"),
        (b'{ "instances": ["x", "y"] }', "not of expected type: float"),
        (b'{ "signature_name": 100 }', "'signature_name' key must be a string value."),
    ],
)
def test_predict_request_errors(rest: httpx.Client, body: bytes, expected: str) -> None:
    _error(rest.post(f"{HP2}:predict", content=body), 400, expected)


def test_predict_unknown_label(rest: httpx.Client) -> None:
    response = rest.post(f"{HP2}/labels/nope:predict", json={"instances": ["x", "y"]})
    _error(response, 400, "Unrecognized servable version label")


@pytest.mark.parametrize("model", [HP2, HP2_TF2])
@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            ":predict",
            {"instances": [[1.0, 2.0], [3.0, 4.0]]},
            {"predictions": [[2.5, 3.0], [3.5, 4.0]]},
        ),
        ("/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (
            ":predict",
            {"signature_name": "serving_default", "instances": [3.0, 4.0]},
            {"predictions": [3.5, 4.0]},
        ),
        (
            ":predict",
            {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
            {"outputs": [3.5, 4.0]},
        ),
    ],
)
def test_predict(rest: httpx.Client, model: str, path: str, body: Any, expected: Any) -> None:
    # x is declared float[-1,1] (TF1) or float[1] (TF2): TF Serving serves these bodies anyway.
    response = rest.post(f"{model}{path}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
        ({"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
    ],
)
def test_model_server_test_rest_predict(rest: httpx.Client, body: Any, expected: Any) -> None:
    """``tensorflow_model_server_test.py`` testPredictREST / testPredictColumnarREST."""
    response = rest.post(f"{HP2}:predict", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_predict_ignores_inputs_the_signature_does_not_name(rest: httpx.Client) -> None:
    body = {"inputs": {"x": [[1.0]], "extra": "ignored"}}
    response = rest.post(f"{HP2}:predict", json=body)
    assert response.json() == {"outputs": [[2.5]]}


def test_predict_ignores_bytes_after_the_body(rest: httpx.Client) -> None:
    response = rest.post(f"{HP2}:predict", content=b'{"instances": [[1.0]]} trailing')
    assert response.json() == {"predictions": [[2.5]]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"instances": [[1.0]], "inputs": [[1.0]]}',
            'JSON Value: {\n    "instances": [[1.0]],\n    "inputs": [[1.0]]\n} Not formatted '
            "correctly expecting only one of 'inputs' or 'instances' keys to exist ",
        ),
        (
            b'{"instances": 3}',
            "JSON Value: {\n    \"instances\": 3\n} Expecting 'instances' to be an list/array",
        ),
        (
            b'{"instances": []}',
            "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array",
        ),
        (b"[1]", "JSON Value: [1] Is not object"),
        (
            b'{"instances": [[1.0], [2.0, 3.0]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 1 but got: 2",
        ),
        (
            b'{"instances": [[1.0], [true]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON Value: true Type: True is not of expected type: float",
        ),
        (
            b'{"inputs": [[1.0], 2.0]}',
            "JSON Value: 2.0 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        (
            b'{"instances": [{"x": [1.0], "y": 2}]}',
            "Failed to process element: 0 key: y of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON object: does not have named input: y",
        ),
    ],
)
def test_predict_error_texts(rest: httpx.Client, body: bytes, message: str) -> None:
    """Whole messages, as json_tensor.cc composes them (rapidjson's pretty debug print)."""
    assert _error(rest.post(f"{HP2}:predict", content=body), 400, "") == message


# ------------------------------------------------------------------- classify / regress


@pytest.mark.parametrize("model", [HP2, HP2_TF2])
@pytest.mark.parametrize(
    ("verb", "body", "expected"),
    [
        (
            "regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            "regress",
            {"signature_name": "regress_x_to_y2", "examples": [{"x": 80.0}]},
            {"results": [43.0]},
        ),
        (
            "classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
            {"results": [[["", 12.0]]]},
        ),
        (
            "classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
            {"results": [[["", 7.0]]]},
        ),
        (
            "regress",
            {
                "signature_name": "regress_x_to_y",
                "context": {"x": 2.0},
                "examples": [{}, {"x": 4.0}],
            },
            {"results": [3.0, 4.0]},
        ),
    ],
)
def test_classify_regress(
    rest: httpx.Client, model: str, verb: str, body: Any, expected: Any
) -> None:
    response = rest.post(f"{model}:{verb}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("verb", "body", "message"),
    [
        (
            "regress",
            b'{"signature_name": "regress_x_to_y"}',
            'JSON Value: {\n    "signature_name": "regress_x_to_y"\n} When method is '
            "classify, key 'examples' is expected and was not found",
        ),
        (
            "classify",
            b'{"examples": []}',
            "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array",
        ),
        ("classify", b'{"examples": [3]}', "Example must be JSON object but got JSON Number"),
        (
            "regress",
            b'{"signature_name": "regress_x_to_y", "examples": [{"x": [1, 2.5]}]}',
            "Unexpected element type in feature: x expecting type: int64",
        ),
        (
            "classify",
            b'{"signature_name": "nope", "examples": [{"x": 1.0}]}',
            "No signature was found with the name: nope",
        ),
        (
            "classify",
            b'{"examples": [{"x": 1.0}]}',
            "No classification inputs found in SignatureDef: ",
        ),
        (
            "regress",
            b'{"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}',
            "No regression outputs found in SignatureDef: ",
        ),
    ],
)
def test_classify_regress_error_texts(
    rest: httpx.Client, verb: str, body: bytes, message: str
) -> None:
    assert _error(rest.post(f"{HP2}:{verb}", content=body), 400, "").startswith(message)


def test_classify_body_is_parsed_before_the_model_is_looked_up(rest: httpx.Client) -> None:
    _error(rest.post("/v1/models/nope:classify", content=b"{}"), 400, "key 'examples'")


# ----------------------------------------------------------------------------- metadata


def _info(dtype: str, name: str, dims: list[int] | None) -> dict[str, Any]:
    shape: dict[str, Any] = (
        {"dim": [], "unknown_rank": True}
        if dims is None
        else {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}
    )
    return {"dtype": dtype, "tensor_shape": shape, "name": name}


def _sig(method: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "outputs": outputs,
        "method_name": f"tensorflow/serving/{method}",
        "defaults": {},
    }


def test_metadata_json(rest: httpx.Client) -> None:
    """The shape of upstream's ``saved_model_half_plus_two_2_versions_metadata.json``."""
    col = [-1, 1]
    example = {"inputs": _info("DT_STRING", "tf_example:0", None)}
    expected = {
        "model_spec": {"name": "half_plus_two", "signature_name": "", "version": "123"},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    "regress_x2_to_y3": _sig(
                        "regress",
                        {"inputs": _info("DT_FLOAT", "x2:0", col)},
                        {"outputs": _info("DT_FLOAT", "y3:0", col)},
                    ),
                    "serving_default": _sig(
                        "predict",
                        {"x": _info("DT_FLOAT", "x:0", col)},
                        {"y": _info("DT_FLOAT", "y:0", col)},
                    ),
                    "classify_x_to_y": _sig(
                        "classify", example, {"scores": _info("DT_FLOAT", "y:0", col)}
                    ),
                    "regress_x_to_y2": _sig(
                        "regress", example, {"outputs": _info("DT_FLOAT", "y2:0", col)}
                    ),
                    "regress_x_to_y": _sig(
                        "regress", example, {"outputs": _info("DT_FLOAT", "y:0", col)}
                    ),
                }
            }
        },
    }
    response = rest.get(f"{HP2}/metadata")
    assert response.status_code == 200, response.text
    assert response.json() == expected  # no "@type" in "metadata"


def test_metadata_tf2_lists_the_init_op(rest: httpx.Client) -> None:
    body = rest.get(f"{HP2_TF2}/versions/123/metadata").json()
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert "@type" not in body["metadata"]["signature_def"]
    assert set(sigs) == {
        "serving_default",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
        "classify_x_to_y",
        "classify_x2_to_y3",
        "__saved_model_init_op",
    }
    assert sigs["serving_default"]["inputs"]["x"] == _info("DT_FLOAT", "serving_default_x:0", [1])
    assert sigs["__saved_model_init_op"]["method_name"] == ""


def test_content_encoding_is_not_decoded(rest: httpx.Client) -> None:
    # net_http's auto_uncompress_input is off in TF Serving's server: the bytes are the JSON.
    body = gzip.compress(b'{"instances": [[1.0]]}')
    response = rest.post(f"{HP2}:predict", content=body, headers={"Content-Encoding": "gzip"})
    _error(response, 400, "JSON Parse error: Invalid value. at offset: 0")
