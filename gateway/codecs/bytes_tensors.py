"""Helpers for string (BYTES) tensors: numpy object arrays of ``bytes``."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import numpy as np


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
