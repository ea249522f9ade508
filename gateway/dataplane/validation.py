"""Pure checks of request tensors against a model's input spec (before any backend call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gateway.codecs.dtypes import NAME_TO_V2, name_of
from gateway.errors import InvalidTensor
from gateway.route_table import TensorSpec


def describe(spec: TensorSpec) -> str:
    """``'pixels' float32 (FP32) [-1, 64]`` — how error messages name an expected tensor."""
    return f"{spec.name!r} {spec.dtype} ({NAME_TO_V2[spec.dtype]}) {list(spec.shape)}"


def validate_inputs(
    specs: Sequence[TensorSpec],
    inputs: Mapping[str, np.ndarray],
    *,
    max_batch_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Check names, dtypes, shapes and batch size; return the inputs in spec order.

    Raises :class:`InvalidTensor` whose message states the expected name, dtype and shape.
    """
    names = {s.name for s in specs}
    for name in inputs:
        if name not in names:
            raise InvalidTensor(f"unknown input {name!r}; expected inputs: {_all(specs)}")
    ordered: dict[str, np.ndarray] = {}
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None:
            raise InvalidTensor(f"missing input {describe(spec)}; expected inputs: {_all(specs)}")
        got = name_of(array)
        if got != spec.dtype:
            raise InvalidTensor(
                f"input {spec.name!r}: expected {describe(spec)}, got {got} "
                f"({NAME_TO_V2.get(got, got)}) {list(array.shape)}"
            )
        if len(array.shape) != len(spec.shape) or any(
            want >= 0 and want != have for want, have in zip(spec.shape, array.shape, strict=True)
        ):
            raise InvalidTensor(
                f"input {spec.name!r}: expected {describe(spec)}, got shape {list(array.shape)}"
            )
        if max_batch_size and spec.shape and spec.shape[0] < 0 and array.shape[0] > max_batch_size:
            raise InvalidTensor(
                f"input {spec.name!r}: batch of {array.shape[0]} exceeds max_batch_size "
                f"{max_batch_size}"
            )
        ordered[spec.name] = array
    return ordered


def _all(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(describe(s) for s in specs)
