"""Fixtures for the tandem package tests."""

from __future__ import annotations

import subprocess
import sys
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


@pytest.fixture
def export_error(repo_root: Path):  # type: ignore[no-untyped-def]
    """Run `tandem export` that must fail; return its one `error:` line.

    The contract for every export failure: exit 2, exactly one `error:` line, no traceback.
    """

    def run(manifest: Path, out: Path) -> str:
        cli = [sys.executable, "-m", "tandem.cli", "export"]
        proc = subprocess.run(
            [*cli, "--manifest", str(manifest), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=repo_root,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        return lines[0]

    return run
