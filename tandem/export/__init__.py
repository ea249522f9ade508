"""Export: manifest models → server-native artifacts, each checked for parity.

`tandem.export.pipeline` runs it (staging, skip-if-current, commit); `savedmodel` copies an
existing SavedModel as it is; `tensorflow` and `pytorch` build artifacts from live models;
`signatures` reads an artifact's own inputs and outputs; `record` owns the source
fingerprint and the export records that both of them read. Where files go is
`tandem.layout`; `configs` writes the configs that point the servers at them
(`tandem.configgen`), once the CLI has exported.
"""

from __future__ import annotations

from tandem.export.configs import write_build_configs
from tandem.export.pipeline import export_models
from tandem.export.record import is_current, source_fingerprint
from tandem.export.result import ExportResult, ParityCheck
from tandem.export.signatures import inspect_snippet, resolve_manifest, resolve_spec

__all__ = [
    "ExportResult",
    "ParityCheck",
    "export_models",
    "inspect_snippet",
    "is_current",
    "resolve_manifest",
    "resolve_spec",
    "source_fingerprint",
    "write_build_configs",
]
