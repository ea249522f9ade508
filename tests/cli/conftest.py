"""Fixtures for the CLI's packaging tests: the project's wheel, built once per test run, and
clean virtual environments with it installed from the package index as a user would (base or
one extra). The venvs are real: `python -m venv`, `pip install -c constraints.txt
WHEEL[extra]` (pip's cache keeps reruns short), nothing from the dev environment; the tests
that use them are marked integration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.venvs import PIP_TIMEOUT_S, REPO, SOURCES, Venv, clean_env, not_in_a_clean_clone


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel (`pip wheel --no-deps`), built from a copy of the sources as a
    fresh clone has them, so the build leaves nothing in the checkout (its build/ is
    Tandem's)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        for path in REPO.glob(name):
            if path.is_dir():
                shutil.copytree(path, src / path.name, ignore=not_in_a_clean_clone)
            else:
                shutil.copy2(path, src / path.name)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(src)],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )  # fmt: skip
    (built,) = dist.glob("tandem_serving-*.whl")
    return built


@pytest.fixture(scope="session")
def make_venv(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str | None], Venv]:
    """`make_venv(extra)`: a fresh venv with the wheel installed (`None`: the base alone),
    versions from constraints.txt; one per extra per test run."""
    made: dict[str | None, Venv] = {}

    def make(extra: str | None) -> Venv:
        if extra in made:
            return made[extra]
        root = tmp_path_factory.mktemp(f"venv-{extra or 'base'}")
        env = clean_env()
        subprocess.run([sys.executable, "-m", "venv", str(root)], env=env, check=True, timeout=300)
        target = f"{wheel}[{extra}]" if extra else str(wheel)
        subprocess.run(
            [str(root / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", "-c", str(REPO / "constraints.txt"), target],
            env=env,
            check=True,
            timeout=PIP_TIMEOUT_S,
        )  # fmt: skip
        venv = Venv(root)
        assert venv.has("tandem.cli"), "the wheel did not install"
        made[extra] = venv
        return venv

    return make
