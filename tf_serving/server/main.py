"""Entry point: ``tandem-tf-server`` / ``python -m tf_serving.server.main``.

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for bad flags or config files,
1 when a port cannot be bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF Serving hands any shape to the model and lets its ops refuse it. The pip wheel's oneDNN
# kernels abort the whole process instead on some misfits (a CHECK failure in MklConvOp for a
# [1,3] fed to a conv, seen here), so this server runs TF's own kernels, as TF Serving's
# standard builds do; set TF_ENABLE_ONEDNN_OPTS=1 to trade that safety for oneDNN's speed.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import grpc
from aiohttp import web
from pydantic import ValidationError

from tf_serving import SERVER_BANNER
from tf_serving.server import config as cfg
from tf_serving.server.errors import ConfigError, ServingError
from tf_serving.server.settings import ServerSettings, build_parser

log = logging.getLogger("tf_serving")


@dataclass(frozen=True)
class Startup:
    """Parsed and validated config files."""

    models: list[cfg.ModelSpec]
    batching: cfg.BatchingConfig | None
    monitoring: cfg.MonitoringSettings
    config_dir: Path


def load_startup(settings: ServerSettings) -> Startup:
    """Read every config file named by the settings (ConfigError on any problem)."""
    if settings.model_config_file is not None:
        path = settings.model_config_file.resolve()
        models = cfg.load_model_config_file(path)
        config_dir = path.parent
    else:
        assert settings.model_base_path is not None  # the settings validator ensures it
        models = [
            cfg.ModelSpec(name=settings.model_name, base_path=settings.model_base_path.resolve())
        ]
        config_dir = Path.cwd()
    batching = (
        cfg.load_batching_parameters(settings.batching_parameters_file)
        if settings.enable_batching
        else None
    )
    return Startup(
        models=models,
        batching=batching,
        monitoring=cfg.load_monitoring_config(settings.monitoring_config_file),
        config_dir=config_dir,
    )


async def _every(seconds: float, job: str, action: object) -> None:
    assert callable(action)
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except ServingError as exc:
            log.error("%s failed: %s", job, exc.message)
        except Exception:
            log.exception("%s failed", job)


async def serve(settings: ServerSettings, startup: Startup) -> int:
    """Load the models, open both ports and serve until SIGTERM/SIGINT."""
    from tf_serving.server.batching import Batcher
    from tf_serving.server.dataplane import DataPlane
    from tf_serving.server.grpc_service import add_services
    from tf_serving.server.manager import ModelManager
    from tf_serving.server.metrics import Metrics
    from tf_serving.server.rest import create_app

    metrics = Metrics()
    manager = ModelManager(
        metrics,
        enable_warmup=settings.enable_model_warmup,
        check_method_names=settings.enable_signature_method_name_check,
    )
    batcher = Batcher(startup.batching, metrics) if startup.batching else None
    dataplane = DataPlane(manager, metrics, batcher, settings.inference_threads)
    try:
        await manager.apply_config(startup.models)
    except ServingError as exc:
        log.error("Error: %s", exc.message)
        return 2

    grpc_server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 256 << 20),
            ("grpc.max_send_message_length", 256 << 20),
        ]
    )
    add_services(grpc_server, dataplane, startup.config_dir)
    grpc_address = f"{settings.host}:{settings.port}"
    try:
        grpc_server.add_insecure_port(grpc_address)
    except RuntimeError as exc:
        log.error("Cannot bind gRPC to %s: %s", grpc_address, exc)
        return 1
    await grpc_server.start()
    log.info("Running gRPC ModelServer at %s ...", grpc_address)

    runner: web.AppRunner | None = None
    if settings.rest_api_port:
        metrics_path = (
            startup.monitoring.prometheus_path if startup.monitoring.prometheus_enabled else None
        )
        # TF Serving's HTTP server does not decode Content-Encoding (auto_uncompress_input
        # stays off): a gzip body is parsed as it is, so aiohttp must not inflate it either.
        runner = web.AppRunner(
            create_app(dataplane, metrics_path), access_log=None, auto_decompress=False
        )
        await runner.setup()
        rest_host = settings.rest_api_host or settings.host
        try:
            await web.TCPSite(runner, rest_host, settings.rest_api_port).start()
        except OSError as exc:
            log.error("Cannot bind REST to %s:%d: %s", rest_host, settings.rest_api_port, exc)
            await grpc_server.stop(None)
            return 1
        log.info("Exporting HTTP/REST API at:%s:%d ...", rest_host, settings.rest_api_port)

    background = []
    if settings.file_system_poll_wait_seconds > 0:
        background.append(
            asyncio.create_task(
                _every(settings.file_system_poll_wait_seconds, "File system poll", manager.poll)
            )
        )
    config_file = settings.model_config_file
    if config_file is not None and settings.model_config_file_poll_wait_seconds > 0:

        async def reread() -> None:
            await manager.apply_config(cfg.load_model_config_file(config_file.resolve()))

        background.append(
            asyncio.create_task(
                _every(settings.model_config_file_poll_wait_seconds, "Config reload", reread)
            )
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("Shutting down")
    for task in background:
        task.cancel()
    for task in background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await grpc_server.stop(grace=2)
    if runner is not None:
        await runner.cleanup()
    dataplane.shutdown()
    await manager.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse flags, print the banner, validate configs (exit 2 on error) and serve."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.version:
        print(SERVER_BANNER)
        return 0
    log.info("%s starting", SERVER_BANNER)
    values = {k: v for k, v in vars(args).items() if v is not None and k != "version"}
    try:
        settings = ServerSettings(**values)
        startup = load_startup(settings)
    except ValidationError as exc:
        log.error("Error: invalid flags: %s", exc)
        return 2
    except ConfigError as exc:
        log.error("Error: %s", exc.message)
        return 2
    return asyncio.run(serve(settings, startup))


if __name__ == "__main__":
    sys.exit(main())
