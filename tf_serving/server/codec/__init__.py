"""Pure conversions between TF Serving's JSON / protobuf wire formats and numpy.

No I/O and no server state: REST and gRPC handlers call these, and the unit tests drive
them with tables. One module per encoding:

    json_doc       parse a body as rapidjson does; echo values in error texts; write bodies
    b64            ``{"b64": ...}`` binary values
    json_tensor    one JSON value -> a tensor of the signature's dtype
    predict_json   the ``:predict`` body, row (``instances``) and columnar (``inputs``)
    examples       ``tf.Example`` inputs and results of ``:classify`` / ``:regress``
    tensor_proto   ``TensorProto`` <-> numpy (gRPC)
    tensor_spec    a signature's tensor with its TF dtype name

This server keeps its own codec rather than the gateway's shared one: parsing, type rules
and error texts port TF Serving's ``util/json_tensor.cc`` (rapidjson's messages, its
pretty-printed echo of the request, ``"results"`` for classify/regress), so clients that
match on TF Serving's exact wording keep working.
"""

from __future__ import annotations

from tf_serving.server.codec.examples import (
    decode_examples,
    encode_classification,
    encode_regression,
    input_proto_to_examples,
)
from tf_serving.server.codec.json_doc import debug_string, format_error, json_type, parse_json
from tf_serving.server.codec.json_tensor import MAX_RANK, json_to_array
from tf_serving.server.codec.predict_json import (
    RequestFormat,
    decode_predict_request,
    encode_predict_response,
    signature_name_of,
)
from tf_serving.server.codec.tensor_proto import array_to_tensor_proto, tensor_proto_to_array
from tf_serving.server.codec.tensor_spec import TensorSpec, dtype_name

__all__ = [
    "MAX_RANK",
    "RequestFormat",
    "TensorSpec",
    "array_to_tensor_proto",
    "debug_string",
    "decode_examples",
    "decode_predict_request",
    "dtype_name",
    "encode_classification",
    "encode_predict_response",
    "encode_regression",
    "format_error",
    "input_proto_to_examples",
    "json_to_array",
    "json_type",
    "parse_json",
    "signature_name_of",
    "tensor_proto_to_array",
]
