"""Sample inputs that follow the manifest's declared specs (parity checks, warmup)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.manifest import TensorSpec
from torchserve.tandem_codec import NUMPY_DTYPES as CODEC_DTYPES

# The handler's table (numeric types) plus strings, which only TF models take.
NUMPY_DTYPES: dict[str, Any] = {**CODEC_DTYPES, "string": np.object_}


def sample_inputs(specs: list[TensorSpec], batch: int, seed: int = 0) -> list[npt.NDArray[Any]]:
    """Deterministic random arrays of the declared dtype and shape, `batch` rows each."""
    rng = np.random.default_rng(seed)
    out: list[npt.NDArray[Any]] = []
    for spec in specs:
        shape = spec.concrete_shape(batch)
        if spec.dtype.startswith("float"):
            out.append(rng.random(shape).astype(NUMPY_DTYPES[spec.dtype]))
        elif spec.dtype == "bool":
            out.append(rng.random(shape) > 0.5)
        elif spec.dtype == "string":
            out.append(np.array([b"tandem"] * int(np.prod(shape)), dtype=object).reshape(shape))
        else:
            out.append(rng.integers(0, 10, size=shape).astype(NUMPY_DTYPES[spec.dtype]))
    return out


def max_abs_diff(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind in "OSU" or b.dtype.kind in "OSU":
        return 0.0 if (a == b).all() else float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def _jsonable(a: npt.NDArray[Any]) -> Any:
    if a.dtype == object:  # TF string tensors: plain JSON strings, same nesting
        decode = np.frompyfunc(lambda b: b.decode() if isinstance(b, bytes) else str(b), 1, 1)
        return decode(a).tolist()
    return a.tolist()


def request_bodies(
    specs: list[TensorSpec], arrays: list[npt.NDArray[Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The v1 (row format) and v2 JSON request bodies carrying `arrays` as `specs` name them.

    The one place in tandem.export that writes wire bodies (for the handler parity check).
    """
    from torchserve.tandem_codec import V2_DATATYPES

    names = [s.name for s in specs]
    if len(names) == 1:
        v1: dict[str, Any] = {"instances": _jsonable(arrays[0])}
    else:
        columns = [_jsonable(a) for a in arrays]
        v1 = {
            "instances": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        }
    v2 = {
        "inputs": [
            {
                "name": s.name,
                "datatype": "BYTES" if s.dtype == "string" else V2_DATATYPES[s.dtype],
                "shape": list(a.shape),
                "data": _jsonable(a.reshape(-1)),
            }
            for s, a in zip(specs, arrays, strict=True)
        ]
    }
    return v1, v2
