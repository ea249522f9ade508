"""The demo manifest's kustomize tree, rendered into a temp dir and built once per overlay
with the real `kubectl kustomize`. A missing kubectl fails the run: CI must not pass
without having built the YAML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tandem.k8s.kubectl import kustomize
from tandem.k8s.render import OVERLAYS, render_tree
from tandem.manifest import Manifest, load_manifest
from tests.k8s.checks import REPO


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest(REPO / "models.yaml")


@pytest.fixture(scope="session")
def tree_dir(manifest: Manifest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl (v1.27+, built-in kustomize) is required: see k8s/README.md")
    dest = tmp_path_factory.mktemp("k8s")
    render_tree(manifest).write(dest)
    return dest


@pytest.fixture(scope="session")
def built(tree_dir: Path) -> dict[str, str]:
    """Overlay name → its `kubectl kustomize` output."""
    return {o: kustomize(tree_dir / "overlays" / o) for o in OVERLAYS}


@pytest.fixture(scope="session")
def built_files(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dest = tmp_path_factory.mktemp("built")
    out = {}
    for overlay, text in built.items():
        out[overlay] = dest / f"{overlay}.yaml"
        out[overlay].write_text(text)
    return out
