"""Tandem's generic TorchServe handler: one file for every exported PyTorch model.

TorchServe loads this module from the `.mar` and instantiates its only class. The model, its
format and its tensor spec come from `tandem_spec.json` in the archive; the device comes from
the context (`gpu_id`), falling back to the CPU. A batch from TorchServe is a list of requests:
valid ones run through the model in one forward pass, invalid ones are answered with a 400 of
their own, so one bad request never fails its neighbours.

Every wire format comes from the `wire` package, shipped inside the `.mar` beside this file:
`wire.endpoint` reads TF Serving v1 (row, columnar) and OIP v2 (JSON and binary extension)
and answers each in its own shape; the gateway asks for raw little-endian v2 outputs.
TorchServe requires this module to define exactly one class.

Importing this module has no side effects: torch work starts in `initialize`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from wire import WireError, v2
from wire.arrays import loads
from wire.dtypes import NAME_TO_NUMPY
from wire.endpoint import Decoded, decode_request, encode_response
from wire.spec import SPEC_FILE, ModelIO

logger = logging.getLogger(__name__)

HEADER_LENGTH_KEY = v2.HEADER_LENGTH.lower()
#: Intra-op threads per worker process, set by whoever starts TorchServe (``tandem up``:
#: the machine's cores over the workers of every model,
#: ``tandem.kinds.torchserve.torch_threads_per_worker``). Unset: torch's default, one thread
#: per core in every worker, which oversubscribes the CPU as soon as two workers run at once.
THREADS_ENV = "TANDEM_TORCH_THREADS"


class TandemHandler:
    """preprocess → inference → postprocess over TorchServe's list of requests."""

    def __init__(self) -> None:
        self.initialized = False
        self.io: ModelIO | None = None
        self.model: Any = None
        self.device: Any = None
        self.version = "1"

    # ---------------------------------------------------------------- lifecycle

    def initialize(self, context: Any) -> None:
        import torch

        props = context.system_properties
        model_dir = Path(props["model_dir"])
        gpu_id = props.get("gpu_id")
        if gpu_id is not None and torch.cuda.is_available():
            self.device = torch.device(f"cuda:{int(gpu_id)}")
        else:
            self.device = torch.device("cpu")
        threads = intra_op_threads(os.environ.get(THREADS_ENV))
        if threads is not None and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.io = ModelIO.from_json(json.loads((model_dir / SPEC_FILE).read_text()))
        manifest = getattr(context, "manifest", None) or {}
        self.version = str(manifest.get("model", {}).get("modelVersion") or self.io.version)
        self.model = load_model(model_dir, self.io, self.device)
        self.initialized = True
        logger.info(
            "tandem handler: %s v%s on %s, %d intra-op thread(s)",
            self.io.name,
            self.version,
            self.device,
            torch.get_num_threads(),
        )

    # ---------------------------------------------------------------- request path

    def handle(self, data: list[dict[str, Any]] | None, context: Any) -> list[bytes]:
        if not self.initialized:
            self.initialize(context)
        if not data:
            return []
        decoded = self.preprocess(data, context)
        good = [d for d in decoded if isinstance(d, Decoded)]
        # One line per batch in TorchServe's model log: shows batching at work.
        logger.info("tandem batch: %d request(s), %d row(s)", len(data), sum(d.batch for d in good))
        results = self.inference(good) if good else []
        return self.postprocess(decoded, results, context)

    def preprocess(self, data: list[dict[str, Any]], context: Any) -> list[Decoded | WireError]:
        """Decode and validate each request on its own; a bad one becomes its error."""
        assert self.io is not None
        out: list[Decoded | WireError] = []
        for idx, request in enumerate(data):
            try:
                body = request.get("body", request.get("data"))
                if body is None and request:
                    raise WireError(
                        "request body must be JSON (Content-Type: application/json); "
                        f"got form fields {sorted(request)[:5]}"
                    )
                doc, tail = parse_body(body, _header_length(request, context, idx))
                out.append(decode_request(doc, self.io, tail))
            except WireError as exc:
                out.append(exc)
        return out

    def inference(self, batch: list[Decoded]) -> list[list[np.ndarray[Any, Any]]]:
        """One forward pass over every valid request when their shapes allow stacking."""
        import torch

        n_inputs = len(batch[0].arrays)
        stackable = all(len({d.arrays[i].shape[1:] for d in batch}) == 1 for i in range(n_inputs))
        groups = [batch] if stackable else [[d] for d in batch]
        results: list[list[np.ndarray[Any, Any]]] = []
        with torch.inference_mode():
            for group in groups:
                stacked = [
                    np.concatenate([d.arrays[i] for d in group])
                    if len(group) > 1
                    else group[0].arrays[i]
                    for i in range(n_inputs)
                ]
                # Inputs may be views into the request body at any address, and CPU kernels
                # pick their summation order by alignment: a copy into torch's own (aligned)
                # memory keeps an answer independent of how its request was framed.
                tensors = [torch.tensor(a, device=self.device) for a in stacked]
                outputs = self._outputs(self.model(*tensors))
                results.extend(split_outputs(outputs, [d.batch for d in group]))
        return results

    def postprocess(
        self,
        decoded: list[Decoded | WireError],
        results: list[list[np.ndarray[Any, Any]]],
        context: Any,
    ) -> list[bytes]:
        assert self.io is not None
        answers: list[bytes] = []
        it = iter(results)
        for idx, item in enumerate(decoded):
            if isinstance(item, WireError):
                _set_status(context, 400, item.message, idx)
                answers.append(encode_error(item.message))
                continue
            body, header_length = encode_response(item, next(it), self.io, self.version)
            if header_length is not None:
                _set_header(context, idx, v2.HEADER_LENGTH, str(header_length))
            answers.append(body)
        return answers

    def _outputs(self, raw: Any) -> list[np.ndarray[Any, Any]]:
        import torch

        assert self.io is not None
        if isinstance(raw, dict):
            items = [raw[s.name] for s in self.io.outputs]
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            items = [raw]
        if len(items) != len(self.io.outputs):
            raise RuntimeError(
                f"model returned {len(items)} outputs, spec has {len(self.io.outputs)}"
            )
        arrays = []
        for spec, t in zip(self.io.outputs, items, strict=True):
            arr = t.detach().to("cpu").numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            arrays.append(arr.astype(NAME_TO_NUMPY[spec.dtype], copy=False))
        return arrays


