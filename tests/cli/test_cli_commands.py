"""The `tandem` command itself in the dev environment: `--version` from the package metadata,
`python -m tandem`, shell completion, error lines printed as they are."""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import tandem
from tandem.cli import app
from tests.cli.venvs import PYPROJECT, REPO


def _tandem(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tandem", *argv],
        capture_output=True, text=True, timeout=120, env=full, cwd=REPO, check=False,
    )  # fmt: skip


def test_version_is_the_installed_distributions() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"tandem {md.version('tandem-serving')}\n")
    # The fallback for a source tree that is not installed says the same.
    assert tandem.__version__ == PYPROJECT["project"]["version"]


def test_completion_offers_commands_and_the_options_of_a_subcommand() -> None:
    words = {"_TANDEM_COMPLETE": "complete_bash"}
    top = _tandem(env={**words, "COMP_WORDS": "tandem ro", "COMP_CWORD": "1"})
    assert top.stdout.split() == ["rollout"]
    sub = _tandem(env={**words, "COMP_WORDS": "tandem k8s render --ov", "COMP_CWORD": "3"})
    assert sub.stdout.split() == ["--overlay"]


def test_an_error_line_is_printed_verbatim(tmp_path: Path) -> None:
    """Brackets in a message are text, not rich markup (`tandem-serving[export]` stays)."""
    proc = _tandem(
        "k8s", "render", "--overlay", "[export]", "--tree", str(tmp_path / "k8s"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "error: unknown overlay '[export]' (known: cpu, gpu, gpu-pvc)"
    ]
