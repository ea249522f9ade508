"""The supervisor on real processes: a tiny HTTP server stands in for a backend (it starts in
its own session with a child, as TorchServe's launcher does with its JVM and workers)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tandem.layout import Layout
from tandem.manifest import Manifest, load_manifest
from tandem.stack.process import free_port, stop_session
from tandem.stack.service import Service
from tandem.stack.supervise import RestartPolicy, Supervisor, describe_exit

SERVER = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print("tiny server up, child", child.pid, flush=True)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""

CRASHER = "import sys; print('boom: cannot load model', flush=True); sys.exit(3)"


class Tiny(Service):
    """A real process with a real readiness check; `script` decides how it behaves."""

    name = "tiny"

    def __init__(self, manifest: Manifest, layout: Layout, script: str) -> None:
        super().__init__(manifest, layout)
        self.port = free_port()
        self.script = script
        self.starts = 0

    @property
    def ports(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.port)]

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, str(self.port)]

    def start(self) -> None:
        self.starts += 1
        super().start()

    def is_ready(self) -> bool:
        return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=2).status_code == 200


@pytest.fixture
def make(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "models.yaml").write_text(
        "models:\n  - name: m\n    framework: tensorflow\n    source: saved/m\n"
        "    inputs: [{name: x, dtype: float32, shape: [-1, 1]}]\n"
        "    outputs: [{name: y, dtype: float32, shape: [-1, 1]}]\n"
    )
    manifest = load_manifest(tmp_path / "models.yaml")
    made: list[Tiny] = []

    def _make(script: str) -> Tiny:
        service = Tiny(manifest, Layout(tmp_path / "build"), script)
        made.append(service)
        return service

    yield _make
    for service in made:
        service.stop()
        if service.proc is not None:
            stop_session(service.proc.pid)


def _run(supervisor: Supervisor, until, limit_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit_s
    while not until():
        assert time.monotonic() < deadline, "supervisor did not get there in time"
        supervisor.tick()
        time.sleep(0.05)


def _child_of(service: Tiny) -> psutil.Process:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert service.proc is not None
        children = psutil.Process(service.proc.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the tiny server never started its child")


def test_a_killed_backend_is_restarted_and_what_it_left_is_stopped(make) -> None:  # type: ignore[no-untyped-def]
    service = make(SERVER)
    service.start()
    service.wait_ready(30)
    orphan = _child_of(service)
    said: list[str] = []
    recorded: list[int | None] = []
    policy = RestartPolicy(first_delay_s=0.1, poll_s=0.1)
    supervisor = Supervisor(
        [service], said.append, policy, on_restart=lambda: recorded.append(service.pid)
    )
    old_pid = service.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)

    _run(supervisor, lambda: supervisor.state(service) == "up" and service.pid != old_pid)

    text = "\n".join(said)
    assert "tiny: exited (killed by SIGKILL)" in text
    assert "tiny server up, child" in text  # the log tail
    assert "restart 1/5 in 0.1s" in text
    assert "ready again" in text
    assert recorded == [service.pid]
    assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE
    assert supervisor.restarts(service) == 1
    assert service.is_ready()


def test_a_backend_that_keeps_dying_is_given_up_after_bounded_restarts(make) -> None:  # type: ignore[no-untyped-def]
    service = make(CRASHER)
    service.start()
    said: list[str] = []
    starts: list[float] = []
    policy = RestartPolicy(max_restarts=2, first_delay_s=0.2, poll_s=0.05)
    supervisor = Supervisor(
        [service], said.append, policy, on_restart=lambda: starts.append(time.monotonic())
    )
    _run(supervisor, lambda: supervisor.state(service) == "gave_up")

    assert service.starts == 3  # the first start and two restarts, then no more
    text = "\n".join(said)
    assert text.count("exit status 3") == 3
    assert "boom: cannot load model" in text
    assert "restart 1/2 in 0.2s" in text
    assert "restart 2/2 in 0.4s" in text
    assert "giving up after 2 restarts" in said[-1]
    assert starts[1] - starts[0] >= 0.4  # the backoff doubled
    for _ in range(5):  # given up means given up
        supervisor.tick()
    assert service.starts == 3


def test_a_restart_that_cannot_start_counts_as_a_failed_restart(make) -> None:  # type: ignore[no-untyped-def]
    service = make(SERVER)
    service.start()
    service.wait_ready(30)
    blocker = make(SERVER)
    blocker.port = service.port
    said: list[str] = []
    supervisor = Supervisor(
        [service], said.append, RestartPolicy(max_restarts=1, first_delay_s=0.05)
    )
    assert service.proc is not None
    pid = service.proc.pid
    os.kill(pid, signal.SIGKILL)
    service.proc.wait(timeout=10)
    stop_session(pid)
    blocker.start()  # someone else took the port meanwhile
    blocker.wait_ready(30)
    _run(supervisor, lambda: supervisor.state(service) == "gave_up")
    assert any("could not be restarted" in m and "already in use" in m for m in said)


@pytest.mark.parametrize(
    ("restart", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (9, 30.0)]
)
def test_backoff_doubles_up_to_its_cap(restart: int, delay: float) -> None:
    assert RestartPolicy(first_delay_s=1.0, max_delay_s=30.0).delay(restart) == delay


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exit status 0"),
        (3, "exit status 3"),
        (-9, "killed by SIGKILL"),
        (None, "still running"),
    ],
)
def test_exit_statuses_read_as_words(code: int | None, text: str) -> None:
    assert describe_exit(code) == text
