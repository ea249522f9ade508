"""The export pipeline: stage every requested model, then commit them all or none.

`export_models` stages each artifact under `<out>/.staging-*` and moves them into place only
when all requested models exported and passed parity, so a failure leaves nothing
half-written. Existing versions are never modified: a new version is a new directory or file.
It writes no server config: the caller (the CLI) does that with `tandem.configgen`, from the
manifest resolved by `tandem.export.resolve_manifest`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from tandem.backend_kinds import kind_for
from tandem.errors import ExportError, ParityError, TandemError
from tandem.export.record import is_current, write_record
from tandem.export.result import ExportResult
from tandem.export.signatures import resolve_spec
from tandem.export.sources import load_source, one_line
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec, select

Progress = Callable[[str], None]


def _artifact(layout: Layout, spec: ModelSpec) -> Path:
    return kind_for(spec.framework).artifact(layout, spec.name, spec.version)


def _export_one(manifest: Manifest, declared: ModelSpec, staging: Path) -> ExportResult:
    spec = resolve_spec(manifest, declared)
    where = manifest.where(declared, "inputs" if declared.inputs else "source")
    stage_artifact = _artifact(Layout(staging), spec)
    stage_artifact.parent.mkdir(parents=True, exist_ok=True)
    source_path = None if spec.is_entry_point else (manifest.root / spec.source).resolve()
    if spec.framework == "tensorflow" and source_path is not None and source_path.is_dir():
        from tandem.export.savedmodel import export_savedmodel

        parity = export_savedmodel(spec, source_path, stage_artifact, where)
        return ExportResult(
            spec.name, spec.framework, spec.version, stage_artifact, parity, spec=spec
        )
    loaded = load_source(manifest, spec)
    if spec.min_accuracy is not None:
        acc = loaded.metrics.get("accuracy")
        if acc is None or acc < spec.min_accuracy:
            raise ExportError(
                f"{manifest.where(spec, 'min_accuracy')}: held-out accuracy {acc} "
                f"is below min_accuracy {spec.min_accuracy}"
            )
    if spec.framework == "tensorflow":
        from tandem.export.tensorflow import export_tensorflow

        parity = export_tensorflow(spec, loaded.model, stage_artifact, where)
    else:
        from tandem.export.pytorch import export_pytorch

        work = staging / "work" / spec.name
        work.mkdir(parents=True)
        parity = export_pytorch(
            spec, loaded.model, work, stage_artifact, where, shipped=loaded.path
        )
    return ExportResult(
        model=spec.name,
        framework=spec.framework,
        version=spec.version,
        artifact=stage_artifact,
        parity=parity,
        metrics=loaded.metrics,
        spec=spec,
    )


def _export_checked(manifest: Manifest, spec: ModelSpec, staging: Path) -> ExportResult:
    """One model, every failure as one line that names the model: never a traceback."""
    try:
        result = _export_one(manifest, spec, staging)
    except TandemError:
        raise
    except Exception as exc:
        raise ExportError(
            f"{manifest.where(spec, 'source')}: export failed: {one_line(exc)} "
            f"(check source: and the declared inputs/outputs; `tandem inspect PATH` shows "
            "what an artifact declares)"
        ) from exc
    bad = [p for p in result.parity if not p.ok]
    if bad:
        detail = ", ".join(f"{p.stage} max|diff|={p.worst:.3g}" for p in bad)
        raise ParityError(
            f"{manifest.where(spec)}: parity failed ({detail}; tolerance "
            f"{spec.parity_tolerance}): the artifact does not compute what its source does "
            "(raise parity_tolerance: only if that difference is expected)"
        )
    return result


def _commit(
    layout: Layout, staging: Path, manifest: Manifest, spec: ModelSpec, result: ExportResult
) -> ExportResult:
    """Move one staged artifact into place; a stale same-version artifact is swapped out."""
    final = _artifact(layout, spec)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = staging / "replaced" / spec.name
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(final, trash)
    os.replace(result.artifact, final)
    write_record(layout, manifest, spec, result, final)
    return replace(result, artifact=final)


def export_models(
    manifest: Manifest,
    names: Sequence[str] = (),
    out: Path = Path("build"),
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> list[ExportResult]:
    """Export the named models (all if none) into `out`'s layout.

    Up-to-date artifacts are skipped unless `force`. Raises ExportError (or ParityError)
    with a one-line message; nothing under `out` changes in that case. Writes no configs.
    """
    say = progress or (lambda _msg: None)
    out = out.resolve()
    layout = Layout(out)
    specs = list(select(manifest, names))
    created_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    results: list[ExportResult] = []
    try:
        staged: list[tuple[ModelSpec, ExportResult]] = []
        for spec in specs:
            if not force and is_current(manifest, spec, out):
                say(f"{spec.name} v{spec.version}: up to date")
                results.append(
                    ExportResult(
                        spec.name,
                        spec.framework,
                        spec.version,
                        _artifact(layout, spec),
                        skipped=True,
                    )
                )
                continue
            say(f"{spec.name} v{spec.version}: exporting ({spec.framework})")
            staged.append((spec, _export_checked(manifest, spec, staging)))
        for spec, result in staged:
            results.append(_commit(layout, staging, manifest, spec, result))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_out and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    order = {s.name: i for i, s in enumerate(specs)}
    return sorted(results, key=lambda r: order[r.model])