def intra_op_threads(raw: str | None) -> int | None:
    """The thread count asked for in ``TANDEM_TORCH_THREADS`` (``None``: unset or not a
    positive integer, and torch keeps its default)."""
    try:
        threads = int(raw) if raw else 0
    except ValueError:
        threads = 0
    return threads if threads > 0 else None


def load_model(model_dir: Path, io: ModelIO, device: Any) -> Any:
    """Rebuild the model from the archive in the format it was exported in."""
    import torch

    path = model_dir / io.serialized_file
    if io.format == "torchscript":
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; still served
            warnings.filterwarnings(
                "ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning
            )
            model = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    elif io.format == "export":
        program = torch.export.load(str(path))
        if device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        return program.module()
    elif io.format == "eager":
        if not io.model_file or not io.model_class:
            raise RuntimeError("eager format needs model_file and model_class in the spec")
        model_cls = _load_class(model_dir / io.model_file, io.model_class)
        model = model_cls()
        state = torch.load(str(path), map_location=device, weights_only=True)
        model.load_state_dict(state)
        model.to(device)
    else:
        raise RuntimeError(f"unknown model format {io.format!r}")
    model.eval()
    return model


def _load_class(file: Path, name: str) -> Any:
    module_name = f"tandem_model_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import model file {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def _header_length(request: dict[str, Any], context: Any, idx: int) -> int | None:
    """Binary-extension header length: a gRPC input entry or the REST request header."""
    raw = request.get(HEADER_LENGTH_KEY)
    if raw is None and context is not None:
        try:
            raw = context.get_request_header(idx, HEADER_LENGTH_KEY) or context.get_request_header(
                idx, "Inference-Header-Content-Length"
            )
        except (AttributeError, IndexError, TypeError, KeyError):
            raw = None
    if raw is None:
        return None
    return v2.parse_header_length(raw if isinstance(raw, bytes | bytearray) else str(raw))


def _set_status(context: Any, code: int, message: str, idx: int) -> None:
    if context is not None and getattr(context, "request_processor", None):
        context.set_response_status(code=code, phrase=message[:200], idx=idx)


def _set_header(context: Any, idx: int, key: str, value: str) -> None:
    if context is not None and getattr(context, "request_processor", None):
        context.set_response_header(idx, key, value)


# --------------------------------------------------------------------------- codec glue


def parse_body(body: Any, header_length: int | None = None) -> tuple[Any, memoryview | None]:
    """The JSON document of a request and, for the v2 binary extension, the raw tail.

    TorchServe hands over bytes, or already-parsed JSON when the content type was
    application/json; both are accepted.
    """
    if header_length is not None:
        if not isinstance(body, bytes | bytearray):
            raise WireError("Inference-Header-Content-Length was given but the body is not raw")
        return v2.split_binary(bytes(body), header_length)
    if isinstance(body, bytes | bytearray | str):
        if not body:
            raise WireError("empty request body: expected a JSON object")
        try:
            return loads(body), None
        except WireError as exc:
            raise WireError(f"request body is not valid JSON: {exc.message}") from exc
    if body is None:
        raise WireError("empty request body: expected a JSON object")
    return body, None


def encode_error(message: str) -> bytes:
    return json.dumps({"error": message}, separators=(",", ":")).encode()


def split_outputs(
    outputs: list[np.ndarray[Any, Any]], sizes: list[int]
) -> list[list[np.ndarray[Any, Any]]]:
    """Cut batched outputs back into one list per request (views, no copies)."""
    bounds = np.cumsum(sizes)[:-1].tolist()
    per_output = [np.split(o, bounds) for o in outputs]
    return [list(parts) for parts in zip(*per_output, strict=True)]
