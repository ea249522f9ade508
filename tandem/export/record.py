"""The export record: what was exported, from which spec and source, with its parity.

One JSON file per model version (`Layout.export_record`). This module owns the source
fingerprint and every read and write of a record, so the pipeline (which writes records and
skips current exports) and `signatures` (which reuses a current record's resolved spec) both
depend on it and not on each other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tandem.backend_kinds import kind_for
from tandem.export.result import ExportResult
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec


def _source_stat(path: Path) -> str:
    """Sizes and mtimes of a source file, or of every file in a source directory."""
    if path.is_file():
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    parts = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            parts.append(f"{p.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def source_fingerprint(manifest: Manifest, spec: ModelSpec) -> str:
    """Spec (as the manifest states it) + the source's code or file(s): an export is stale
    when either changes."""
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
            h.update(_source_stat(path).encode())
    return h.hexdigest()[:16]


def _read_current(manifest: Manifest, spec: ModelSpec, layout: Layout) -> dict[str, Any] | None:
    """The record of this version when it was written from this very spec and source."""
    try:
        data = json.loads(layout.export_record(spec.name, spec.version).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != source_fingerprint(manifest, spec):
        return None
    return data


def is_current(manifest: Manifest, spec: ModelSpec, out: Path) -> bool:
    """True when the artifact exists and was exported from this very spec and source."""
    layout = Layout(out)
    if not kind_for(spec.framework).artifact(layout, spec.name, spec.version).exists():
        return False
    return _read_current(manifest, spec, layout) is not None


def recorded_spec(manifest: Manifest, spec: ModelSpec, layout: Layout) -> ModelSpec | None:
    """The spec as the current export of this very source recorded it, if there is one."""
    data = _read_current(manifest, spec, layout)
    if data is None or "spec" not in data:
        return None
    return ModelSpec.model_validate(data["spec"])


def write_record(
    layout: Layout, manifest: Manifest, spec: ModelSpec, result: ExportResult, artifact: Path
) -> Path:
    """Write (atomically) the record of `result`, committed at `artifact`; returns its path."""
    record = layout.export_record(spec.name, spec.version)
    record.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": spec.name,
        "framework": spec.framework,
        "version": spec.version,
        "fingerprint": source_fingerprint(manifest, spec),
        "metrics": result.metrics,
        "parity": [asdict(p) for p in result.parity],
        "artifact": str(artifact),
        "spec": (result.spec or spec).model_dump(mode="json"),
    }
    tmp = record.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, record)
    return record
