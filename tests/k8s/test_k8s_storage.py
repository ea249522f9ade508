"""The model-fetch initContainer's copy, through real fsspec on file:// URIs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tandem.k8s.storage import StorageError, fetch, push
from tests.k8s.checks import REPO


@pytest.fixture
def build(tmp_path):
    b = tmp_path / "build"
    (b / "tensorflow" / "m" / "1" / "variables").mkdir(parents=True)
    (b / "tensorflow" / "m" / "1" / "saved_model.pb").write_bytes(b"pb")
    (b / "tensorflow" / "m" / "1" / "variables" / "v.index").write_bytes(b"ix")
    (b / "torchserve" / "model-store").mkdir(parents=True)
    (b / "torchserve" / "model-store" / "t.mar").write_bytes(b"mar")
    return b


def test_push_then_fetch_round_trip(build, tmp_path):
    repo = f"file://{tmp_path / 'bucket'}"
    paths = ["tensorflow/m/1", "torchserve/model-store/t.mar"]
    assert len(push(build, repo, paths)) == 2
    dest = tmp_path / "models"
    fetch(repo, dest, paths)
    assert (dest / "tensorflow/m/1/saved_model.pb").read_bytes() == b"pb"
    assert (dest / "tensorflow/m/1/variables/v.index").read_bytes() == b"ix"
    assert (dest / "torchserve/model-store/t.mar").read_bytes() == b"mar"


def test_fetch_refuses_a_partial_repository(build, tmp_path):
    repo = f"file://{build}"
    with pytest.raises(StorageError, match="missing in the model repository: tensorflow/m/2"):
        fetch(repo, tmp_path / "models", ["tensorflow/m/1", "tensorflow/m/2"])
    assert not (tmp_path / "models").exists()


def test_unknown_protocol_is_one_line(tmp_path):
    with pytest.raises(StorageError):
        fetch("nosuch://bucket/x", tmp_path, ["a"])


def test_entry_point_exit_codes(build, tmp_path):
    cmd = [sys.executable, "-m", "tandem.k8s.storage", "--timeout", "60", "fetch",
           f"file://{build}", str(tmp_path / "out")]  # fmt: skip
    ok = subprocess.run([*cmd, "torchserve/model-store/t.mar"], capture_output=True,
                        text=True, timeout=60, cwd=REPO, check=False)  # fmt: skip
    assert ok.returncode == 0
    assert "fetched" in ok.stdout
    bad = subprocess.run([*cmd, "torchserve/model-store/x.mar"], capture_output=True,
                         text=True, timeout=60, cwd=REPO, check=False)  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "x.mar" in bad.stderr
