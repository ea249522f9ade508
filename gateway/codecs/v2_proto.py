"""numpy arrays ↔ OIP v2 gRPC tensors (``inference.ModelInferRequest``/``Response``).

A tensor travels either typed, in the ``InferTensorContents`` field of its datatype, or as
raw little-endian bytes in ``raw_input_contents``/``raw_output_contents`` (one entry per
tensor, in order; BYTES elements 4-byte length-prefixed), as KServe and Triton define it.
Raw contents are read zero-copy (numpy views of the request's bytes). Pure functions: the
messages are built by the caller's generated classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wire import WireError
from wire.arrays import dumps
from wire.dtypes import NAME_TO_NUMPY, NAME_TO_V2, V2_TO_NAME, name_of
from wire.v2 import decode_binary_tensor, encode_binary_tensor

#: dtype name → the ``InferTensorContents`` field that carries it (FP16 has none).
CONTENTS_FIELD: dict[str, str] = {
    "bool": "bool_contents",
    "int8": "int_contents",
    "int16": "int_contents",
    "int32": "int_contents",
    "int64": "int64_contents",
    "uint8": "uint_contents",
    "uint16": "uint_contents",
    "uint32": "uint_contents",
    "uint64": "uint64_contents",
    "float32": "fp32_contents",
    "float64": "fp64_contents",
    "string": "bytes_contents",
}


@dataclass(slots=True)
class DecodedInfer:
    """A decoded ``ModelInferRequest``: arrays by input name, in request order."""

    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...] | None
    raw: bool
    """Whether the inputs came as ``raw_input_contents`` (the answer then comes raw too)."""
    raw_inputs: list[tuple[str, str, tuple[int, ...], bytes]] = field(default_factory=list)
    """``(name, datatype, shape, bytes)`` of each raw input, to forward as they came."""


def _shape(name: str, dims: Sequence[int], max_elements: int) -> tuple[int, ...]:
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise WireError(
            f"input {name!r}: shape {list(shape)} has a negative dimension", tensor=name
        )
    if math.prod(shape) > max_elements:
        raise WireError(
            f"input {name!r}: shape {list(shape)} has more elements than the message limit",
            tensor=name,
        )
    return shape


def _dtype_name(name: str, datatype: str) -> str:
    dtype_name = V2_TO_NAME.get(datatype)
    if dtype_name is None:
        raise WireError(
            f"input {name!r}: unsupported datatype {datatype!r}; supported: {sorted(V2_TO_NAME)}",
            tensor=name,
        )
    return dtype_name


def _typed(name: str, contents: Any, dtype_name: str, shape: tuple[int, ...]) -> np.ndarray:
    field_name = CONTENTS_FIELD.get(dtype_name)
    if field_name is None:
        raise WireError(
            f"input {name!r}: {NAME_TO_V2[dtype_name]} has no typed contents; send it as "
            "raw_input_contents",
            tensor=name,
        )
    for other in CONTENTS_FIELD.values():
        if other != field_name and len(getattr(contents, other)):
            raise WireError(
                f"input {name!r}: datatype {NAME_TO_V2[dtype_name]} expects {field_name}, "
                f"got {other}",
                tensor=name,
            )
    values = getattr(contents, field_name)
    count = math.prod(shape)
    if len(values) != count:
        raise WireError(
            f"input {name!r}: shape {list(shape)} needs {count} values, got {len(values)}",
            tensor=name,
        )
    if dtype_name == "string":
        flat = np.empty(count, dtype=object)
        flat[:] = list(values)
        return flat.reshape(shape)
    dtype = NAME_TO_NUMPY[dtype_name]
    try:
        # int_contents/uint_contents are 32-bit on the wire: narrower types must fit.
        wide_type = {"i": np.int64, "u": np.uint64}.get(dtype.kind, dtype)
        wide = np.asarray(values, dtype=wide_type)
        array = wide.astype(dtype)
        if dtype.kind in "iu" and not np.array_equal(array, wide):
            raise OverflowError
    except (OverflowError, ValueError):
        raise WireError(
            f"input {name!r}: a value does not fit {NAME_TO_V2[dtype_name]}", tensor=name
        ) from None
    return array.reshape(shape)


def decode_infer_request(request: Any, *, max_elements: int) -> DecodedInfer:
    """Read a ``ModelInferRequest`` into arrays (:class:`WireError` for a bad tensor).

    ``max_elements`` bounds a tensor's element count (a shape is free to claim anything)."""
    raws = list(request.raw_input_contents)
    if raws and len(raws) != len(request.inputs):
        raise WireError(
            f"raw_input_contents has {len(raws)} entries for {len(request.inputs)} inputs"
        )
    inputs: dict[str, np.ndarray] = {}
    raw_inputs: list[tuple[str, str, tuple[int, ...], bytes]] = []
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if not name:
            raise WireError("each input needs a name")
        if name in inputs:
            raise WireError(f"input {name!r} is given twice", tensor=name)
        dtype_name = _dtype_name(name, tensor.datatype)
        shape = _shape(name, tensor.shape, max_elements)
        if raws:
            if tensor.HasField("contents"):
                raise WireError(
                    f"input {name!r}: contents and raw_input_contents cannot be mixed", tensor=name
                )
            raw = raws[index]
            inputs[name] = decode_binary_tensor(name, memoryview(raw), dtype_name, shape)
            raw_inputs.append((name, tensor.datatype, shape, raw))
        else:
            inputs[name] = _typed(name, tensor.contents, dtype_name, shape)
    outputs = tuple(o.name for o in request.outputs) or None
    return DecodedInfer(inputs, outputs, bool(raws), raw_inputs)


def fill_infer_response(response: Any, outputs: Mapping[str, np.ndarray], *, raw: bool) -> None:
    """Add ``outputs`` to a ``ModelInferResponse``: raw bytes when ``raw`` or when a tensor
    has no typed field (FP16), else typed contents."""
    names = [name_of(a) for a in outputs.values()]
    raw = raw or any(n not in CONTENTS_FIELD for n in names)
    for (name, array), dtype_name in zip(outputs.items(), names, strict=True):
        tensor = response.outputs.add(name=name, datatype=NAME_TO_V2[dtype_name])
        tensor.shape.extend(array.shape)
        if raw:
            response.raw_output_contents.append(encode_binary_tensor(array))
            continue
        values = getattr(tensor.contents, CONTENTS_FIELD[dtype_name])
        flat = array.reshape(-1)
        if dtype_name == "string":
            values.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat.tolist())
        else:
            values.extend(flat.tolist())


def infer_body_from_raw(
    raw_inputs: Sequence[tuple[str, str, tuple[int, ...], bytes]],
    outputs: Sequence[str] | None,
    request_id: str,
) -> tuple[bytes, int]:
    """A v2 binary-extension REST body made of the client's raw tensors, byte for byte
    (for a v2-speaking backend): JSON header, then each tensor's bytes. Returns
    ``(body, header_length)``."""
    header: dict[str, Any] = {
        "id": request_id,
        "inputs": [
            {
                "name": name,
                "datatype": datatype,
                "shape": list(shape),
                "parameters": {"binary_data_size": len(raw)},
            }
            for name, datatype, shape, raw in raw_inputs
        ],
        "parameters": {"binary_data_output": True},
    }
    if outputs:
        header["outputs"] = [{"name": n} for n in outputs]
    head = dumps(header)
    return b"".join([head, *(raw for *_, raw in raw_inputs)]), len(head)
