"""An existing SavedModel, served as it is: copied into the versioned layout unchanged.

Users bring SavedModels that Tandem did not write: TF1 graphs built with `SavedModelBuilder`
(TF Serving's `half_plus_two`), TF2 `tf.Module`s, Keras 3 `model.export()`. A TF2 load cannot
run every TF1 graph (its variables stay uninitialised), so both kinds are opened the way TF
Serving opens them: TF's `tf.compat.v1` loader in a Graph and Session, fed and fetched by the
signature's tensor names. The copy keeps `saved_model.pb` and `variables/` byte-identical and
only adds warmup records; parity runs the copy against the source on the same samples.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from tandem.errors import ExportError
from tandem.export.result import ParityCheck
from tandem.export.samples import max_abs_diff, sample_inputs
from tandem.layout import WARMUP_FILE
from tandem.manifest import DType, ModelSpec, TensorSpec
from wire.dtypes import NAME_TO_NUMPY

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SERVE_TAG = "serve"
PROTO_FILES = ("saved_model.pb", "saved_model.pbtxt")
# TF Serving parses version directories as integers: leading zeros allowed, others ignored.
_VERSION_DIR = re.compile(r"^\d+$")
SERVABLE_DTYPES: frozenset[str] = frozenset(NAME_TO_NUMPY)
"""Every dtype of the wire contract (``wire.dtypes``)."""


def is_savedmodel(path: Path) -> bool:
    return any((path / name).is_file() for name in PROTO_FILES)


def version_dirs(path: Path) -> dict[int, Path]:
    """TF Serving's view of a base path: numeric subdirectories that hold a SavedModel."""
    if not path.is_dir():
        return {}
    return {
        int(p.name): p
        for p in path.iterdir()
        if p.is_dir() and _VERSION_DIR.match(p.name) and is_savedmodel(p)
    }


def find_savedmodel(path: Path, version: int | None = None) -> Path:
    """The SavedModel directory under `path`: `path` itself, or one of its version directories
    (the one numbered `version` when present, else the highest, as TF Serving's `latest`)."""
    if is_savedmodel(path):
        return path
    found = version_dirs(path)
    if not found:
        raise ExportError(
            f"{path} holds no saved_model.pb, directly or in a numbered version directory: "
            "point source: at a SavedModel directory"
        )
    if version is not None and version in found:
        return found[version]
    return found[max(found)]


@dataclass(frozen=True)
class Signature:
    """One SignatureDef as manifest-style specs, plus the graph tensors it maps to."""

    name: str
    method: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    feeds: dict[str, str]
    fetches: dict[str, str]


