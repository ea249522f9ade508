"""Tensor specs, the TorchServe handler's model spec, and checking tensors against specs.

One :class:`TensorSpec` serves the route file (the gateway), the handler's
``tandem_spec.json`` and validation; :func:`validate_inputs` is the one input check, run by the
gateway before any backend call and by the handler on direct calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wire.dtypes import NAME_TO_V2, DTypeName, name_of
from wire.errors import WireError

SPEC_FILE = "tandem_spec.json"
"""Where the handler's :class:`ModelIO` lives inside a ``.mar``."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output of a model: name, numpy-style dtype and shape (-1 = any size)."""

    name: str
    dtype: DTypeName
    shape: tuple[int, ...]

    def describe(self) -> str:
        """``'pixels' float32 (FP32) [-1, 64]``: how every error message names a tensor."""
        return f"{self.name!r} {self.dtype} ({NAME_TO_V2[self.dtype]}) {shape_text(self.shape)}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorSpec:
        dtype = data["dtype"]
        if dtype not in NAME_TO_V2:
            raise WireError(f"tensor {data['name']!r}: unknown dtype {dtype!r}")
        try:
            shape = check_shape(data["shape"])
        except WireError as exc:
            raise WireError(f"tensor {data['name']!r}: {exc.message}") from None
        return cls(str(data["name"]), dtype, shape)


@dataclass(frozen=True, slots=True)
class ModelIO:
    """What the TorchServe handler knows about its archived model (written at export)."""

    name: str
    version: str
    format: str
    serialized_file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    model_file: str | None = None
    model_class: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelIO:
        return cls(
            name=data["name"],
            version=str(data["version"]),
            format=data["format"],
            serialized_file=data["serialized_file"],
            inputs=tuple(TensorSpec.from_json(i) for i in data["inputs"]),
            outputs=tuple(TensorSpec.from_json(o) for o in data["outputs"]),
            model_file=data.get("model_file"),
            model_class=data.get("model_class"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "format": self.format,
            "serialized_file": self.serialized_file,
            "model_file": self.model_file,
            "model_class": self.model_class,
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
        }


def check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The dimensions as a tuple: each a positive size or -1 (any size), else WireError.

    The rule of every spec: the route file, the handler's spec and the manifest's."""
    dims = tuple(int(d) for d in shape)
    if any(d == 0 or d < -1 for d in dims):
        raise WireError("dimensions are positive sizes or -1")
    return dims


def concrete_shape(shape: Sequence[int], batch: int) -> tuple[int, ...]:
    """The shape of a sample request: a free batch (first dimension -1) set to ``batch``,
    every other free dimension 1; a fixed first dimension stays."""
    if not shape:
        return ()
    first = shape[0] if shape[0] > 0 else batch
    return (first, *[d if d > 0 else 1 for d in shape[1:]])


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def validate_inputs(
    specs: Sequence[TensorSpec],
    inputs: Mapping[str, np.ndarray],
    *,
    max_batch_size: int | None = None,
    shapes: bool = True,
) -> dict[str, np.ndarray]:
    """Check names, dtypes, shapes and batch size; return the inputs in spec order.

    Raises :class:`WireError` (naming the tensor) whose message states the expected name,
    dtype and shape. Inputs whose spec is batched (first dimension -1) must agree on it.
    ``shapes=False`` is TF Serving's leniency: shapes are left to the model's ops, and only
    inputs of the spec's rank are held to the batch rules.
    """
    names = {s.name for s in specs}
    for name in inputs:
        if name not in names:
            raise WireError(f"unknown input {name!r}; expected inputs: {_all(specs)}", tensor=name)
    ordered: dict[str, np.ndarray] = {}
    batch: int | None = None
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None:
            raise WireError(
                f"missing input {spec.describe()}; expected inputs: {_all(specs)}", tensor=spec.name
            )
        got = name_of(array)
        if got != spec.dtype:
            raise WireError(
                f"input {spec.name!r}: expected {spec.describe()}, got {got} "
                f"({NAME_TO_V2.get(got, got)}) {shape_text(array.shape)}",
                tensor=spec.name,
            )
        rank_ok = len(array.shape) == len(spec.shape)
        exact = rank_ok and all(
            want < 0 or want == have for want, have in zip(spec.shape, array.shape, strict=True)
        )
        if shapes and not exact:
            raise WireError(
                f"input {spec.name!r}: expected shape {shape_text(spec.shape)} "
                f"({spec.describe()}), got shape {shape_text(array.shape)}",
                tensor=spec.name,
            )
        if spec.shape and spec.shape[0] < 0 and rank_ok:
            rows = array.shape[0]
            if max_batch_size and rows > max_batch_size:
                raise WireError(
                    f"input {spec.name!r}: batch of {rows} exceeds max_batch_size {max_batch_size}",
                    tensor=spec.name,
                )
            if batch is not None and rows != batch:
                raise WireError(
                    f"inputs disagree on the batch size: {sorted({batch, rows})}",
                    tensor=spec.name,
                )
            batch = rows
        ordered[spec.name] = array
    return ordered


def check_outputs(specs: Sequence[TensorSpec], requested: Sequence[str]) -> None:
    """Raise :class:`WireError` unless every requested output name is one of ``specs``."""
    known = [s.name for s in specs]
    for name in requested:
        if name not in known:
            raise WireError(f"unknown output {name!r}; outputs: {sorted(known)}", tensor=name)


def _all(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(s.describe() for s in specs)
