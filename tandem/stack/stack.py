"""`Stack`: both backends and the gateway as processes on this machine.

`Stack.up()` starts TF Serving (official binary when on PATH, else the compatible server) and
TorchServe side by side, waits for every model to be ready, then starts the gateway;
`serve_forever()` then restarts a backend that dies (see `supervise`). A lock
file under `<out>/run/` makes a second `up` say that a stack is running instead of colliding
on ports; `down()` (or `tandem down` from another shell) stops every process tree it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tandem import placement
from tandem.backend_kinds import KINDS, kind_for
from tandem.errors import StackError
from tandem.manifest import Manifest
from tandem.stack.backends import Gateway, Layout, Service, TFServing, TorchServe
from tandem.stack.process import alive, stop_tree, tail
from tandem.stack.samples import KnownExample, write_sample_requests
from tandem.stack.supervise import RestartPolicy, Supervisor, describe_exit

if TYPE_CHECKING:
    from tandem.monitoring.server import Prometheus

Progress = Callable[[str], None]


def _lock_path(layout: Layout) -> Path:
    return layout.run / "stack.json"


def _read_state(layout: Layout) -> dict[str, object] | None:
    try:
        data = json.loads(_lock_path(layout).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Stack:
    """One local deployment of a manifest, built into `out`."""

    def __init__(
        self,
        manifest: Manifest,
        out: Path,
        *,
        insecure_dev: bool = False,
        gateway: bool = True,
        ready_timeout: float = 240.0,
        restart: RestartPolicy | None = None,
        monitoring: bool = False,
        prometheus_port: int = 9090,
    ) -> None:
        self.manifest = manifest
        self.layout = Layout(out.resolve())
        self.ready_timeout = ready_timeout
        self.restart = restart or RestartPolicy(ready_timeout_s=ready_timeout)
        self.torchserve = TorchServe(manifest, self.layout, insecure=insecure_dev)
        self.tfserving = TFServing(manifest, self.layout)
        self.gateway = Gateway(manifest, self.layout, self.torchserve) if gateway else None
        self.prometheus: Prometheus | None = None
        if monitoring:
            from tandem.monitoring.server import Prometheus, prometheus_binary

            prometheus_binary()  # refuse before anything starts when it is not installed
            self.prometheus = Prometheus(manifest, self.layout, port=prometheus_port)
        self._owns_lock = False

    @property
    def backends(self) -> list[Service]:
        """The backend services the manifest has models for, in the kinds' order."""
        by_kind: dict[str, Service] = {s.name: s for s in (self.tfserving, self.torchserve)}
        return [by_kind[kind.id] for kind in KINDS if kind.models(self.manifest)]

    @property
    def services(self) -> list[Service]:
        extra = [s for s in (self.gateway, self.prometheus) if s is not None]
        return [*self.backends, *extra]

    # ------------------------------------------------------------------ lock / state

    def _acquire(self) -> None:
        self.layout.run.mkdir(parents=True, exist_ok=True)
        path = _lock_path(self.layout)
        state = _read_state(self.layout)
        if state is not None and alive(int(str(state.get("owner", 0)))):
            raise StackError(
                f"a stack is already running from {self.layout.out} (pid {state['owner']}): "
                "stop it with `tandem down` first"
            )
        path.unlink(missing_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError as exc:
            raise StackError(f"another `tandem up` is starting in {self.layout.out}") from exc
        with os.fdopen(fd, "w") as f:
            json.dump({"owner": os.getpid(), "services": {}}, f)
        self._owns_lock = True

    def _write_state(self) -> None:
        services = {s.name: s.pid for s in self.services if s.pid is not None}
        tmp = _lock_path(self.layout).with_suffix(".tmp")
        tmp.write_text(json.dumps({"owner": os.getpid(), "services": services}))
        os.replace(tmp, _lock_path(self.layout))

    def _release(self) -> None:
        if self._owns_lock:
            _lock_path(self.layout).unlink(missing_ok=True)
            self._owns_lock = False

    # ------------------------------------------------------------------ lifecycle

    def up(self, progress: Progress | None = None) -> None:
        """Start everything and wait until every model answers; stop all on any failure."""
        say = progress or (lambda _m: None)
        self._acquire()
        try:
            for service in self.backends:  # both backends load in parallel
                say(f"starting {service.name}")
                service.start()
                self._write_state()
            for service in self.backends:
                say(f"waiting for {service.name}")
                service.wait_ready(self.ready_timeout)
            if self.gateway is not None:
                say("starting gateway")
                self.gateway.start()
                self._write_state()
                self.gateway.wait_ready(60)
            if self.prometheus is not None:
                say("starting prometheus")
                self.prometheus.start()
                self._write_state()
                self.prometheus.wait_ready(60)
        except BaseException:
            self.down()
            raise

    def start_service(self, service: Service, timeout: float | None = None) -> None:
        service.start()
        self._write_state()
        service.wait_ready(timeout or self.ready_timeout)

    def stop_service(self, service: Service) -> None:
        service.stop()
        self._write_state()

    def down(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        self._release()

    def serve_forever(self, say: Progress) -> int:
        """Foreground loop while the stack runs; stops everything when it returns.

        A backend that dies is restarted by the supervisor (bounded, with backoff) while the
        gateway and the other backend keep serving. The loop ends on SIGINT/SIGTERM (Ctrl-C,
        `tandem down`; returns 0) or when the gateway itself dies (returns 1).
        """
        stopping: list[int] = []

        def _stop(signum: int, _frame: object) -> None:
            stopping.append(signum)

        old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        supervisor = Supervisor(self.backends, say, self.restart, on_restart=self._write_state)
        try:
            while not stopping:
                gateway = self.gateway
                if gateway is not None and gateway.proc is not None:
                    code = gateway.proc.poll()
                    if code is not None:
                        say(
                            f"gateway exited ({describe_exit(code)}); stopping the stack; "
                            f"last log lines ({gateway.log}):\n{tail(gateway.log)}"
                        )
                        return 1
                supervisor.tick()
                time.sleep(0.2)
            return 0
        finally:
            say("stopping...")
            self.down()
            for sig, handler in old.items():
                signal.signal(sig, handler)

    # ------------------------------------------------------------------ curls

    def curls(self, example: KnownExample | None = None) -> dict[str, list[str]]:
        """Working curl command lines per model: each backend directly, and the gateway.

        Writes the request bodies under `<out>/run/requests/`; `example` (demo data the caller
        knows the answer to) goes to every model that takes it.
        """
        requests = write_sample_requests(
            self.manifest.models, self.layout.run / "requests", example
        )
        s = self.manifest.data.servers
        place = placement.local(self.manifest, self.layout.out)
        result: dict[str, list[str]] = {}
        ts_key = self.torchserve.keys().get("inference") if self.torchserve.pid else None
        gw_key = self.gateway.api_key() if self.gateway and self.gateway.pid else None
        for m in self.manifest.models:
            if m.name not in requests:
                continue
            v1, v2 = (shlex.quote(str(requests[m.name][k])) for k in ("v1", "v2"))
            lines = []
            kind = kind_for(m.framework)
            port = place.server(kind.id).ports["http"]
            url = f"http://127.0.0.1:{port}{kind.predict_path.format(name=m.name)}"
            if kind.tokens:
                auth = f"-H 'Authorization: Bearer {ts_key}' " if ts_key else ""
                lines.append(
                    f"curl -s -m 10 {auth}-H 'Content-Type: application/json' {url} -d @{v1}"
                )
            else:
                lines.append(f"curl -s -m 10 -X POST {url} -d @{v1}")
            if gw_key is not None:
                gw = f"http://127.0.0.1:{s.gateway.port}"
                hdr = f"-H 'X-API-Key: {gw_key}' -H 'Content-Type: application/json'"
                lines.append(f"curl -s -m 10 {hdr} {gw}/v1/models/{m.name}:predict -d @{v1}")
                lines.append(f"curl -s -m 10 {hdr} {gw}/v2/models/{m.name}/infer -d @{v2}")
            result[m.name] = lines
        return result

    def twin_curls(self) -> dict[str, list[str]]:
        """Per twin, curls through the gateway: the split (``-i`` shows the variant that
        answered) and a pinned variant. Run after :meth:`curls` wrote the request bodies."""
        folder = self.layout.run / "requests"
        gw_key = self.gateway.api_key() if self.gateway and self.gateway.pid else None
        if gw_key is None:
            return {}
        gw = f"http://127.0.0.1:{self.manifest.data.servers.gateway.port}"
        hdr = f"-H 'X-API-Key: {gw_key}' -H 'Content-Type: application/json'"
        result: dict[str, list[str]] = {}
        for t in self.manifest.twins:
            first, other = t.variants[0].model, t.variants[-1].model
            v1, v2 = (shlex.quote(str(folder / f"{first}.{k}.json")) for k in ("v1", "v2"))
            result[f"twin {t.name} = {' + '.join(v.model for v in t.variants)}"] = [
                f"curl -si -m 10 {hdr} {gw}/v1/models/{t.name}:predict -d @{v1}",
                f"curl -s -m 10 {hdr} -H 'X-Tandem-Variant: {other}' "
                f"{gw}/v2/models/{t.name}/infer -d @{v2}",
            ]
        return result


def down(out: Path, timeout: float = 60.0) -> list[str]:
    """Stop a stack started by `tandem up` in another process; returns what was stopped."""
    layout = Layout(out.resolve())
    state = _read_state(layout)
    if state is None:
        return []
    owner = int(str(state.get("owner", 0)))
    services = state.get("services") or {}
    assert isinstance(services, dict)
    if owner and owner != os.getpid() and alive(owner):
        os.kill(owner, signal.SIGTERM)  # its own handler stops the services in order
        deadline = time.monotonic() + timeout
        while alive(owner) and time.monotonic() < deadline:
            time.sleep(0.2)
    stopped = []
    for name, pid in services.items():
        if isinstance(pid, int) and alive(pid):
            stop_tree(pid)
        stopped.append(str(name))
    if owner and alive(owner) and owner != os.getpid():
        stop_tree(owner)
    _lock_path(layout).unlink(missing_ok=True)
    return stopped
