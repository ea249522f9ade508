"""PyTorch → TorchServe `.mar` with Tandem's generic handler.

Formats: `torchscript` (traced), `export` (torch.export `.pt2`, batch dimension dynamic) for
static graphs, and `eager` (state_dict + the model's source file) for dynamic ones. Parity is
checked twice: the reloaded serialized model, and the handler itself run in-process on the
unpacked archive, against the source model.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.errors import ExportError
from tandem.export.result import ParityCheck
from tandem.export.samples import max_abs_diff, request_bodies, sample_inputs
from tandem.manifest import ModelSpec

HANDLER_DIR = Path(__file__).resolve().parents[2] / "torchserve"
WIRE_DIR = Path(__file__).resolve().parents[2] / "wire"
"""The wire-contract package the handler imports; it ships inside every `.mar`."""
SERIALIZED = {"torchscript": "model.pt", "export": "model.pt2", "eager": "state_dict.pt"}
TRACE_BATCH, CHECK_BATCH = 2, 3  # checked at a batch size the trace never saw
TORCHSCRIPT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


def _run(model: Any, arrays: list[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
    import torch

    with torch.no_grad():
        raw = model(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
    items = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(items, list | tuple):
        items = [items]
    return [
        t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in items
    ]


def _check_against_spec(model: Any, spec: ModelSpec, where: str) -> None:
    """Run the source on declared shapes: a wrong declaration fails here, clearly."""
    try:
        outputs = _run(model, sample_inputs(spec.inputs, CHECK_BATCH))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
        raise ExportError(
            f"{where}: declared inputs {[s.shape for s in spec.inputs]} do not fit the model: "
            f"{first}"
        ) from exc
    if len(outputs) != len(spec.outputs):
        raise ExportError(
            f"{where}: declares {len(spec.outputs)} output(s), the model returns {len(outputs)}"
        )
    for declared, out in zip(spec.outputs, outputs, strict=True):
        dtype = "bool" if out.dtype == np.bool_ else str(out.dtype)
        if dtype != declared.dtype:
            raise ExportError(
                f"{where}: output {declared.name!r} declared {declared.dtype}, model gives {dtype}"
            )
        shape = list(out.shape)
        fits = len(shape) == len(declared.shape) and all(
            d == -1 or d == a for d, a in zip(declared.shape[1:], shape[1:], strict=False)
        )
        if not fits:
            raise ExportError(
                f"{where}: output {declared.name!r} declared shape {declared.shape}, "
                f"model gives {['-1', *shape[1:]]}"
            )


def _ships_as_is(spec: ModelSpec, source: Path | None) -> bool:
    """A .pt2 served as `export`, or a TorchScript file served as `torchscript`: the user's
    file goes into the archive unchanged."""
    if source is None or not source.is_file():
        return False
    if spec.format == "export":
        return source.suffix == ".pt2"
    return spec.format == "torchscript" and spec.model_class is None and source.suffix != ".pt2"


def _serialize(
    model: Any, spec: ModelSpec, work: Path, source: Path | None = None
) -> tuple[Path, Path | None, str | None]:
    """Write the model file(s); returns (serialized file, model source file, class name)."""
    import torch

    assert spec.format is not None
    target = work / SERIALIZED[spec.format]
    if _ships_as_is(spec, source):
        assert source is not None
        shutil.copyfile(source, target)
        return target, None, None
    example = tuple(torch.from_numpy(a) for a in sample_inputs(spec.inputs, TRACE_BATCH))
    if spec.format == "torchscript":
        # torch 2.13 deprecates TorchScript in favour of torch.export; the manifest asked for
        # it explicitly, and TorchServe still serves it, so the warning is expected here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", TORCHSCRIPT_DEPRECATION, DeprecationWarning)
            if isinstance(model, torch.jit.ScriptModule):
                scripted = model
            else:
                scripted = torch.jit.trace(model, example, check_trace=False)  # type: ignore[no-untyped-call]
            torch.jit.save(scripted, str(target))
        return target, None, None
    if spec.format == "export":
        dynamic = tuple({0: torch.export.Dim.DYNAMIC} for _ in spec.inputs)
        program = torch.export.export(model, example, dynamic_shapes=dynamic)
        torch.export.save(program, str(target))
        return target, None, None
    # eager: the weights plus the file that defines the class.
    cls = type(model)
    source_file = inspect.getsourcefile(cls)
    if source_file is None:
        raise ExportError(f"model class {cls.__name__} has no source file to ship")
    model_file = work / Path(source_file).name
    shutil.copyfile(source_file, model_file)
    torch.save(model.state_dict(), str(target))
    return target, model_file, cls.__name__


def _reload(
    spec: ModelSpec, serialized: Path, model_file: Path | None, cls_name: str | None
) -> Any:
    import torch

    from torchserve.handler import load_model
    from wire.spec import ModelIO

    io = ModelIO.from_json(_io_json(spec, serialized, model_file, cls_name))
    return load_model(serialized.parent, io, torch.device("cpu"))


def _io_json(
    spec: ModelSpec, serialized: Path, model_file: Path | None, cls_name: str | None
) -> dict[str, Any]:
    return {
        "name": spec.name,
        "version": str(spec.version),
        "format": spec.format,
        "serialized_file": serialized.name,
        "model_file": model_file.name if model_file else None,
        "model_class": cls_name,
        "inputs": [s.model_dump() for s in spec.inputs],
        "outputs": [s.model_dump() for s in spec.outputs],
    }


def _archive(
    spec: ModelSpec, work: Path, serialized: Path, model_file: Path | None, dest: Path
) -> Path:
    from model_archiver.model_archiver_config import ModelArchiverConfig
    from model_archiver.model_packaging import generate_model_archive

    out_dir = work / "mar"
    out_dir.mkdir()
    # The archiver copies a directory's contents: stage `wire/` one level down to keep it.
    ship = work / "ship"
    shutil.copytree(WIRE_DIR, ship / "wire", ignore=shutil.ignore_patterns("__pycache__"))
    extra = [work / "tandem_spec.json", ship]
    config = ModelArchiverConfig(
        model_name=spec.name,
        handler=str(HANDLER_DIR / "handler.py"),
        version=str(spec.version),
        serialized_file=str(serialized),
        model_file=str(model_file) if model_file else None,
        extra_files=",".join(str(p) for p in extra),
        export_path=str(out_dir),
        force=True,
    )
    # The archiver stages files in $TMPDIR/<model name>: isolate it per export.
    previous = tempfile.tempdir
    tempfile.tempdir = str(work)
    try:
        generate_model_archive(config)
    finally:
        tempfile.tempdir = previous
    built = out_dir / f"{spec.name}.mar"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(built), dest)
    return dest


def _handler_parity(
    spec: ModelSpec, mar: Path, samples: list[npt.NDArray[Any]], expected: list[npt.NDArray[Any]]
) -> list[ParityCheck]:
    """Unpack the .mar and run the real handler on v1 and v2 requests, as TorchServe would."""
    from ts.context import Context, RequestProcessor

    from torchserve.handler import TandemHandler

    with tempfile.TemporaryDirectory(prefix="tandem-mar-") as tmp:
        with zipfile.ZipFile(mar) as zf:
            zf.extractall(tmp)
        manifest = json.loads((Path(tmp) / "MAR-INF" / "MANIFEST.json").read_text())
        ctx = Context(spec.name, tmp, manifest, spec.batching.max_batch_size, None, "tandem")
        handler = TandemHandler()
        handler.initialize(ctx)
        v1, v2 = request_bodies(spec.inputs, samples)
        requests = [{"body": v1}, {"body": v2}]
        ctx.request_processor = [RequestProcessor({}) for _ in requests]
        answers = [json.loads(a) for a in handler.handle(requests, ctx)]
    out_names = [s.name for s in spec.outputs]
    checks = []
    for stage, answer in (("handler-v1", answers[0]), ("handler-v2", answers[1])):
        if "error" in answer:
            raise ExportError(
                f"model {spec.name!r}: the handler rejected its own sample: {answer['error']}"
            )
        if stage == "handler-v1":
            preds = answer["predictions"]
            got = (
                [np.asarray(preds)]
                if len(out_names) == 1
                else [np.asarray([p[n] for p in preds]) for n in out_names]
            )
        else:
            by_name = {
                o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in answer["outputs"]
            }
            got = [by_name[n] for n in out_names]
        diffs = {
            n: max_abs_diff(g.astype(e.dtype), e)
            for n, g, e in zip(out_names, got, expected, strict=True)
        }
        checks.append(ParityCheck(stage, diffs, spec.parity_tolerance))
    return checks


def export_pytorch(
    spec: ModelSpec,
    model: Any,
    work: Path,
    dest: Path,
    where: str,
    seed: int = 0,
    *,
    shipped: Path | None = None,
) -> list[ParityCheck]:
    """Serialize in `spec.format` (a user's .pt2 or TorchScript file, `shipped`, goes in as
    it is), archive to `dest` (.mar), and check parity twice."""
    if hasattr(model, "eval"):
        # A loaded .pt2 program's module refuses eval(): it was exported in eval mode.
        with contextlib.suppress(NotImplementedError):
            model.eval()
    _check_against_spec(model, spec, where)
    serialized, model_file, cls_name = _serialize(model, spec, work, shipped)
    (work / "tandem_spec.json").write_text(
        json.dumps(_io_json(spec, serialized, model_file, cls_name), indent=2, sort_keys=True)
    )
    samples = sample_inputs(spec.inputs, CHECK_BATCH, seed=seed)
    expected = _run(model, samples)
    reloaded = _run(_reload(spec, serialized, model_file, cls_name), samples)
    diffs = {
        o.name: max_abs_diff(r, e) for o, r, e in zip(spec.outputs, reloaded, expected, strict=True)
    }
    checks = [ParityCheck(spec.format or "artifact", diffs, spec.parity_tolerance)]
    mar = _archive(spec, work, serialized, model_file, dest)
    checks.extend(_handler_parity(spec, mar, samples, expected))
    return checks