def _tensor_spec(tf: Any, signature: str, kind: str, key: str, info: Any) -> TensorSpec:
    dtype = tf.as_dtype(info.dtype).name
    where = f"signature {signature!r} {kind} {key!r}"
    if dtype not in SERVABLE_DTYPES:
        raise ExportError(f"{where} is {dtype}, which Tandem does not serve")
    if info.tensor_shape.unknown_rank:
        raise ExportError(f"{where} has no known rank: declare {kind}s: in the manifest")
    shape = [-1 if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    if not shape:
        raise ExportError(f"{where} is a scalar; Tandem serves tensors with a batch dimension")
    return TensorSpec(name=key, dtype=cast(DType, dtype), shape=shape)


def _signature(tf: Any, meta_graph: Any, name: str) -> Signature:
    defs = meta_graph.signature_def
    if name not in defs:
        known = ", ".join(sorted(k for k in defs if not k.startswith("__"))) or "none"
        raise ExportError(
            f"the SavedModel has no signature {name!r} (it has: {known}): "
            "name one with signature: in the manifest"
        )
    sig = defs[name]
    return Signature(
        name=name,
        method=sig.method_name,
        inputs=[_tensor_spec(tf, name, "input", k, sig.inputs[k]) for k in sorted(sig.inputs)],
        outputs=[_tensor_spec(tf, name, "output", k, sig.outputs[k]) for k in sorted(sig.outputs)],
        feeds={k: sig.inputs[k].name for k in sig.inputs},
        fetches={k: sig.outputs[k].name for k in sig.outputs},
    )


class LoadedSavedModel:
    """A SavedModel loaded in its own Graph and Session by TF's v1 loader."""

    def __init__(self, tf: Any, session: Any, meta_graph: Any) -> None:
        self._tf = tf
        self._session = session
        self.meta_graph = meta_graph

    @property
    def signature_names(self) -> list[str]:
        return sorted(k for k in self.meta_graph.signature_def if not k.startswith("__"))

    def signature(self, name: str) -> Signature:
        return _signature(self._tf, self.meta_graph, name)

    def run(
        self, signature: Signature, arrays: Mapping[str, npt.NDArray[Any]]
    ) -> dict[str, npt.NDArray[Any]]:
        feed = {signature.feeds[k]: v for k, v in arrays.items()}
        out = self._session.run(dict(signature.fetches), feed_dict=feed)
        return {k: np.asarray(v) for k, v in out.items()}


@contextmanager
def open_savedmodel(path: Path) -> Iterator[LoadedSavedModel]:
    """Load `path` (a SavedModel directory) with the `serve` tag; ExportError if TF cannot."""
    import tensorflow as tf

    graph = tf.Graph()
    logger = tf.get_logger()
    level = logger.level
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        # The v1 loader is deprecated for TF2 code and logs so; here it is the point.
        logger.setLevel("ERROR")
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], str(path))
        except (RuntimeError, OSError, ValueError, tf.errors.OpError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
            raise ExportError(
                f"TensorFlow cannot load the SavedModel at {path} with tag {SERVE_TAG!r}: {first}"
            ) from exc
        finally:
            logger.setLevel(level)
        yield LoadedSavedModel(tf, session, meta_graph)


def _digest(root: Path) -> dict[str, str]:
    """sha256 of saved_model.pb(txt), fingerprint.pb and every file under variables/."""
    files = [root / n for n in (*PROTO_FILES, "fingerprint.pb") if (root / n).is_file()]
    if (root / "variables").is_dir():
        files += sorted(p for p in (root / "variables").rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def copy_savedmodel(source: Path, dest: Path) -> None:
    """Copy the SavedModel directory unchanged and prove that its graph and weights are."""
    shutil.copytree(source, dest, symlinks=False)
    if _digest(source) != _digest(dest):
        raise ExportError(f"the copy of {source} differs from its source (disk full or changing?)")


def _samples(specs: list[TensorSpec], spec: ModelSpec, seed: int) -> list[npt.NDArray[Any]]:
    batch = min(4, spec.batching.max_batch_size) if spec.batching.enabled else 4
    return sample_inputs(specs, batch=max(batch, 2), seed=seed)


def export_savedmodel(
    spec: ModelSpec, source: Path, dest: Path, where: str, seed: int = 0
) -> list[ParityCheck]:
    """Copy the SavedModel at `source` to `dest`, add warmup records, check parity.

    `spec` is already resolved (inputs and outputs checked against the signature). Returns
    the parity check of the copy, run in its own session, against the source.
    """
    from tandem.export.tensorflow import write_warmup

    src = find_savedmodel(source, spec.version)
    samples = _samples(spec.inputs, spec, seed)
    by_name = {s.name: a for s, a in zip(spec.inputs, samples, strict=True)}
    with open_savedmodel(src) as model:
        signature = model.signature(spec.signature)
        try:
            expected = model.run(signature, by_name)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ExportError(
                f"{where}: signature {spec.signature!r} fails on sample inputs of the declared "
                f"specs ({type(exc).__name__}: {first}); check inputs: in the manifest"
            ) from exc
    copy_savedmodel(src, dest)
    if not (dest / WARMUP_FILE).exists():  # a user's own warmup records are kept as they are
        write_warmup(spec, dest, [sample_inputs(spec.inputs, 1, seed), samples])
    with open_savedmodel(dest) as copied:
        got = copied.run(copied.signature(spec.signature), by_name)
    diffs = {o.name: max_abs_diff(got[o.name], expected[o.name]) for o in spec.outputs}
    return [ParityCheck("savedmodel-copy", diffs, spec.parity_tolerance)]
