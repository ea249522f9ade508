"""Sample request bodies per model (v1 and v2 JSON), for the curls that `tandem up` prints.

The bodies come from `tandem.export.samples.request_bodies` (the wire package's encoders). Demo
data is passed in by the caller (the CLI), never imported: library code does not know the demo
models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.export.samples import request_bodies, sample_inputs
from tandem.manifest import ModelSpec

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class KnownExample:
    """One input row whose answer the caller knows (e.g. a held-out digit and its label).

    `features` is one flat row, shape (1, n); every model whose single float32 input holds n
    values gets it, reshaped, instead of random data, so its printed curl can be checked.
    """

    features: Array
    label: int


def write_sample_requests(
    models: Sequence[ModelSpec], folder: Path, example: KnownExample | None = None
) -> dict[str, dict[str, Path]]:
    """Write `<model>.v1.json` and `<model>.v2.json` per model into `folder`; returns the paths.

    A model that takes `example` gets it (and `expected_label.txt` names its answer); any
    other model gets deterministic sample data of its declared spec.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Path]] = {}
    for m in models:
        fitted = _fit(m, example.features) if example is not None else None
        arrays = [fitted] if fitted is not None else sample_inputs(m.inputs, 1)
        paths = {"v1": folder / f"{m.name}.v1.json", "v2": folder / f"{m.name}.v2.json"}
        v1, v2 = request_bodies(m.inputs, list(arrays))
        paths["v1"].write_bytes(v1)
        paths["v2"].write_bytes(v2)
        out[m.name] = paths
    if example is not None:
        (folder / "expected_label.txt").write_text(f"{example.label}\n")
    return out


def _fit(m: ModelSpec, flat: Array) -> Array | None:
    """`flat` reshaped to the model's declared input, when the model takes that many values."""
    spec = m.inputs[0]
    if len(m.inputs) != 1 or spec.dtype != "float32":
        return None
    shape = list(spec.shape[1:])
    if -1 in shape or int(np.prod(shape)) != flat.shape[1]:
        return None
    return flat.reshape(flat.shape[0], *shape).astype(np.float32)
