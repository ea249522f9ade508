"""Print the requirements of pyproject.toml's base install plus the named extras.

Dockerfiles run it (standard library only) so the dependency layer is built from
pyproject.toml + constraints.txt alone and stays cached while the sources change:

    python3 deploy/requirements.py gateway > requirements.txt
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements(extras: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """The base dependencies and those of `extras`, in file order, without duplicates."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"unknown extra(s) {unknown}; pyproject.toml has {sorted(optional)}")
    found: list[str] = []
    for req in [*project["dependencies"], *(r for e in extras for r in optional[e])]:
        if req not in found:
            found.append(req)
    return found


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
