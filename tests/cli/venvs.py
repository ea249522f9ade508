"""Clean virtual environments for the CLI's packaging tests (fixtures in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
#: What the wheel is built from (pyproject's packages, README for the metadata).
PACKAGES: list[str] = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
SOURCES = ("pyproject.toml", "README.md", *PACKAGES)
# A bound that only catches a hang (a cold pip cache downloads numpy and friends).
PIP_TIMEOUT_S = 900


def clean_env() -> dict[str, str]:
    """This process's environment without what points Python at this checkout or the dev
    venv (an in-tree egg-info on PYTHONPATH would make pip skip installing the wheel)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@dataclass(frozen=True)
class Venv:
    """A clean virtual environment with the project installed; `run` calls its scripts."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(
        self, *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv[0]` from the venv's bin/ (`tandem`, `python`) with only the venv on PATH
        before the system's, and nothing of this checkout on PYTHONPATH."""
        clean = clean_env()
        clean["PATH"] = f"{self.root / 'bin'}{os.pathsep}{clean.get('PATH', '')}"
        clean["COLUMNS"] = "200"  # one line per error, also when rich wraps
        clean.update(env or {})
        exe = self.root / "bin" / argv[0]
        return subprocess.run(
            [str(exe), *argv[1:]],
            cwd=cwd,
            env=clean,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def has(self, module: str) -> bool:
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
        proc = subprocess.run(
            [str(self.python), "-c", code], env=clean_env(), cwd=self.root, check=False, timeout=120
        )
        return proc.returncode == 0


def not_in_a_clean_clone(_dir: str, names: list[str]) -> set[str]:
    """What a fresh clone lacks (caches, the gateway's generated gRPC stubs): the wheel is
    built as a user would build it from one."""
    skip = ("__pycache__", ".mypy_cache", "_generated")
    return {n for n in names if n in skip or n.endswith(".pyc")}
