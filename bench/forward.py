"""A model's in-process forward time: ``python -m bench.forward --build B --model M``.

Loads the exported model in this process the way its backend does (TF: the SavedModel's
serving signature; PyTorch: the archive's model through the handler's own ``load_model``) and
prints, as one JSON line, the median wall time of ``--repeats`` forward passes on one zero
row of the model's input shape, after ``--warmup`` passes. ``bench.gateway`` runs it in a
subprocess (so the frameworks never load into the load generator) and compares a v2 binary
request through the gateway at concurrency 1 with this time plus 2 ms (issue 16).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gateway.route_table import load_route_table
from tandem.layout import Layout
from wire.dtypes import NAME_TO_NUMPY


def _tf_forward(
    build: Path, model: str, version: int, signature: str, inputs: dict[str, Any]
) -> Callable[[], Any]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(build / "tensorflow" / model / str(version)))
    fn = loaded.signatures[signature]
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    return lambda: fn(**tensors)


def _torch_forward(mar: Path, inputs: dict[str, Any], threads: int | None) -> Callable[[], Any]:
    import torch

    from torchserve.handler import load_model
    from wire.spec import ModelIO

    if threads:
        torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="tandem-forward-"))
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(tmp)
    io = ModelIO.from_json(json.loads((tmp / "tandem_spec.json").read_text()))
    module = load_model(tmp, io, torch.device("cpu"))
    tensors = [torch.tensor(inputs[spec.name]) for spec in io.inputs]

    def forward() -> Any:
        with torch.inference_mode():
            return module(*tensors)

    return forward


def forward_ms(fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` calls, in ms."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--build", type=Path, default=Path("build"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (the worker's)"
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    table = load_route_table(args.build / "config" / "routes.json")
    route = table.models[args.model]
    inputs = {
        spec.name: np.zeros(
            tuple(1 if d < 0 else d for d in spec.shape), dtype=NAME_TO_NUMPY[spec.dtype]
        )
        for spec in route.inputs
    }
    if route.framework == "tensorflow":
        fn = _tf_forward(
            args.build,
            route.upstream_name,
            route.default_version,
            route.signature_name or "serving_default",
            inputs,
        )
    else:
        mar = Layout(args.build.resolve()).mar(route.upstream_name, route.default_version)
        fn = _torch_forward(mar, inputs, args.threads)
    ms = forward_ms(fn, args.warmup, args.repeats)
    print(json.dumps({"model": args.model, "forward_ms": ms, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
