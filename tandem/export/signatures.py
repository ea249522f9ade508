"""Inputs and outputs of an existing artifact, read from its own signature.

For a file source the manifest's `inputs`/`outputs` are optional: a SavedModel's signature
(`serving_default` or the one the manifest names) and a `.pt2` program both state names,
dtypes and shapes. Where the manifest declares them too it wins, but it must agree with the
artifact: a disagreement is a one-line error. A TorchScript file or a state_dict records no
dtypes or shapes, so there the manifest must declare them. `tandem inspect` prints what
would be used, as a manifest snippet.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tandem.errors import ExportError
from tandem.export.record import recorded_spec
from tandem.layout import Layout
from tandem.manifest import DType, Manifest, ModelSpec, TensorSpec, TorchFormat

TORCH_DTYPES: frozenset[str] = frozenset(
    ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
)

_TORCH_FORMATS: dict[str, TorchFormat] = {
    "pt2": "export",
    "torchscript": "torchscript",
    "state_dict": "eager",
}


@dataclass(frozen=True)
class ArtifactIO:
    """What an artifact says about itself; `inputs`/`outputs` empty when it cannot say."""

    framework: str
    kind: str
    """savedmodel | keras | pt2 | torchscript | state_dict"""
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    why_not: str = ""
    """When the artifact cannot state its tensors: what the user must declare instead."""
    signature: str | None = None
    other_signatures: tuple[str, ...] = ()

    @property
    def torch_format(self) -> TorchFormat | None:
        return _TORCH_FORMATS.get(self.kind)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip whose entries hold its compiled `code/`."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n or n.startswith("code/") for n in zf.namelist())


def _torch_dims(shape: Any) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in shape]


def _pt2_io(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    import torch

    program = torch.export.load(str(path))
    nodes = {n.name: n for n in program.graph.nodes}

    def spec(name: str, val: Any, kind: str) -> TensorSpec:
        dtype = str(val.dtype).removeprefix("torch.")
        if dtype not in TORCH_DTYPES:
            raise ExportError(
                f"{path.name}: {kind} {name!r} is {dtype}, which Tandem does not serve"
            )
        return TensorSpec(name=name, dtype=cast(DType, dtype), shape=_torch_dims(val.shape))

    inputs = [spec(n, nodes[n].meta["val"], "input") for n in program.graph_signature.user_inputs]
    [output] = [n for n in program.graph.nodes if n.op == "output"]
    values = [a.meta["val"] for a in output.args[0]][-len(program.graph_signature.user_outputs) :]
    out_spec = program.call_spec.out_spec
    if out_spec is not None and out_spec.type is dict and len(out_spec.context) == len(values):
        names = [str(k) for k in out_spec.context]
    else:
        names = [f"output_{i}" for i in range(len(values))]
    outputs = [spec(n, v, "output") for n, v in zip(names, values, strict=True)]
    return inputs, outputs


def _torchscript_inputs(path: Path) -> list[str]:
    import warnings

    import torch

    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; still served
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    return [a.name for a in module.forward.schema.arguments if a.name != "self"]


def read_artifact(
    path: Path,
    framework: str | None = None,
    signature: str = "serving_default",
    version: int | None = None,
) -> ArtifactIO:
    """Inspect a SavedModel directory, `.keras`, `.pt2`, TorchScript or state_dict file
    (of a parent of version directories: the one numbered `version`, else the latest)."""
    from tandem.export.savedmodel import find_savedmodel, open_savedmodel

    if path.is_dir():
        if framework == "pytorch":
            raise ExportError(f"{path} is a directory; a pytorch source is one file")
        with open_savedmodel(find_savedmodel(path, version)) as model:
            sig = model.signature(signature)
            others = tuple(n for n in model.signature_names if n != signature)
        return ArtifactIO(
            "tensorflow", "savedmodel", sig.inputs, sig.outputs, "", signature, others
        )
    if not path.is_file():
        raise ExportError(f"{path} does not exist")
    if path.suffix == ".keras":
        return ArtifactIO("tensorflow", "keras", [], [], "a .keras file: declare them")
    if framework == "tensorflow":
        raise ExportError(f"{path} is not a SavedModel directory or a .keras file")
    if path.suffix == ".pt2":
        inputs, outputs = _pt2_io(path)
        return ArtifactIO("pytorch", "pt2", inputs, outputs)
    if _is_torchscript(path):
        names = ", ".join(_torchscript_inputs(path))
        return ArtifactIO(
            "pytorch",
            "torchscript",
            [],
            [],
            f"a TorchScript file names its inputs ({names}) but not their dtypes or shapes: "
            "declare them",
        )
    return ArtifactIO(
        "pytorch",
        "state_dict",
        [],
        [],
        "a state_dict holds weights only: declare them (and model_class:)",
    )


def _fits(declared: list[int], actual: list[int]) -> bool:
    return len(declared) == len(actual) and all(
        d == -1 or a == -1 or d == a for d, a in zip(declared, actual, strict=True)
    )


def _check(
    where: str, kind: str, declared: list[TensorSpec], read: list[TensorSpec], what: str
) -> None:
    """The manifest's tensors must be the artifact's: same names, dtypes, compatible shapes."""
    want = {t.name: t for t in declared}
    have = {t.name: t for t in read}
    if set(want) != set(have):
        raise ExportError(
            f"{where}: {kind}: the manifest declares {sorted(want)}, {what} has {sorted(have)} "
            f"(fix the names, or leave {kind}: out to use the artifact's)"
        )
    for name, d in want.items():
        a = have[name]
        if d.dtype != a.dtype:
            raise ExportError(
                f"{where}: {kind}: {name!r} declared {d.dtype}, {what} says {a.dtype} "
                f"(fix the manifest, or leave {kind}: out)"
            )
        if not _fits(d.shape, a.shape):
            raise ExportError(
                f"{where}: {kind}: {name!r} declared shape {d.shape}, {what} says {a.shape} "
                f"(fix the manifest, or leave {kind}: out)"
            )


def resolve_spec(manifest: Manifest, spec: ModelSpec) -> ModelSpec:
    """The spec with inputs, outputs (and a file's PyTorch format) filled from its artifact.

    A model built by code is returned as it is. Raises ExportError, one line, when the
    artifact cannot be read, disagrees with the manifest, or cannot state what is missing.
    """
    if spec.is_entry_point:
        return spec
    path = (manifest.root / spec.source).resolve()
    if not path.exists():
        raise ExportError(
            f"{manifest.where(spec, 'source')}: source path {spec.source!r} does not exist "
            f"(paths are relative to {manifest.root})"
        )
    try:
        io = read_artifact(path, spec.framework, spec.signature, spec.version)
    except ExportError as exc:
        raise ExportError(f"{manifest.where(spec, 'source')}: {exc}") from exc
    if io.framework != spec.framework:
        raise ExportError(
            f"{manifest.where(spec, 'framework')}: {spec.source!r} is a {io.framework} "
            f"artifact ({io.kind}), the manifest says {spec.framework}"
        )
    what = f"its {io.signature!r} signature" if io.signature else f"the {io.kind} file"
    update: dict[str, Any] = {}
    for kind in ("inputs", "outputs"):
        declared: list[TensorSpec] = getattr(spec, kind)
        read: list[TensorSpec] = getattr(io, kind)
        if declared and read:
            _check(manifest.where(spec, kind), kind, declared, read, what)
        elif not declared:
            if not read:
                raise ExportError(
                    f"{manifest.where(spec)}: {kind}: required: {io.why_not} in the manifest"
                )
            update[kind] = read
    if spec.framework == "pytorch" and spec.format is None:
        update["format"] = "eager" if spec.model_class else io.torch_format
    inputs: list[TensorSpec] = update.get("inputs", spec.inputs)
    if any(t.fixed_batch for t in inputs) and "batching" not in spec.model_fields_set:
        # Requests cannot be concatenated for a signature that fixes the batch.
        update["batching"] = spec.batching.model_copy(update={"enabled": False})
    return spec.model_copy(update=update) if update else spec


def resolve_manifest(manifest: Manifest, out: Path | None = None) -> Manifest:
    """Every model's spec resolved; with `out`, from the export records where still current
    (so configs and the stack need not open the artifacts again)."""
    layout = Layout(out.resolve()) if out is not None else None
    models = []
    for spec in manifest.models:
        recorded = (
            recorded_spec(manifest, spec, layout) if layout and not spec.is_entry_point else None
        )
        models.append(recorded or resolve_spec(manifest, spec))
    if models == manifest.models:
        return manifest
    data = manifest.data.model_copy(update={"models": models})
    return Manifest(path=manifest.path, data=data, lines=manifest.lines)


_NAME_CLEAN = re.compile(r"[^A-Za-z0-9_\-]+")


def inspect_snippet(path: Path, signature: str = "serving_default") -> str:
    """A manifest entry for the artifact at `path`, ready to paste under `models:`."""
    io = read_artifact(path.resolve(), None, signature)
    resolved = path.resolve()
    stem = resolved.name if path.is_dir() else path.stem
    if path.is_dir() and stem.isdigit():  # a version directory: the model is its parent
        stem = resolved.parent.name
    name = _NAME_CLEAN.sub("_", stem).strip("_-") or "model"
    if not name[0].isalpha():
        name = f"m_{name}"
    lines = [f"  - name: {name[:63]}", f"    framework: {io.framework}"]
    if io.framework == "pytorch":
        lines.append(f"    format: {io.torch_format}")
    lines.append(f"    source: {json.dumps(str(path))}")
    if io.signature and io.signature != "serving_default":
        lines.append(f"    signature: {io.signature}")

    if io.kind == "state_dict":
        lines.append("    model_class: module:Class   # the class these weights belong to")
    if io.why_not:
        lines.append(f"    # inputs, outputs: {io.why_not}")
    for kind, specs in (("inputs", io.inputs), ("outputs", io.outputs)):
        if specs:
            lines.append(f"    {kind}:")
            lines += [
                f"      - {{name: {t.name}, dtype: {t.dtype}, shape: {t.shape}}}" for t in specs
            ]
    if any(t.fixed_batch for t in io.inputs):
        # As resolve_manifest decides: requests cannot be concatenated on a fixed batch.
        lines.append("    batching: {enabled: false}   # the signature fixes the batch size")
    if io.other_signatures:
        lines.append(f"    # other signatures: {', '.join(io.other_signatures)}")
    return "\n".join(lines) + "\n"
