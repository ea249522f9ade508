"""``python -m gateway``: serve the gateway with uvicorn (uvloop + httptools, each answer
written in one syscall: :mod:`gateway.server`)."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.server import OneWriteHttpToolsProtocol
from gateway.settings import GatewaySettings


def main() -> None:
    """Read settings from the environment and serve until interrupted."""
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=OneWriteHttpToolsProtocol,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


if __name__ == "__main__":
    main()
