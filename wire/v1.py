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

from wire.arrays import array_to_json, dumps, json_to_array
from wire.errors import WireError

Layout = Literal["row", "columnar"]


@dataclass(slots=True)
class V1PredictRequest:
    """A decoded ``:predict`` body: arrays by input name, converted to the declared dtypes."""

    signature_name: str | None
    inputs: dict[str, np.ndarray]
    layout: Layout


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def decode_predict(body: Any, input_dtypes: Mapping[str, str]) -> V1PredictRequest:
    """Decode a parsed ``:predict`` JSON body using the model's input dtypes (name → dtype).

    Names and dtypes are checked here; shapes and batch sizes by
    :func:`wire.spec.validate_inputs`.
    """
    if not isinstance(body, dict):
        raise WireError("request body must be a JSON object")
    signature = body.get("signature_name")
    if signature is not None and not isinstance(signature, str):
        raise WireError("'signature_name' must be a string")
    has_rows, has_cols = "instances" in body, "inputs" in body
    if has_rows and has_cols:
        raise WireError("request has both 'instances' and 'inputs': send only one")
    if not has_rows and not has_cols:
        raise WireError("missing 'instances' or 'inputs' key in request")
    names = list(input_dtypes)
    if has_rows:
        return V1PredictRequest(signature, _decode_rows(body["instances"], input_dtypes), "row")
    columns = body["inputs"]
    if isinstance(columns, dict) and not _is_b64(columns):
        inputs = {k: _convert(k, v, input_dtypes) for k, v in columns.items()}
    elif len(names) == 1:
        inputs = {names[0]: _convert(names[0], columns, input_dtypes)}
    else:
        raise WireError(f"model has {len(names)} inputs; 'inputs' must be an object {names}")
    return V1PredictRequest(signature, inputs, "columnar")


def _convert(name: str, value: Any, input_dtypes: Mapping[str, str]) -> np.ndarray:
    dtype = input_dtypes.get(name)
    if dtype is None:
        raise WireError(
            f"unknown input {name!r}; expected inputs {list(input_dtypes)}", tensor=name
        )
    return json_to_array(name, value, dtype)


def _decode_rows(instances: Any, input_dtypes: Mapping[str, str]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise WireError("'instances' must be a non-empty list")
    names = list(input_dtypes)
    first = instances[0]
    if isinstance(first, dict) and not _is_b64(first):
        columns: dict[str, list[Any]] = {}
        for row in instances:
            if not isinstance(row, dict) or row.keys() != first.keys():
                raise WireError("every instance must be an object with the same keys")
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        return {k: _convert(k, v, input_dtypes) for k, v in columns.items()}
    if len(names) != 1:
        raise WireError(f"model has {len(names)} inputs; instances must be objects {names}")
    return {names[0]: _convert(names[0], instances, input_dtypes)}


def encode_predict(outputs: Mapping[str, np.ndarray], layout: Layout) -> bytes:
    """Encode named output arrays as a ``:predict`` response body (bytes)."""
    if layout == "columnar":
        if len(outputs) == 1:
            ((name, array),) = outputs.items()
            value: Any = _out(name, array)
        else:
            value = {name: _out(name, array) for name, array in outputs.items()}
        return dumps({"outputs": value})
    if len(outputs) == 1:
        ((name, array),) = outputs.items()
        return dumps({"predictions": _out(name, array)})
    names = list(outputs)
    columns = [_rows(name, outputs[name]) for name in names]
    if len({len(column) for column in columns}) != 1:
        # Outputs with different batch sizes cannot be zipped into rows: answer columnar.
        return encode_predict(outputs, "columnar")
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return dumps({"predictions": rows})


def _out(name: str, array: np.ndarray) -> Any:
    # TF Serving base64-encodes string outputs whose name ends in "_bytes".
    return array_to_json(array, force_b64=name.endswith("_bytes"))


def _rows(name: str, array: np.ndarray) -> list[Any]:
    """One output cut into rows that keep their dtype (numpy rows, not Python floats)."""
    value = _out(name, array)
    if isinstance(value, np.ndarray):
        return [value[()]] if value.ndim == 0 else list(value)
    return value if isinstance(value, list) else [value]
