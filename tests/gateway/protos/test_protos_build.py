"""The stub build step: idempotent, and it extracts TorchServe's inference.proto."""

from __future__ import annotations

from gateway.protos import build


def test_build_is_idempotent():
    build.build()
    assert build.build() is False
    assert (build.OUT_DIR / "tensorflow_serving" / "apis" / "predict_pb2.py").is_file()


def test_torchserve_proto_is_extracted_when_the_jar_exists():
    if build.torchserve_jar() is None:
        return
    from gateway._pb import torchserve_modules

    inference_pb2, grpc_mod = torchserve_modules()
    request = inference_pb2.PredictionsRequest(
        model_name="m", model_version="1", input={"body": b"{}"}
    )
    assert request.input["body"] == b"{}"
    assert hasattr(grpc_mod, "InferenceAPIsServiceStub")
