"""JSON values ↔ numpy arrays for one declared dtype, and JSON text (shared by v1 and v2).

Numbers convert only where nothing is lost (an int tensor refuses 1.5 and 300 for uint8);
strings are ``bytes`` elements, from text or ``{"b64": ...}``. JSON text keeps float32 as
float32 (shortest round-trip text, as TF Serving and TorchServe write it) and writes
NaN/Infinity as bare tokens, as TF Serving does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from wire.dtypes import NAME_TO_NUMPY
from wire.errors import WireError

try:  # the base install has orjson; the handler inside a .mar may run without it
    import orjson

    _FAST: Any = orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _FAST = None


# -- JSON text --------------------------------------------------------------------------------


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text; :class:`WireError` when it is not JSON."""
    try:
        if _FAST is not None:
            return _FAST.loads(raw)
        return json.loads(bytes(raw) if isinstance(raw, memoryview) else raw)
    except (ValueError, UnicodeDecodeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise WireError(f"body is not valid JSON: {exc}") from exc


def dumps(document: Any) -> bytes:
    """JSON text of a document whose leaves may be numpy arrays and scalars.

    NaN and infinities are written as bare ``NaN``/``Infinity`` tokens. orjson would write
    ``null`` for them: a ``null`` in its output (which these documents never hold otherwise,
    short of a string containing the word) sends the document down the slower stdlib path,
    so the check costs one byte scan instead of a pass over every float array.
    """
    if _FAST is not None:
        data: bytes = _FAST.dumps(document, option=_FAST.OPT_SERIALIZE_NUMPY)
        if b"null" not in data:
            return data
    return json.dumps(document, default=_plain, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- values -----------------------------------------------------------------------------------


def json_to_array(name: str, data: Any, dtype_name: str) -> np.ndarray:
    """Convert a (possibly nested) JSON value into an array of ``dtype_name``.

    Raises :class:`WireError` naming the tensor when the value cannot be converted losslessly.
    """
    want = NAME_TO_NUMPY.get(dtype_name)
    if want is None:
        raise WireError(f"input {name!r}: unsupported dtype {dtype_name!r}", tensor=name)
    if want.kind == "f":
        # The fast path (one conversion, no float64 detour). Like numpy, it also reads
        # numeric strings; anything else it cannot convert gets the precise message below.
        try:
            return np.asarray(data, dtype=want)
        except (ValueError, TypeError, OverflowError):
            pass
    if dtype_name == "string":
        try:
            flat, shape = flatten_nested(data)
            return object_array(flat).reshape(shape)
        except (ValueError, TypeError) as exc:
            raise WireError(f"input {name!r}: {_short(exc)}", tensor=name) from exc
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise WireError(
            f"input {name!r}: ragged or malformed values ({_short(exc)})", tensor=name
        ) from exc
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(want)
    if want.kind == "f":
        ok = kind in "fiub"
    elif want.kind in "iu":
        ok = kind in "iub"
        if ok and kind != "b" and array.dtype != want:
            info = np.iinfo(want)
            if int(array.min()) < info.min or int(array.max()) > info.max:
                raise WireError(
                    f"input {name!r}: values out of range for {dtype_name}", tensor=name
                )
    else:
        ok = kind == "b"
    if not ok:
        shown = "non-numeric values" if kind in "OUSV" else f"{array.dtype} values"
        raise WireError(f"input {name!r}: expected {dtype_name}, got {shown}", tensor=name)
    return array.astype(want, copy=False)


def array_to_json(array: np.ndarray, *, force_b64: bool = False) -> Any:
    """An array as something :func:`dumps` writes: numeric arrays stay (C-contiguous,
    little-endian) arrays, written without a Python-list detour and in their own precision;
    string arrays become nested lists of text or ``{"b64": ...}`` objects."""
    if array.dtype == object or array.dtype.kind in "SU":
        flat = [
            to_json_string(v if isinstance(v, bytes) else str(v).encode(), force_b64=force_b64)
            for v in array.reshape(-1).tolist()
        ]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype == np.float16:
        array = array.astype(np.float32)  # exact: every half is a float
    return np.ascontiguousarray(array)


# -- strings ----------------------------------------------------------------------------------


def to_bytes(value: Any) -> bytes:
    """One string element from JSON: ``str`` (UTF-8), ``{"b64": ...}`` or ``bytes``."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        return base64.b64decode(value["b64"], validate=True)
    raise ValueError(f"expected a string or {{'b64': ...}}, got {type(value).__name__}")


def object_array(values: Iterable[Any]) -> np.ndarray:
    """A flat object array of ``bytes`` from JSON string elements."""
    items = [to_bytes(v) for v in values]
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def to_json_string(value: bytes, *, force_b64: bool = False) -> Any:
    """A ``bytes`` element as JSON: text when it is UTF-8, else ``{"b64": ...}``."""
    if not force_b64:
        try:
            return value.decode()
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode()}


def flatten_nested(data: Any) -> tuple[list[Any], tuple[int, ...]]:
    """Flatten a nested list of string elements, returning the elements and the shape."""
    shape: list[int] = []
    probe = data
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise ValueError("ragged nested list")
            flat.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise ValueError("ragged nested list")
        for child in node:
            walk(child, depth + 1)

    walk(data, 0)
    return flat, tuple(shape)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
