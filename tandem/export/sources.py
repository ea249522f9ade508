"""Resolve a manifest `source` into a live model object."""

from __future__ import annotations

import importlib
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.errors import ExportError
from tandem.manifest import Manifest, ModelSpec


@dataclass
class LoadedSource:
    model: Any
    metrics: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    """Set when the source was a file or directory rather than an entry point."""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first}"[:300]


def import_object(ref: str, root: Path) -> Any:
    """`package.module:attr` → the attribute, importing relative to the manifest's folder."""
    module_name, _, attr = ref.partition(":")
    root_txt = str(root)
    if root_txt not in sys.path:
        sys.path.insert(0, root_txt)
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def load_source(manifest: Manifest, spec: ModelSpec) -> LoadedSource:
    """Run the entry point (training) or open the file the manifest points to."""
    where = manifest.where(spec, "source")
    if spec.is_entry_point:
        try:
            fn = import_object(spec.source, manifest.root)
        except (ImportError, AttributeError) as exc:
            raise ExportError(
                f"{where}: source {spec.source!r} does not import: {one_line(exc)}"
            ) from exc
        if not callable(fn):
            raise ExportError(f"{where}: source {spec.source!r} is not callable")
        try:
            result = fn()
        except Exception as exc:
            raise ExportError(f"{where}: source {spec.source!r} failed: {one_line(exc)}") from exc
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
            return LoadedSource(
                model=result[0], metrics={k: float(v) for k, v in result[1].items()}
            )
        return LoadedSource(model=result)
    path = (manifest.root / spec.source).resolve()
    if not path.exists():
        raise ExportError(f"{where}: source path {spec.source!r} does not exist")
    try:
        if spec.framework == "tensorflow":
            return LoadedSource(model=_open_tensorflow(path), path=path)
        return LoadedSource(model=_open_pytorch(path, spec, manifest), path=path)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"{where}: cannot open {spec.source!r}: {one_line(exc)}") from exc


def _open_tensorflow(path: Path) -> Any:
    # A SavedModel directory never gets here: it is copied as it is (tandem.export.savedmodel).
    if path.suffix != ".keras":
        raise ExportError(f"{path.name} is not a SavedModel directory or a .keras file")
    import keras

    return keras.models.load_model(path)


def _open_pytorch(path: Path, spec: ModelSpec, manifest: Manifest) -> Any:
    import torch

    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module()
    if spec.model_class is None:
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; still served
            warnings.filterwarnings(
                "ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning
            )
            model = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    else:
        cls = import_object(spec.model_class, manifest.root)
        model = cls()
        model.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
    model.eval()
    return model
