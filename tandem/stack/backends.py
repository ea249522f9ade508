"""The gateway's local service; each backend kind's is in its module of `tandem.kinds`.

- Gateway: `/readyz` says every routed model answers on its backend. It is started after the
  backends, with what each needs it to know (`Service.gateway_environment`: TorchServe's
  token file).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from tandem import placement
from tandem.layout import Layout as Layout  # re-exported: the stack's modules import it here
from tandem.manifest import Manifest
from tandem.stack.service import HTTP_TIMEOUT as HTTP_TIMEOUT
from tandem.stack.service import PlacedService
from tandem.stack.service import Service as Service


class Gateway(PlacedService):
    name = placement.GATEWAY

    def __init__(
        self,
        manifest: Manifest,
        layout: Layout,
        place: placement.Placement,
        backends: Sequence[Service] = (),
    ) -> None:
        """`backends`: the stack's backend services, whose `gateway_environment` it gets."""
        super().__init__(manifest, layout, place)
        self.server = manifest.data.servers.gateway
        self.backends = tuple(backends)

    @property
    def api_key_file(self) -> Path:
        return self.layout.run / "api_key"

    def api_key(self) -> str:
        return self.api_key_file.read_text().strip()

    def prepare(self) -> None:
        """A development API key: plaintext for the user (0600), only its hash for the gateway."""
        self.layout.run.mkdir(parents=True, exist_ok=True)
        if not self.api_key_file.exists():
            fd = os.open(self.api_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"tdm_{secrets.token_urlsafe(24)}\n")
        digest = hashlib.sha256(self.api_key().encode()).hexdigest()
        (self.layout.run / "gateway_keys").write_text(f"sha256:{digest}\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gateway"]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TANDEM_GATEWAY_ROUTES_FILE=str(self.layout.config / "routes.json"),
            TANDEM_GATEWAY_HOST=self.server.host,
            TANDEM_GATEWAY_PORT=str(self.server.port),
            TANDEM_GATEWAY_GRPC_PORT=str(self.server.grpc_port),
            TANDEM_GATEWAY_API_KEYS_FILE=str(self.layout.run / "gateway_keys"),
        )
        for backend in self.backends:
            for name, value in backend.gateway_environment().items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
        return env

    def is_ready(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.server.port}/readyz", timeout=HTTP_TIMEOUT)
        return r.status_code == 200
