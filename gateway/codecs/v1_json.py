"""TF Serving REST v1 ``:predict`` bodies ↔ named numpy arrays.

Row format (``{"instances": [...]}`` → ``{"predictions": [...]}``) and columnar format
(``{"inputs": ...}`` → ``{"outputs": ...}``), with ``{"b64": "..."}`` for binary strings.
Spec: https://www.tensorflow.org/tfx/serving/api_rest#predict_api
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from gateway.codecs.arrays import array_to_json, json_to_array
from gateway.errors import BadRequest, InvalidTensor

_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class V1PredictRequest:
    """A decoded ``:predict`` body."""

    signature_name: str | None
    inputs: dict[str, np.ndarray]
    layout: Literal["row", "columnar"]


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def decode_predict(body: Any, input_dtypes: Mapping[str, str]) -> V1PredictRequest:
    """Decode a parsed ``:predict`` JSON body using the model's input dtypes (name → dtype)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    signature = body.get("signature_name")
    if signature is not None and not isinstance(signature, str):
        raise BadRequest("'signature_name' must be a string")
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows == has_cols:
        raise BadRequest("request must contain exactly one of 'instances' or 'inputs'")
    names = list(input_dtypes)
    if has_rows:
        return V1PredictRequest(signature, _decode_rows(body["instances"], input_dtypes), "row")
    columns = body["inputs"]
    if isinstance(columns, dict) and not _is_b64(columns):
        inputs = {k: _convert(k, v, input_dtypes) for k, v in columns.items()}
    elif len(names) == 1:
        inputs = {names[0]: _convert(names[0], columns, input_dtypes)}
    else:
        raise BadRequest(f"model has {len(names)} inputs; 'inputs' must be an object {names}")
    return V1PredictRequest(signature, inputs, "columnar")


def _convert(name: str, value: Any, input_dtypes: Mapping[str, str]) -> np.ndarray:
    dtype = input_dtypes.get(name)
    if dtype is None:
        raise InvalidTensor(f"unknown input {name!r}; expected inputs {list(input_dtypes)}")
    return json_to_array(name, value, dtype)


def _decode_rows(instances: Any, input_dtypes: Mapping[str, str]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list")
    names = list(input_dtypes)
    first = instances[0]
    if isinstance(first, dict) and not _is_b64(first):
        columns: dict[str, list[Any]] = {}
        for row in instances:
            if not isinstance(row, dict) or row.keys() != first.keys():
                raise BadRequest("every instance must be an object with the same keys")
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        return {k: _convert(k, v, input_dtypes) for k, v in columns.items()}
    if len(names) != 1:
        raise BadRequest(f"model has {len(names)} inputs; instances must be objects {names}")
    return {names[0]: _convert(names[0], instances, input_dtypes)}


def encode_predict(outputs: Mapping[str, np.ndarray], layout: Literal["row", "columnar"]) -> bytes:
    """Encode named output arrays as a ``:predict`` response body (bytes)."""
    if layout == "columnar":
        if len(outputs) == 1:
            ((name, array),) = outputs.items()
            value: Any = _out(name, array)
        else:
            value = {name: _out(name, array) for name, array in outputs.items()}
        return orjson.dumps({"outputs": value}, option=_DUMPS_OPTS)
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return orjson.dumps({"predictions": _out(name, array)}, option=_DUMPS_OPTS)
    names = list(outputs)
    lists = [_as_list(name, outputs[name]) for name in names]
    batch = {len(column) for column in lists}
    if len(batch) != 1:
        # Outputs with different batch sizes cannot be zipped into rows: answer columnar.
        return encode_predict(outputs, "columnar")
    rows = [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
    return orjson.dumps({"predictions": rows}, option=_DUMPS_OPTS)


def _out(name: str, array: np.ndarray) -> Any:
    # TF Serving base64-encodes string outputs whose name ends in "_bytes".
    return array_to_json(array, force_b64=name.endswith("_bytes"))


def _as_list(name: str, array: np.ndarray) -> list[Any]:
    value = _out(name, array)
    if isinstance(value, np.ndarray):
        return list(value.tolist()) if value.ndim else [value.item()]
    return value if isinstance(value, list) else [value]
