"""The server configs of a build directory, from the manifest and its export records.

Every model's inputs and outputs are resolved (declared, or read from the export records
under `out`), then `tandem.configgen` writes every config into `out`/config: what `tandem
export`, `tandem configs`, `tandem up` and `tandem rollout` do after exporting.
"""

from __future__ import annotations

from pathlib import Path

from tandem.configgen import render_all, write_configs
from tandem.export.signatures import resolve_manifest
from tandem.layout import Layout
from tandem.manifest import Manifest


def write_build_configs(
    manifest: Manifest, out: Path, *, routes: bool = True
) -> tuple[Manifest, list[Path]]:
    """Resolve every model's inputs/outputs and write the configs into `out`'s config
    directory; returns the resolved manifest and the files written. ``routes=False`` leaves
    routes.json to the rollout (written once the versions are live)."""
    resolved = resolve_manifest(manifest, out)
    root = out.resolve()
    only = None if routes else [n for n in render_all(resolved, root) if n != "routes.json"]
    return resolved, write_configs(resolved, Layout(root).config, root, only=only)
