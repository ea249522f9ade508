"""Sample request bodies per model (v1 and v2 JSON), for the curls that `tandem up` prints.

The only place in `tandem/` that builds inference request bodies: when the wire-contract
package lands, `v1_body`/`v2_body` switch over to it here and nowhere else. Demo data is passed
in by the caller (the CLI), never imported: library code does not know the demo models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.export.samples import sample_inputs
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
        paths["v1"].write_text(json.dumps(v1_body(m, arrays)))
        paths["v2"].write_text(json.dumps(v2_body(m, arrays)))
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


def _jsonable(a: Array) -> list[object]:
    if a.dtype == object:  # TF string tensors: plain JSON strings, same nesting
        decode = np.frompyfunc(lambda b: b.decode() if isinstance(b, bytes) else str(b), 1, 1)
        return decode(a).tolist()  # type: ignore[no-any-return]
    return a.tolist()  # type: ignore[no-any-return]


def v1_body(m: ModelSpec, arrays: Sequence[Array]) -> dict[str, object]:
    """TF Serving REST `:predict` body, row format."""
    if len(arrays) == 1:
        return {"instances": _jsonable(arrays[0])}
    columns = [_jsonable(a) for a in arrays]
    names = [s.name for s in m.inputs]
    return {"instances": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]}


def v2_body(m: ModelSpec, arrays: Sequence[Array]) -> dict[str, object]:
    """Open Inference Protocol v2 JSON `infer` body."""
    from torchserve.tandem_codec import V2_DATATYPES

    return {
        "inputs": [
            {
                "name": s.name,
                "datatype": V2_DATATYPES[s.dtype],
                "shape": list(a.shape),
                "data": _jsonable(a.reshape(-1)),
            }
            for s, a in zip(m.inputs, arrays, strict=True)
        ]
    }
