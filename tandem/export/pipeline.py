"""The export pipeline: manifest models → server-native artifacts + generated configs.

`export_models` stages every artifact under `<out>/.staging-*` and moves them into place only
when all requested models exported and passed parity, so a failure leaves nothing
half-written. Existing versions are never modified: a new version is a new directory or file.

Layout under `<out>`:
    tensorflow/<name>/<version>/            SavedModel + assets.extra/tf_serving_warmup_requests
    torchserve/model-store/<name>.mar       (version 1; later versions <name>.v<N>.mar)
    exports/<name>/<version>.json           what was exported, from which spec, with parity
    config/                                 see tandem.configgen
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from tandem.configgen import write_configs
from tandem.errors import ExportError, ParityError
from tandem.export.result import ExportResult, ParityCheck
from tandem.export.sources import load_source
from tandem.manifest import Manifest, ModelSpec, select

__all__ = ["ExportResult", "ParityCheck", "artifact_path", "export_models", "is_current"]

Progress = Callable[[str], None]


def artifact_path(out: Path, spec: ModelSpec, version: int | None = None) -> Path:
    from tandem.export.pytorch import mar_filename

    v = spec.version if version is None else version
    if spec.framework == "tensorflow":
        return out / "tensorflow" / spec.name / str(v)
    return out / "torchserve" / "model-store" / mar_filename(spec.name, v)


def _record_path(out: Path, spec: ModelSpec) -> Path:
    return out / "exports" / spec.name / f"{spec.version}.json"


def source_fingerprint(manifest: Manifest, spec: ModelSpec) -> str:
    """Spec + the source's code or file: an export is stale when either changes."""
    h = hashlib.sha256(spec.fingerprint().encode())
    if spec.is_entry_point:
        module = spec.source.partition(":")[0]
        found = None
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is not None and found.origin and Path(found.origin).is_file():
            h.update(Path(found.origin).read_bytes())
    else:
        path = manifest.root / spec.source
        if path.exists():
            st = path.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def is_current(manifest: Manifest, spec: ModelSpec, out: Path) -> bool:
    """True when the artifact exists and was exported from this very spec and source."""
    record = _record_path(out, spec)
    if not artifact_path(out, spec).exists() or not record.exists():
        return False
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("fingerprint") == source_fingerprint(manifest, spec))


def _export_one(manifest: Manifest, spec: ModelSpec, staging: Path) -> ExportResult:
    where = manifest.where(spec, "inputs")
    loaded = load_source(manifest, spec)
    if spec.min_accuracy is not None:
        acc = loaded.metrics.get("accuracy")
        if acc is None or acc < spec.min_accuracy:
            raise ExportError(
                f"{manifest.where(spec, 'min_accuracy')}: held-out accuracy {acc} "
                f"is below min_accuracy {spec.min_accuracy}"
            )
    stage_artifact = artifact_path(staging, spec)
    if spec.framework == "tensorflow":
        from tandem.export.tensorflow import export_tensorflow

        stage_artifact.parent.mkdir(parents=True, exist_ok=True)
        parity = export_tensorflow(spec, loaded.model, stage_artifact, where)
    else:
        from tandem.export.pytorch import export_pytorch

        work = staging / "work" / spec.name
        work.mkdir(parents=True)
        parity = export_pytorch(spec, loaded.model, work, stage_artifact, where)
    bad = [p for p in parity if not p.ok]
    if bad:
        detail = ", ".join(f"{p.stage} max|diff|={p.worst:.3g}" for p in bad)
        raise ParityError(f"{where}: parity failed ({detail}; tolerance {spec.parity_tolerance})")
    return ExportResult(
        model=spec.name,
        framework=spec.framework,
        version=spec.version,
        artifact=stage_artifact,
        parity=parity,
        metrics=loaded.metrics,
    )


def _commit(
    out: Path, staging: Path, manifest: Manifest, spec: ModelSpec, result: ExportResult
) -> ExportResult:
    """Move one staged artifact into place; a stale same-version artifact is swapped out."""
    final = artifact_path(out, spec)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = staging / "replaced" / spec.name
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(final, trash)
    os.replace(result.artifact, final)
    record = _record_path(out, spec)
    record.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": spec.name,
        "framework": spec.framework,
        "version": spec.version,
        "fingerprint": source_fingerprint(manifest, spec),
        "metrics": result.metrics,
        "parity": [asdict(p) for p in result.parity],
        "artifact": str(final),
    }
    tmp = record.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, record)
    return replace(result, artifact=final)


def export_models(
    manifest: Manifest,
    names: Sequence[str] = (),
    out: Path = Path("build"),
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> list[ExportResult]:
    """Export the named models (all if none), then (re)generate every config.

    Up-to-date artifacts are skipped unless `force`. Raises ExportError (or ParityError)
    with a one-line message; nothing under `out` changes in that case.
    """
    say = progress or (lambda _msg: None)
    out = out.resolve()
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
                        artifact_path(out, spec),
                        skipped=True,
                    )
                )
                continue
            say(f"{spec.name} v{spec.version}: exporting ({spec.framework})")
            staged.append((spec, _export_one(manifest, spec, staging)))
        write_configs(manifest, staging / "config", out)
        for spec, result in staged:
            results.append(_commit(out, staging, manifest, spec, result))
        config_dir = out / "config"
        config_dir.mkdir(exist_ok=True)
        for generated in sorted((staging / "config").iterdir()):
            os.replace(generated, config_dir / generated.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_out and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    order = {s.name: i for i, s in enumerate(specs)}
    return sorted(results, key=lambda r: order[r.model])
