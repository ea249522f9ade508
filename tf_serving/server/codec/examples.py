"""``tf.Example`` inputs of ``:classify`` / ``:regress`` (JSON and the gRPC ``Input`` proto),
and their JSON results (``MakeJsonFromClassificationResult`` / ``...RegressionResult``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tensorflow.core.example import example_pb2, feature_pb2

from tf_serving.server.codec.b64 import decode_b64, is_b64
from tf_serving.server.codec.json_doc import dumps, format_error_of, json_type, utf8
from tf_serving.server.errors import InvalidArgument

_FEATURE_KIND_NAMES = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}


def _add_to_feature(value: Any, name: str, feature: feature_pb2.Feature) -> None:
    """``AddValueToFeature``: one JSON value joins the feature's list (one kind per list)."""
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_b64(value)):
        raise InvalidArgument(
            f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
        )
    if isinstance(value, bool) or (isinstance(value, int) and not isinstance(value, float)):
        kind = "int64_list"
    elif isinstance(value, float):
        kind = "float_list"
    else:
        kind = "bytes_list"
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        raise InvalidArgument(
            f"Unexpected element type in feature: {name} expecting type: "
            f"{_FEATURE_KIND_NAMES[current]}"
        )
    if kind == "int64_list":
        number = int(value)
        if number >= 2**63:
            raise InvalidArgument(
                f"Feature: {name} has uint64_t element. Only int64_t is supported."
            )
        if number < -(2**63):  # rapidjson reads it as a double
            feature.float_list.value.append(float(number))
            return
        feature.int64_list.value.append(number)
    elif kind == "float_list":
        feature.float_list.value.append(value)
    elif isinstance(value, str):
        feature.bytes_list.value.append(utf8(value))
    else:
        feature.bytes_list.value.append(decode_b64(value))


def _example(obj: Any) -> example_pb2.Example:
    """``MakeExampleFromJsonObject``."""
    if not isinstance(obj, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type(obj)}")
    example = example_pb2.Example()
    for name, content in obj.items():
        feature = feature_pb2.Feature()
        for value in content if isinstance(content, list) else [content]:
            _add_to_feature(value, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def decode_examples(doc: dict[str, Any]) -> list[bytes]:
    """A ``:classify`` / ``:regress`` body -> serialized ``tf.Example`` s (context merged).

    Follows ``FillClassifyRegressRequestFromJson``, including its wording "When method is
    classify" for a missing key, which TF Serving uses for ``:regress`` too.
    """
    context = _example(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise format_error_of(
            doc, "When method is classify, key 'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise format_error_of(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error_of(doc, "'examples' value is an empty array")
    prefix = context.SerializeToString() if context is not None else b""
    # ExampleListWithContext: TF Serving feeds context bytes + example bytes, which parse
    # as one Example whose own features win on a shared name.
    return [prefix + _example(obj).SerializeToString() for obj in examples]


def encode_classification(results: Sequence[Sequence[tuple[str, float]]]) -> bytes:
    """``[[(label, score), ...], ...]`` -> ``{"results": [[["label", score], ...], ...]}``.

    The key is ``results`` as ``MakeJsonFromClassificationResult`` writes it (the REST
    guide's "result" is wrong).
    """
    if not results:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    body = {"results": [[[label, score] for label, score in row] for row in results]}
    non_finite = any(not math.isfinite(s) for row in results for _, s in row)
    return dumps(body, non_finite)


def encode_regression(values: Sequence[float]) -> bytes:
    """``[v, ...]`` -> ``{"results": [v, ...]}`` (``MakeJsonFromRegressionResult``)."""
    if not values:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return dumps({"results": list(values)}, any(not math.isfinite(v) for v in values))


def input_proto_to_examples(proto: Any) -> list[bytes]:
    """A ``tensorflow.serving.Input`` (example list, optionally with context) -> bytes."""
    kind = proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(proto.example_list.examples)
        context = None
    elif kind == "example_list_with_context":
        examples = list(proto.example_list_with_context.examples)
        context = proto.example_list_with_context.context
    else:
        raise InvalidArgument("Input is empty.")
    if not examples:
        raise InvalidArgument("Input is empty.")
    prefix = context.SerializeToString() if context is not None else b""
    return [prefix + example.SerializeToString() for example in examples]
