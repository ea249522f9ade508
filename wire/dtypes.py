"""Dtype names across every format: numpy-style names (manifest, route file, handler spec)
↔ OIP v2 datatypes ↔ TensorFlow ``DataType`` numbers and enum names.

Strings are numpy ``object`` arrays of ``bytes``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np

DTypeName = Literal[
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "string",
]

#: name → (v2 datatype, TF DataType number, TF enum name, numpy dtype, little-endian)
_TABLE: Final[dict[str, tuple[str, int, str, np.dtype[Any]]]] = {
    "bool": ("BOOL", 10, "DT_BOOL", np.dtype(np.bool_)),
    "uint8": ("UINT8", 4, "DT_UINT8", np.dtype("<u1")),
    "uint16": ("UINT16", 17, "DT_UINT16", np.dtype("<u2")),
    "uint32": ("UINT32", 22, "DT_UINT32", np.dtype("<u4")),
    "uint64": ("UINT64", 23, "DT_UINT64", np.dtype("<u8")),
    "int8": ("INT8", 6, "DT_INT8", np.dtype("<i1")),
    "int16": ("INT16", 5, "DT_INT16", np.dtype("<i2")),
    "int32": ("INT32", 3, "DT_INT32", np.dtype("<i4")),
    "int64": ("INT64", 9, "DT_INT64", np.dtype("<i8")),
    "float16": ("FP16", 19, "DT_HALF", np.dtype("<f2")),
    "float32": ("FP32", 1, "DT_FLOAT", np.dtype("<f4")),
    "float64": ("FP64", 2, "DT_DOUBLE", np.dtype("<f8")),
    "string": ("BYTES", 7, "DT_STRING", np.dtype(object)),
}

NAME_TO_V2: Final[dict[str, str]] = {k: v[0] for k, v in _TABLE.items()}
V2_TO_NAME: Final[dict[str, str]] = {v[0]: k for k, v in _TABLE.items()}
NAME_TO_TF: Final[dict[str, int]] = {k: v[1] for k, v in _TABLE.items()}
TF_TO_NAME: Final[dict[int, str]] = {v[1]: k for k, v in _TABLE.items()}
NAME_TO_NUMPY: Final[dict[str, np.dtype[Any]]] = {k: v[3] for k, v in _TABLE.items()}
#: TF enum names (``DT_FLOAT``) as the TF Serving REST API prints them, by DataType number.
TF_ENUM_NAMES: Final[dict[int, str]] = {v[1]: v[2] for v in _TABLE.values()}
TF_ENUM_VALUES: Final[dict[str, int]] = {v: k for k, v in TF_ENUM_NAMES.items()}


def name_of(array: np.ndarray) -> str:
    """numpy-style dtype name of ``array`` (``string`` for object/bytes arrays)."""
    kind = array.dtype.kind
    if kind in "OSU":
        return "string"
    if kind == "b":
        return "bool"
    return array.dtype.name
