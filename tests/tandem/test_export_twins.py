"""`tandem export` compares a twin's variants on its sample inputs: variants that compute
the same thing pass, a deliberately different model is refused (exit 2, one line, no routes).
Deterministic: the models are untrained functions and the sample inputs are seeded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MODEL = """\
  - name: {name}
    framework: pytorch
    format: {fmt}
    source: tests.tandem.twin_models:{fn}
    inputs:
      - {{name: pixels, dtype: float32, shape: [-1, 64]}}
    outputs:
      - {{name: probabilities, dtype: float32, shape: [-1, 10]}}
      - {{name: label, dtype: int64, shape: [-1]}}
"""

TWIN = """\
twins:
  - name: pair
    variants:
      - {{model: ref_script}}
      - {{model: {other}}}
    agreement: {{outputs: [label, probabilities], atol: 1.0e-5, objective: 0.99, samples: 32}}
"""


def _manifest(tmp_path: Path, other: str) -> Path:
    text = "models:\n" + "".join(
        MODEL.format(name=n, fmt=f, fn=fn)
        for n, f, fn in (
            ("ref_script", "torchscript", "first_ten"),
            ("ref_export", "export", "first_ten"),
            ("zero_script", "torchscript", "always_zero"),
        )
    )
    path = tmp_path / "models.yaml"
    path.write_text(text + TWIN.format(other=other))
    return path


def test_variants_that_compute_the_same_pass(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "build"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tandem.cli",
            "export",
            "-m",
            str(_manifest(tmp_path, "ref_export")),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=repo_root,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "twin pair: agrees with ref_script: ref_export 32/32" in proc.stdout
    assert '"pair"' in (out / "config" / "routes.json").read_text()


def test_a_different_model_is_refused(tmp_path: Path, export_error) -> None:
    out = tmp_path / "build"
    line = export_error(_manifest(tmp_path, "zero_script"), out)
    assert "models.yaml:" in line
    assert "twin 'pair'" in line
    assert "'zero_script' agrees with 'ref_script' on" in line
    assert "below the objective 99.0%" in line
    assert "label on" in line
    assert not (out / "config" / "routes.json").exists()


def test_demo_twins_agree_on_held_out_digits(demo_build: Path, repo_root: Path) -> None:
    """The demo's builds are trained apart: they agree on the digit (the declared rule), on
    held-out images, at least as often as the manifest's objective asks."""
    from tandem.export import resolve_manifest
    from tandem.export.twins import check_twins
    from tandem.manifest import load_manifest

    manifest = resolve_manifest(load_manifest(repo_root / "models.yaml"), demo_build)
    checks = {c.twin: c for c in check_twins(manifest, demo_build)}
    assert set(checks) == {"digits_mlp", "digits_cnn224"}
    mlp = checks["digits_mlp"]
    assert mlp.samples == 360
    assert mlp.ok
    assert mlp.ratio("digits_mlp_torch") >= 0.88
