"""The base of every local service: a process with a command, a log and a readiness rule.

Each backend kind's service subclasses it in its own module (`tandem.kinds.<kind>`); the
gateway's is in `tandem.stack.backends`, Prometheus's in `tandem.monitoring.server`.
"""

from __future__ import annotations

import os
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tandem.errors import StackError
from tandem.layout import Layout
from tandem.manifest import Manifest, ModelSpec
from tandem.stack.process import port_free, spawn, stop_tree, wait_for

if TYPE_CHECKING:
    from tandem.placement import Placement

HTTP_TIMEOUT_S = 3.0
HTTP_TIMEOUT = httpx.Timeout(HTTP_TIMEOUT_S)


class Service(ABC):
    """One process of the local stack: how it starts, where it logs, when it is ready.

    A backend kind's service (`BackendKind.local_service`) lives in its module of
    `tandem.kinds`; the gateway's in `tandem.stack.backends`."""

    name: str
    """Its name in the stack's state file and logs."""
    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, manifest: Manifest, layout: Layout) -> None:
        self.manifest = manifest
        self.layout = layout

    @property
    def log(self) -> Path:
        return self.layout.logs / f"{self.name}.log"

    @property
    @abstractmethod
    def ports(self) -> list[tuple[str, int]]:
        """(address, port) of every port it binds (checked free before it starts)."""

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return self.layout.out

    @abstractmethod
    def is_ready(self) -> bool: ...

    def check_ports(self) -> None:
        busy = [f"{h}:{p}" for h, p in self.ports if not port_free(h, p)]
        if busy:
            raise StackError(
                f"{self.name}: port(s) {', '.join(busy)} already in use; is another stack "
                f"running? (`tandem down`, or change the ports under servers: in the manifest)"
            )

    def prepare(self) -> None:  # noqa: B027 - optional hook, most services need nothing
        """Work before the process starts (directories, key files)."""

    def start(self) -> None:
        self.check_ports()
        self.prepare()
        self.proc = spawn(self.command(), cwd=self.cwd(), log=self.log, env=self.environment())

    def wait_ready(self, timeout: float) -> None:
        wait_for(self.is_ready, timeout=timeout, what=self.name, proc=self.proc, log=self.log)

    def gateway_environment(self) -> dict[str, str | None]:
        """What the gateway's process needs to reach this backend (None: unset the
        variable), merged into the gateway's environment by the stack."""
        return {}

    def endpoints(self) -> tuple[str, str] | None:
        """(title, addresses) of a backend, as `tandem up` prints it (None: nothing)."""
        return None

    def direct_curl(self, model: ModelSpec, body: str) -> str:
        """A curl line calling `model` on this backend directly with the request file `body`
        (already shell-quoted), for `tandem up`'s printout ("": none)."""
        return ""

    def exit_note(self) -> str:
        """Anything the exit status alone does not say, for the supervisor's log line."""
        return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_tree(self.proc.pid)
            self.proc.wait(timeout=10)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class PlacedService(Service):
    """A server of the local placement (`tandem.placement.local`, built once by the stack):
    a backend kind's or the gateway's, named by its key in the placement's servers."""

    def __init__(self, manifest: Manifest, layout: Layout, place: Placement) -> None:
        super().__init__(manifest, layout)
        self.place = place

    @property
    def ports(self) -> list[tuple[str, int]]:
        """(address, port) of every port it binds, as the local placement says (TorchServe's
        management ports on the management address)."""
        server = self.place.server(self.name)
        ts = self.place.torchserve
        binds = {"management": ts.management_bind, "grpc-management": ts.grpc_management_bind}
        return [(binds.get(n, server.bind), port) for n, port in server.ports.items()]
