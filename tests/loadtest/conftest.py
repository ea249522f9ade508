"""A local HTTP server with a known delay, started per test in its own process (so the
generator under test does not share its event loop or GIL)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

StartServer = Callable[..., str]


@pytest.fixture
def delay_server() -> Iterator[StartServer]:
    """``start(delay_ms=.., capacity=.., ramp_ms_per_s=.., status=..)`` -> base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(**options: float) -> str:
        argv = [sys.executable, "-m", "tandem.loadtest.delay_server", "--lifetime-s", "120"]
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready "), line
        return f"http://127.0.0.1:{int(line.split()[1])}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
