"""Fixtures for the server's own tests: fixture models written once, server helpers.

The model builders and the subprocess harness live next to the conformance suite;
``tests`` is not a package, so that folder is put on ``sys.path`` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from tfs_fixture_models import write_native, write_tf1


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``native/1``, ``native/2`` and ``tf1/1`` SavedModels to copy from."""
    root = tmp_path_factory.mktemp("tfs_models")
    write_native(root / "native" / "1", 1)
    write_native(root / "native" / "2", 2)
    write_tf1(root / "tf1" / "1")
    return root
