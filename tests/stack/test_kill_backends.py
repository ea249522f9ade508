"""`kill -9` under load: TorchServe's JVM, then the TF server, then the gateway.

Steady requests go through the gateway to one model on each backend. A killed backend's
model gets 503s with an error body (never a hang, a 500 or a dropped connection) until the
supervisor has restarted it, then 200s again; the other backend's model never fails. Only
the gateway's own death ends `tandem up`, and then nothing is left running. The recovery
figures are printed (run with `-s` to see them).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from examples.digits.data import sample_images
from tandem.export import export_models
from tandem.manifest import load_manifest

pytestmark = pytest.mark.integration

LIMIT_S = 420.0  # the whole test; every loop below stops by itself within it
CLIENT_TIMEOUT_S = 10.0  # an answer later than this counts as a hang


@dataclass
class Outcome:
    sent: float
    done: float
    status: int | str  # HTTP status, or the client exception's name
    error: str = ""


@dataclass
class Load:
    """One thread per model, sequential requests through the gateway, 20 per second at most."""

    gateway: str
    api_key: str
    results: dict[str, list[Outcome]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.body = {"instances": sample_images(1).tolist()}
        self.threads = [
            threading.Thread(target=self._run, args=(m,), daemon=True)
            for m in ("digits_mlp_tf", "digits_mlp_torch")
        ]

    def _run(self, model: str) -> None:
        out = self.results.setdefault(model, [])
        deadline = time.monotonic() + LIMIT_S
        url = f"{self.gateway}/v1/models/{model}:predict"
        headers = {"X-API-Key": self.api_key}
        with httpx.Client(headers=headers, timeout=CLIENT_TIMEOUT_S) as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    r = client.post(url, json=self.body)
                    error = "" if r.status_code == 200 else r.text[:300]
                    out.append(Outcome(sent, time.monotonic(), r.status_code, error))
                except httpx.HTTPError as exc:
                    out.append(Outcome(sent, time.monotonic(), type(exc).__name__, str(exc)))
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


@dataclass
class Kill:
    backend: str
    model: str
    at: float = 0.0
    backend_ready: float = 0.0  # first direct answer from the restarted backend


def _wait_direct(predict, limit_s: float = 240.0) -> float:  # type: ignore[no-untyped-def]
    """Poll the backend itself (not the gateway) until it answers 200; return when it did."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if predict().status_code == 200:
                return time.monotonic()
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError("the killed backend did not come back")


def _wait_gateway(load: Load, model: str, after: float, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if any(o.status == 200 and o.sent > after for o in load.results.get(model, [])):
            return
        time.sleep(0.1)
    raise AssertionError(f"the gateway never served {model} again")


def _jvm(torchserve_pid: int) -> psutil.Process:
    children = psutil.Process(torchserve_pid).children(recursive=True)
    java = [p for p in children if p.name() == "java"]
    assert len(java) == 1, [p.cmdline()[:3] for p in children]
    return java[0]


def test_kill_each_backend_under_load_then_the_gateway(mini_stack) -> None:  # type: ignore[no-untyped-def]
    mini = mini_stack
    mini.write(1)
    export_models(load_manifest(mini.manifest), out=mini.out)
    mini.start()
    api_key = (mini.out / "run" / "api_key").read_text().strip()
    body = {"instances": sample_images(1).tolist()}

    def ts_direct() -> httpx.Response:
        headers = {"Authorization": f"Bearer {mini.torchserve_token()}"}  # new after a restart
        url = mini.url("ts_inf", "/predictions/digits_mlp_torch")
        return httpx.post(url, json=body, headers=headers, timeout=5)

    def tf_direct() -> httpx.Response:
        url = mini.url("tf_rest", "/v1/models/digits_mlp_tf:predict")
        return httpx.post(url, json=body, timeout=5)

    kills = [Kill("torchserve", "digits_mlp_torch"), Kill("tfserving", "digits_mlp_tf")]
    with Load(mini.url("gw", ""), api_key) as load:
        time.sleep(3)
        for kill, direct in zip(kills, (ts_direct, tf_direct), strict=True):
            pid = mini.services()[kill.backend]
            victim = _jvm(pid) if kill.backend == "torchserve" else psutil.Process(pid)
            kill.at = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)
            kill.backend_ready = _wait_direct(direct)
            _wait_gateway(load, kill.model, kill.backend_ready)
            time.sleep(2)

    figures = []
    for kill, other in zip(kills, reversed(kills), strict=True):
        mine = load.results[kill.model]
        assert len(mine) > 20
        outage = [o for o in mine if o.status != 200]
        # The killed backend's model: 503s with an error body, nothing else, only after the kill.
        assert outage, f"no request to {kill.model} saw {kill.backend} down"
        odd = [(o.status, o.error, round(o.done - kill.at, 2)) for o in outage if o.status != 503]
        assert odd == [], odd
        assert all('"error"' in o.error for o in outage), outage[0].error
        assert all(o.done >= kill.at for o in outage)
        first_503 = min(o.done for o in outage if o.done >= kill.at) - kill.at
        back = min(o.done for o in mine if o.status == 200 and o.sent > kill.at)
        # ...and every request to the other backend's model while this one was down: 200.
        during = [o for o in load.results[other.model] if kill.at <= o.sent <= back]
        assert during, f"no load on {other.model} while {kill.backend} was down"
        assert {o.status for o in during} == {200}, [(o.status, o.error) for o in during[:5]]
        slowest = max(o.done - o.sent for o in outage)
        figures.append(
            f"{kill.backend}: kill -9 -> first gateway 503 {first_503 * 1000:.0f} ms; "
            f"slowest 503 {slowest * 1000:.0f} ms; backend serving again after "
            f"{kill.backend_ready - kill.at:.1f} s; gateway serving "
            f"{back - kill.backend_ready:+.2f} s after the backend; "
            f"{len(outage)} x 503; {other.model}: {len(during)} x 200, 0 failed\n"
            f"  first 503 body: {outage[0].error}"
        )
    print("\n" + "\n".join(figures))
    log = mini.log()
    assert "torchserve: exited (exit status 0; its Java frontend (pid " in log
    assert "tfserving: exited (killed by SIGKILL)" in log
    assert log.count("ready again") == 2

    # Only the gateway's death ends the stack, and then nothing it started is left.
    tree = mini.tree()
    gateway = mini.services()["gateway"]
    os.kill(gateway, signal.SIGKILL)
    assert mini.up is not None
    mini.up.wait(timeout=120)
    assert mini.up.returncode == 1
    assert "gateway exited (killed by SIGKILL); stopping the stack" in mini.log()
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [p.cmdline() for p in left]
    assert not Path(mini.out / "run" / "stack.json").exists()
