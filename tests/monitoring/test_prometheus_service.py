"""`tandem up --monitoring` wiring without starting the stack: the Prometheus service's command
line, its place in the stack, and the message when Debian's package is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tandem.cli import app
from tandem.errors import StackError
from tandem.stack import Stack


def test_monitoring_adds_prometheus_after_the_gateway(demo_manifest, tmp_path: Path) -> None:
    stack = Stack(demo_manifest, tmp_path, monitoring=True, prometheus_port=9391)
    assert [s.name for s in stack.services] == ["tfserving", "torchserve", "gateway", "prometheus"]
    prom = stack.prometheus
    assert prom is not None
    cmd = prom.command()
    assert f"--config.file={tmp_path.resolve() / 'config' / 'prometheus.yml'}" in cmd
    assert "--web.listen-address=127.0.0.1:9391" in cmd
    assert prom.ports == [("127.0.0.1", 9391)]
    assert Stack(demo_manifest, tmp_path).prometheus is None


def test_missing_prometheus_names_the_package(demo_manifest, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(StackError, match=r"apt-get install -y prometheus"):
        Stack(demo_manifest, tmp_path, monitoring=True)


def test_cli_refuses_before_starting_anything(tmp_path: Path, monkeypatch, repo_root) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("tandem.export.export_models", lambda *a, **k: [])
    result = CliRunner().invoke(
        app,
        [
            "up",
            "--monitoring",
            "--manifest",
            str(repo_root / "models.yaml"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert "prometheus" in result.output
    assert not (tmp_path / "run" / "stack.json").exists()
