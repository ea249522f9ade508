"""An unmodified ``tritonclient.grpc`` against the gateway's gRPC port; run as a subprocess in
its own virtualenv (tritonclient pins protobuf below the project's). Not a test module.

Usage: ``python triton_grpc_client.py URL KEY MODEL INPUT IMAGES.npy OUT.npz``. Writes every
answer to OUT.npz (arrays) and prints a JSON object of the statuses and metadata seen.
``python triton_grpc_client.py --deadline URL KEY MODEL INPUT IMAGES.npy`` makes one call with
a 0.5 s ``client_timeout`` and prints its status the same way.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException


def _status(call):  # type: ignore[no-untyped-def]
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return {"status": "OK", "message": ""}


def main() -> None:
    url, key, model, input_name, images_path, out_path = sys.argv[1:7]
    images = np.load(images_path)
    headers = {"x-api-key": key}
    client = grpcclient.InferenceServerClient(url=url)
    report: dict[str, object] = {}
    arrays: dict[str, np.ndarray] = {}

    report["live"] = client.is_server_live(headers=headers)
    report["model_ready"] = client.is_model_ready(model, headers=headers)
    meta = client.get_model_metadata(model, headers=headers, as_json=True)
    report["metadata"] = meta

    # Raw contents (how tritonclient always sends), every output.
    inp = grpcclient.InferInput(input_name, list(images.shape), "FP32")
    inp.set_data_from_numpy(images)
    result = client.infer(model, [inp], headers=headers, client_timeout=30)
    for output in result.get_response().outputs:
        arrays[f"raw_{output.name}"] = result.as_numpy(output.name)
    report["raw_version"] = result.get_response().model_version

    # One requested output, pinned to version 1 and to the label "stable".
    wanted = [grpcclient.InferRequestedOutput("label")]
    result = client.infer(model, [inp], outputs=wanted, model_version="1", headers=headers)
    report["requested_outputs"] = [o.name for o in result.get_response().outputs]
    arrays["v1_label"] = result.as_numpy("label")
    result = client.infer(model, [inp], outputs=wanted, model_version="stable", headers=headers)
    report["label_version"] = result.get_response().model_version
    arrays["stable_label"] = result.as_numpy("label")

    # Typed contents, through tritonclient's own protobuf stubs.
    import grpc

    with grpc.insecure_channel(url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name=model, id="typed-1")
        tensor = request.inputs.add(name=input_name, datatype="FP32", shape=list(images.shape))
        tensor.contents.fp32_contents.extend(images.reshape(-1).tolist())
        response = stub.ModelInfer(request, metadata=tuple(headers.items()), timeout=30)
        report["typed_id"] = response.id
        report["typed_raw"] = len(response.raw_output_contents)
        for output in response.outputs:
            if output.datatype == "FP32":
                values = np.asarray(output.contents.fp32_contents, np.float32)
            else:
                values = np.asarray(output.contents.int64_contents, np.int64)
            arrays[f"typed_{output.name}"] = values.reshape(list(output.shape))

    # Errors: bad input, unknown model, missing key (the deadline: `deadline`, against a hung
    # backend; a tiny client_timeout is no test: gRPC sends it rounded up to ~1 ms, in which a
    # fast model answers, measured OK 290 times in 300 against a trivial server).
    bad = grpcclient.InferInput(input_name, list(images.shape), "FP64")
    bad.set_data_from_numpy(images.astype(np.float64))
    report["bad_input"] = _status(lambda: client.infer(model, [bad], headers=headers))
    report["unknown_model"] = _status(lambda: client.infer("no_such_model", [inp], headers=headers))
    report["missing_key"] = _status(lambda: client.infer(model, [inp]))
    client.close()
    np.savez(out_path, **arrays)
    print(json.dumps(report, default=str))


def deadline() -> None:
    url, key, model, input_name, images_path = sys.argv[2:7]
    images = np.load(images_path)
    client = grpcclient.InferenceServerClient(url=url)
    inp = grpcclient.InferInput(input_name, list(images.shape), "FP32")
    inp.set_data_from_numpy(images)
    headers = {"x-api-key": key}
    print(
        json.dumps(_status(lambda: client.infer(model, [inp], headers=headers, client_timeout=0.5)))
    )
    client.close()


if __name__ == "__main__":
    deadline() if sys.argv[1] == "--deadline" else main()
