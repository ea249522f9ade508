"""Sample inputs that follow the manifest's declared specs (parity checks, warmup)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.manifest import TensorSpec
from wire.dtypes import NAME_TO_NUMPY as NUMPY_DTYPES


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


def request_bodies(specs: list[TensorSpec], arrays: list[npt.NDArray[Any]]) -> tuple[bytes, bytes]:
    """The v1 (row format) and v2 JSON request bodies carrying `arrays` as `specs` name them.

    The one place in tandem.export that writes wire bodies (for the handler parity check);
    the encoding itself is the wire package's.
    """
    from wire.arrays import array_to_json, dumps
    from wire.v2 import encode_infer_request

    names = [s.name for s in specs]
    if len(names) == 1:
        v1: dict[str, Any] = {"instances": array_to_json(arrays[0])}
    else:
        columns = [array_to_json(a) for a in arrays]
        v1 = {
            "instances": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        }
    v2, _ = encode_infer_request(dict(zip(names, arrays, strict=True)), binary=False)
    return dumps(v1), v2
