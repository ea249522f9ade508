"""The local Prometheus of `tandem up --monitoring`: Debian's `prometheus` binary, found on
PATH, scraping the stack with the generated ``build/config/prometheus.yml``."""

from __future__ import annotations

import shutil
from typing import Any

import httpx

from tandem.errors import StackError
from tandem.layout import Layout
from tandem.manifest import Manifest
from tandem.stack.service import HTTP_TIMEOUT, Service

DEFAULT_PORT = 9090
INSTALL_HINT = "install Debian's `prometheus` package (apt-get install -y prometheus)"


def prometheus_binary() -> str:
    """The `prometheus` executable on PATH; StackError naming the package when missing."""
    exe = shutil.which("prometheus")
    if exe is None:
        raise StackError(f"--monitoring needs the `prometheus` binary on PATH: {INSTALL_HINT}")
    return exe


class Prometheus(Service):
    """Prometheus on 127.0.0.1, its TSDB under ``<out>/prometheus/``."""

    name = "prometheus"

    def __init__(self, manifest: Manifest, layout: Layout, *, port: int = DEFAULT_PORT) -> None:
        super().__init__(manifest, layout)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ports(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.port)]

    def prepare(self) -> None:
        self.layout.prometheus_data.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            prometheus_binary(),
            f"--config.file={self.layout.config / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.layout.prometheus_data}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def is_ready(self) -> bool:
        return httpx.get(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT).status_code == 200

    def targets(self) -> dict[str, str]:
        """Scrape job → health (``up``/``down``/``unknown``) of its active target."""
        r = httpx.get(f"{self.url}/api/v1/targets?state=active", timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        active: list[dict[str, Any]] = r.json()["data"]["activeTargets"]
        return {t["labels"]["job"]: str(t["health"]) for t in active}
