"""deploy.prepare, the compose stack's one-shot export service, run here as the container
runs it (`python -m deploy.prepare`), on two small demo models: it exports, renders the
configs and prints the key; a second run exports nothing; a bad rollout name is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import prepare
from deploy.prepare import KEY_BANNER
from tandem.errors import ManifestError
from tests.deploy.conftest import REPO

MANIFEST = """\
models:
  - name: small_tf
    framework: tensorflow
    source: examples.digits.keras_models:train_mlp
    version: 1
    inputs: [{name: pixels, dtype: float32, shape: [-1, 64]}]
    outputs:
      - {name: probabilities, dtype: float32, shape: [-1, 10]}
      - {name: label, dtype: int64, shape: [-1]}
  - name: small_torch
    framework: pytorch
    format: torchscript
    source: examples.digits.torch_models:train_mlp
    version: 1
    inputs: [{name: pixels, dtype: float32, shape: [-1, 64]}]
    outputs:
      - {name: probabilities, dtype: float32, shape: [-1, 10]}
      - {name: label, dtype: int64, shape: [-1]}
"""


def _prepare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "-1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.prepare",
            "--manifest",
            str(tmp_path / "models.yaml"),
            "--out",
            str(tmp_path / "models"),
            "--keys",
            str(tmp_path / "keys"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,  # a hang-catcher: two small models train in well under a minute
        check=False,
    )


@pytest.mark.integration
def test_prepare_exports_once_renders_the_configs_and_shows_the_key(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(MANIFEST)
    first = _prepare(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 exported, 0 up to date" in first.stdout
    key = (tmp_path / "keys" / "api_key").read_text().strip()
    assert f"{KEY_BANNER} (X-API-Key header): {key}" in first.stdout
    models = tmp_path / "models"
    assert (models / "tensorflow" / "small_tf" / "1" / "saved_model.pb").is_file()
    assert (models / "torchserve" / "model-store" / "small_torch.mar").is_file()
    for name in ("routes.json", "models.config", "config.properties", "api_keys"):
        assert (models / "config" / name).is_file(), name
    assert (models / "prometheus" / "prometheus.yml").is_file()

    second = _prepare(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0 exported, 2 up to date" in second.stdout
    assert key in second.stdout  # the same key, kept in the keys volume


@pytest.mark.integration
def test_a_rollout_of_an_unknown_model_fails_in_one_line_and_exports_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "models.yaml").write_text(MANIFEST)
    done = _prepare(tmp_path, "--rollout", "nosuch")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "[export] error: models.yaml: no model named 'nosuch' (known: small_tf, small_torch)"
    ]
    assert not (tmp_path / "models").exists()


def test_an_unreadable_tree_is_named_with_the_uid_that_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clone readable only by its owner: the container's uid cannot read the manifest.
    (Root reads any file, so the refusal is raised where the manifest is read.)"""

    def refuse(path: Path) -> None:
        try:
            raise PermissionError(13, "Permission denied", str(path))
        except PermissionError as exc:
            raise ManifestError(f"{path}: cannot read manifest: {exc}") from exc

    monkeypatch.setattr(prepare, "load_manifest", refuse)
    code = prepare.main(["--manifest", str(tmp_path / "models.yaml"), "--out", str(tmp_path)])
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(f"(this runs as uid {os.getuid()}: the tree must be readable by others)")
    assert "Permission denied" in line
