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
