"""Shared fixtures: the demo models exported once per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every demo model in models.yaml, exported (trained, parity-checked) into a temp build."""
    from tandem.export import export_models
    from tandem.manifest import load_manifest

    out = tmp_path_factory.mktemp("build")
    results = export_models(load_manifest(REPO / "models.yaml"), out=out)
    assert all(r.parity_ok and not r.skipped for r in results)
    yield out
