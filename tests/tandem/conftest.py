"""Fixtures for the tandem package tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def write_manifest(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write YAML text to models.yaml in a temp dir and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "models.yaml"
        path.write_text(text)
        return path

    return write
