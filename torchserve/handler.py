"""Tandem's generic TorchServe handler: one file for every exported PyTorch model.

TorchServe loads this module from the `.mar` and instantiates its only class. The model, its
format and its tensor spec come from `tandem_spec.json` in the archive; the device comes from
the context (`gpu_id`), falling back to the CPU. A batch from TorchServe is a list of requests:
valid ones run through the model in one forward pass, invalid ones are answered with a 400 of
their own, so one bad request never fails its neighbours.

Importing this module has no side effects: torch work starts in `initialize`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:  # inside the repository
    from . import tandem_codec as codec
except ImportError:  # inside a .mar, where this file is a top-level module
    import tandem_codec as codec  # type: ignore[no-redef,import-not-found]

logger = logging.getLogger(__name__)

HEADER_LENGTH_KEY = "inference-header-content-length"


class TandemHandler:
    """preprocess → inference → postprocess over TorchServe's list of requests."""

    def __init__(self) -> None:
        self.initialized = False
        self.io: codec.ModelIO | None = None
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
        self.io = codec.ModelIO.from_json(json.loads((model_dir / codec.SPEC_FILE).read_text()))
        manifest = getattr(context, "manifest", None) or {}
        self.version = str(manifest.get("model", {}).get("modelVersion") or self.io.version)
        self.model = load_model(model_dir, self.io, self.device)
        self.initialized = True
        logger.info("tandem handler: %s v%s on %s", self.io.name, self.version, self.device)

    # ---------------------------------------------------------------- request path

    def handle(self, data: list[dict[str, Any]] | None, context: Any) -> list[bytes]:
        if not self.initialized:
            self.initialize(context)
        if not data:
            return []
        decoded = self.preprocess(data, context)
        good = [d for d in decoded if isinstance(d, codec.Decoded)]
        # One line per batch in TorchServe's model log: shows batching at work.
        logger.info("tandem batch: %d request(s), %d row(s)", len(data), sum(d.batch for d in good))
        results = self.inference(good) if good else []
        return self.postprocess(decoded, results, context)

    def preprocess(
        self, data: list[dict[str, Any]], context: Any
    ) -> list[codec.Decoded | codec.BadRequest]:
        """Decode and validate each request on its own; a bad one becomes its error."""
        assert self.io is not None
        out: list[codec.Decoded | codec.BadRequest] = []
        for idx, request in enumerate(data):
            try:
                body = request.get("body", request.get("data"))
                if body is None and request:
                    raise codec.BadRequest(
                        "request body must be JSON (Content-Type: application/json); "
                        f"got form fields {sorted(request)[:5]}"
                    )
                doc, binary = codec.parse_body(body, _header_length(request, context, idx))
                out.append(codec.decode_request(doc, self.io, binary))
            except codec.BadRequest as exc:
                out.append(exc)
        return out

    def inference(self, batch: list[codec.Decoded]) -> list[list[np.ndarray[Any, Any]]]:
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
                tensors = [torch.as_tensor(a).to(self.device) for a in stacked]
                outputs = self._outputs(self.model(*tensors))
                results.extend(codec.split_outputs(outputs, [d.batch for d in group]))
        return results

    def postprocess(
        self,
        decoded: list[codec.Decoded | codec.BadRequest],
        results: list[list[np.ndarray[Any, Any]]],
        context: Any,
    ) -> list[bytes]:
        assert self.io is not None
        answers: list[bytes] = []
        it = iter(results)
        for idx, item in enumerate(decoded):
            if isinstance(item, codec.BadRequest):
                _set_status(context, 400, str(item), idx)
                answers.append(codec.encode_error(str(item)))
            else:
                answers.append(codec.encode_response(item, next(it), self.io, self.version))
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
            arrays.append(arr.astype(codec.NUMPY_DTYPES[spec.dtype], copy=False))
        return arrays


def load_model(model_dir: Path, io: codec.ModelIO, device: Any) -> Any:
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
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("ascii", "replace")
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        raise codec.BadRequest(f"Inference-Header-Content-Length {raw!r} is not a number") from exc


def _set_status(context: Any, code: int, message: str, idx: int) -> None:
    if context is not None and getattr(context, "request_processor", None):
        context.set_response_status(code=code, phrase=message[:200], idx=idx)
