"""TF Serving gRPC API conformance (tensorflow_serving/apis/*.proto)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def predictions(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel: grpc.Channel) -> model_service_pb2_grpc.ModelServiceStub:
    return model_service_pb2_grpc.ModelServiceStub(channel)


def _predict_request(model: str = "native", **inputs: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


def _code(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    return info.value.code(), info.value.details()


def test_predict(predictions) -> None:
    request = _predict_request(x=np.array([[1, 2, 3]], dtype=np.float32))
    response = predictions.Predict(request, timeout=30)
    assert response.model_spec.name == "native"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["doubled"]), [[2, 4, 6]])
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["total"]), [6])


def test_predict_version_label_and_output_filter(predictions) -> None:
    request = _predict_request(x=np.zeros((2, 3), dtype=np.float32))
    request.model_spec.version_label = "stable"
    request.output_filter.append("version")
    response = predictions.Predict(request, timeout=30)
    assert set(response.outputs) == {"version"}
    assert tf.make_ndarray(response.outputs["version"]).tolist() == [1, 1]


def test_predict_multi_input_and_bytes(predictions) -> None:
    request = _predict_request(
        a=np.array([[1, 2]], dtype=np.float32), b=np.array([3], dtype=np.int64)
    )
    request.model_spec.signature_name = "multi"
    response = predictions.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["scaled"]), [[3, 6]])
    request = _predict_request(data_bytes=np.array([b"\x00\x01z"], dtype=object))
    request.model_spec.signature_name = "echo_bytes"
    response = predictions.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["echo_bytes"]).tolist() == [b"\x00\x01z"]


@pytest.mark.parametrize(
    ("mutate", "code", "fragment"),
    [
        (
            lambda r: setattr(r.model_spec, "name", "nope"),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            lambda r: r.model_spec.version.__setattr__("value", 7),
            grpc.StatusCode.NOT_FOUND,
            "Specific(native, 7)",
        ),
        (
            lambda r: setattr(r.model_spec, "version_label", "nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        (
            lambda r: setattr(r.model_spec, "signature_name", "nope"),
            grpc.StatusCode.FAILED_PRECONDITION,  # RunPredict's wording and code
            'Serving signature key "nope" not found.',
        ),
    ],
)
def test_predict_errors(predictions, mutate, code, fragment) -> None:
    request = _predict_request(x=np.zeros((1, 3), dtype=np.float32))
    mutate(request)
    got, details = _code(predictions.Predict, request)
    assert got == code
    assert fragment in details


def test_predict_shape_is_not_checked_against_the_signature(predictions) -> None:
    # TF Serving feeds the tensor as sent; x: float[-1,3] takes [1,4] when the ops do.
    response = predictions.Predict(
        _predict_request(x=np.ones((1, 4), dtype=np.float32)), timeout=30
    )
    assert tf.make_ndarray(response.outputs["doubled"]).tolist() == [[2.0] * 4]


def test_predict_shape_the_ops_reject(predictions) -> None:
    # tf1's y = matmul(x, [[1], [2]]) cannot take x: [1,3]: the runtime's INVALID_ARGUMENT.
    request = _predict_request("tf1", x=np.zeros((1, 3), dtype=np.float32))
    got, details = _code(predictions.Predict, request)
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert "Matrix size-incompatible" in details


def test_predict_missing_and_unknown_input(predictions) -> None:
    got, details = _code(
        predictions.Predict, _predict_request(y=np.zeros((1, 3), dtype=np.float32))
    )
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        details
        == "input tensor alias not found in signature: y. Inputs expected to be in the set {x}."
    )
    request = _predict_request(
        x=np.zeros((1, 3), dtype=np.float32), y=np.zeros((1, 3), dtype=np.float32)
    )
    got, details = _code(predictions.Predict, request)
    assert got == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("input size does not match signature: 2!=1 len({x,y}) != len({x}).")


def _examples(*rows: dict[str, float]) -> list[example_pb2.Example]:
    out = []
    for row in rows:
        example = example_pb2.Example()
        for key, value in row.items():
            example.features.feature[key].float_list.value.append(value)
        out.append(example)
    return out


def test_classify(predictions) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tf1"
    request.model_spec.signature_name = "classify_x"
    request.input.example_list.examples.extend(_examples({"x1": 50.0, "x2": 0.0}))
    response = predictions.Classify(request, timeout=30)
    (result,) = response.result.classifications
    assert [c.label for c in result.classes] == ["neg", "pos"]
    assert result.classes[1].score == pytest.approx(1.0)


def test_regress_with_context(predictions) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "tf1"
    request.model_spec.signature_name = "regress_x"
    request.input.example_list_with_context.examples.extend(_examples({"x1": 1.0}, {"x1": 2.0}))
    request.input.example_list_with_context.context.CopyFrom(_examples({"x2": 1.0})[0])
    response = predictions.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == pytest.approx([3.0, 5.0])


def test_classify_wrong_method(predictions) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tf1"
    request.input.example_list.examples.extend(_examples({"x1": 1.0}))
    code, details = _code(predictions.Classify, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # No method-name check by default: the predict signature has no "inputs" input.
    assert details.startswith("No classification inputs found in SignatureDef: ")


def test_get_model_metadata(predictions) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "tf1"
    request.metadata_field.append("signature_def")
    response = predictions.GetModelMetadata(request, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["classify_x"].method_name == "tensorflow/serving/classify"
    assert sig_map.signature_def["serving_default"].inputs["x"].dtype == tf.float32.as_datatype_enum


def test_get_model_metadata_unknown_field(predictions) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "tf1"
    request.metadata_field.append("bogus")
    code, _ = _code(predictions.GetModelMetadata, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_get_model_status(models) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "native"
    response = models.GetModelStatus(request, timeout=30)
    states = {s.version: s.state for s in response.model_version_status}
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert states == {1: available, 2: available}


def test_get_model_status_unknown(models) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    code, details = _code(models.GetModelStatus, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert "Could not find any versions of model nope" in details


def test_get_model_status_ignores_labels(models) -> None:
    # GetModelStatusWithModelSpec narrows only by model_spec.version.
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "native"
    request.model_spec.version_label = "nope"
    response = models.GetModelStatus(request, timeout=30)
    assert sorted(s.version for s in response.model_version_status) == [1, 2]


def test_get_model_status_zero_padded_version(models) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    response = models.GetModelStatus(request, timeout=30)
    assert [s.version for s in response.model_version_status] == [123]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([], "GetModelMetadataRequest must specify at least one metadata_field"),
        (["signature_def", "bogus"], "Metadata field bogus is not supported"),
    ],
)
def test_get_model_metadata_field_errors(predictions, fields, message) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "native"
    request.metadata_field.extend(fields)
    code, details = _code(predictions.GetModelMetadata, request)
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_predict_without_model_name(predictions) -> None:
    code, details = _code(
        predictions.Predict, _predict_request("", x=np.zeros((1, 3), dtype=np.float32))
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")


def test_classify_empty_input(predictions) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tf1"
    request.model_spec.signature_name = "classify_x"
    code, details = _code(predictions.Classify, request)
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")


@pytest.mark.parametrize("model", ["half_plus_two", "half_plus_two_tf2"])
@pytest.mark.parametrize("verb", ["Classify", "Regress"])
def test_model_server_test_classify_regress(predictions, model: str, verb: str) -> None:
    """``tensorflow_model_server_test.py`` testClassify[Tf2] / testRegress[Tf2]: x=2 -> 3.

    The TF2 model's signatures all carry the predict method name; TF Serving serves them.
    """
    request = (
        classification_pb2.ClassificationRequest()
        if verb == "Classify"
        else regression_pb2.RegressionRequest()
    )
    request.model_spec.name = model
    request.model_spec.signature_name = f"{verb.lower()}_x_to_y"
    example = request.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.extend([2.0])
    response = getattr(predictions, verb)(request, timeout=30)
    if verb == "Classify":
        (result,) = response.result.classifications
        assert [(c.label, c.score) for c in result.classes] == [("", 3.0)]
    else:
        assert [r.value for r in response.result.regressions] == [3.0]
    assert response.model_spec.name == model
    assert response.model_spec.signature_name == f"{verb.lower()}_x_to_y"
    assert response.model_spec.version.value == 123
