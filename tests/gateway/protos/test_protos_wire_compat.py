"""The gateway's minimal TF Serving protos against the real ones (tensorflow_serving is a
test-only dependency here; the gateway itself never imports it). Both directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway import _pb
from gateway.codecs.tensor_proto import array_to_tensor_proto, tensor_proto_to_array

tfs_predict = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
tfs_metadata = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2")
tfs_status = pytest.importorskip("tensorflow_serving.apis.get_model_status_pb2")
tfs_service = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2")
tf_meta_graph = pytest.importorskip("tensorflow.core.protobuf.meta_graph_pb2")


def test_predict_request_ours_to_theirs():
    ours = _pb.predict_pb2.PredictRequest()
    ours.model_spec.name = "digits"
    ours.model_spec.version.value = 3
    ours.model_spec.signature_name = "serving_default"
    ours.inputs["pixels"].CopyFrom(
        array_to_tensor_proto(np.arange(6, dtype=np.float32).reshape(2, 3))
    )
    ours.inputs["s"].CopyFrom(array_to_tensor_proto(np.array([b"a"], dtype=object)))
    ours.output_filter.append("label")
    theirs = tfs_predict.PredictRequest.FromString(ours.SerializeToString())
    assert theirs.model_spec.name == "digits"
    assert theirs.model_spec.version.value == 3
    assert theirs.inputs["pixels"].dtype == 1
    assert [d.size for d in theirs.inputs["pixels"].tensor_shape.dim] == [2, 3]
    assert theirs.inputs["s"].string_val == [b"a"]
    assert list(theirs.output_filter) == ["label"]
    assert theirs.SerializeToString(deterministic=True) == ours.SerializeToString(
        deterministic=True
    )


def test_predict_response_theirs_to_ours():
    theirs = tfs_predict.PredictResponse()
    theirs.model_spec.name = "digits"
    theirs.model_spec.version.value = 2
    out = theirs.outputs["probabilities"]
    out.dtype = 1
    out.tensor_shape.dim.add(size=1)
    out.tensor_shape.dim.add(size=2)
    out.float_val.extend([0.25, 0.75])
    label = theirs.outputs["label"]
    label.dtype = 9
    label.tensor_shape.dim.add(size=1)
    label.int64_val.append(1)
    ours = _pb.predict_pb2.PredictResponse.FromString(theirs.SerializeToString())
    assert ours.model_spec.version.value == 2
    assert tensor_proto_to_array(ours.outputs["probabilities"]).tolist() == [[0.25, 0.75]]
    assert tensor_proto_to_array(ours.outputs["label"]).tolist() == [1]


def test_metadata_and_status_theirs_to_ours():
    sig = tf_meta_graph.SignatureDef(method_name="tensorflow/serving/predict")
    info = sig.inputs["pixels"]
    info.name = "serving_default_pixels:0"
    info.dtype = 1
    info.tensor_shape.dim.add(size=-1)
    info.tensor_shape.dim.add(size=64)
    sigmap = tfs_metadata.SignatureDefMap()
    sigmap.signature_def["serving_default"].CopyFrom(sig)
    response = tfs_metadata.GetModelMetadataResponse()
    response.model_spec.name = "digits"
    response.metadata["signature_def"].Pack(sigmap)
    ours = _pb.get_model_metadata_pb2.GetModelMetadataResponse.FromString(
        response.SerializeToString()
    )
    packed = ours.metadata["signature_def"]
    assert packed.type_url.endswith("/tensorflow.serving.SignatureDefMap")
    our_map = _pb.get_model_metadata_pb2.SignatureDefMap.FromString(packed.value)
    our_sig = our_map.signature_def["serving_default"]
    assert our_sig.method_name == "tensorflow/serving/predict"
    assert [d.size for d in our_sig.inputs["pixels"].tensor_shape.dim] == [-1, 64]

    status = tfs_status.GetModelStatusResponse()
    entry = status.model_version_status.add(version=1, state=30)
    entry.status.error_message = "ok"
    our_status = _pb.get_model_status_pb2.GetModelStatusResponse.FromString(
        status.SerializeToString()
    )
    assert our_status.model_version_status[0].state == 30
    assert our_status.model_version_status[0].status.error_message == "ok"


def test_service_and_method_names_match():
    theirs = tfs_service.DESCRIPTOR.services_by_name["PredictionService"]
    ours = _pb.prediction_service_pb2_grpc  # paths are string constants in the stub module
    source = Path(ours.__file__).read_text()
    for method in ("Predict", "GetModelMetadata"):
        assert (
            theirs.methods_by_name[method].full_name
            == f"tensorflow.serving.PredictionService.{method}"
        )
        assert f"/tensorflow.serving.PredictionService/{method}" in source


def test_oip_messages_match_tritonclient_both_ways():
    triton = pytest.importorskip("tritonclient.grpc.service_pb2")
    ours = _pb.grpc_predict_v2_pb2.ModelInferRequest(model_name="m", model_version="2", id="x")
    ours.parameters["sequence_id"].int64_param = 7
    tensor = ours.inputs.add(name="pixels", datatype="FP32", shape=[1, 2])
    tensor.contents.fp32_contents.extend([0.5, 1.5])
    ours.outputs.add(name="label").parameters["binary_data"].bool_param = True
    ours.raw_input_contents.append(b"\x01\x02")
    theirs = triton.ModelInferRequest.FromString(ours.SerializeToString())
    assert theirs.SerializeToString(deterministic=True) == ours.SerializeToString(
        deterministic=True
    )
    assert theirs.inputs[0].contents.fp32_contents == [0.5, 1.5]
    assert theirs.parameters["sequence_id"].int64_param == 7
    reply = triton.ModelInferResponse(model_name="m", model_version="2")
    out = reply.outputs.add(name="label", datatype="INT64", shape=[1])
    out.contents.int64_contents.append(3)
    reply.raw_output_contents.append(b"\x03")
    back = _pb.grpc_predict_v2_pb2.ModelInferResponse.FromString(reply.SerializeToString())
    assert back.outputs[0].contents.int64_contents == [3]
    assert back.raw_output_contents == [b"\x03"]
    meta = triton.ModelMetadataResponse(name="m", versions=["1"], platform="p")
    meta.inputs.add(name="pixels", datatype="FP32", shape=[-1, 64])
    ours_meta = _pb.grpc_predict_v2_pb2.ModelMetadataResponse.FromString(meta.SerializeToString())
    assert list(ours_meta.inputs[0].shape) == [-1, 64]


def test_classify_and_regress_messages_match_tensorflow_serving():
    classification = pytest.importorskip("tensorflow_serving.apis.classification_pb2")
    regression = pytest.importorskip("tensorflow_serving.apis.regression_pb2")
    theirs = classification.ClassificationRequest()
    theirs.model_spec.name = "m"
    listed = theirs.input.example_list_with_context
    listed.context.features.feature["c"].bytes_list.value.append(b"ctx")
    example = listed.examples.add()
    example.features.feature["f"].float_list.value.extend([1.5, 2.0])
    example.features.feature["i"].int64_list.value.append(-4)
    ours = _pb.classification_pb2.ClassificationRequest.FromString(theirs.SerializeToString())
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    reply = _pb.classification_pb2.ClassificationResponse()
    reply.result.classifications.add().classes.add(label="cat", score=0.25)
    back = classification.ClassificationResponse.FromString(reply.SerializeToString())
    assert back.result.classifications[0].classes[0].label == "cat"
    regress = _pb.regression_pb2.RegressionResponse()
    regress.result.regressions.add(value=2.5)
    regress.model_spec.version.value = 3
    parsed = regression.RegressionResponse.FromString(regress.SerializeToString())
    assert parsed.result.regressions[0].value == 2.5
    assert parsed.model_spec.version.value == 3
