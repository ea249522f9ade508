"""Server settings: TF Serving's flag names, also settable from ``TANDEM_TF_SERVER_*`` env.

:func:`parse_flags` accepts the ``tensorflow_model_server`` subset we implement, in both
``--flag=value`` and ``--flag value`` spellings; unknown flags are an error (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Everything the server process is configured with."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_TF_SERVER_", extra="forbid")

    port: int = Field(8500, ge=0, le=65535)
    """gRPC port (TF Serving's ``--port``)."""
    rest_api_port: int = Field(8501, ge=0, le=65535)
    """REST port; 0 disables REST, as in TF Serving."""
    host: str = "0.0.0.0"
    """Bind address for both ports (TF Serving binds all interfaces)."""
    rest_api_host: str = ""
    """Bind address for REST only; empty means ``host``."""
    model_config_file: Path | None = None
    """Text-format ``ModelServerConfig``; takes precedence over single-model flags."""
    model_config_file_poll_wait_seconds: float = Field(0, ge=0)
    """Re-read ``model_config_file`` this often; 0 reads it once."""
    model_name: str = "default"
    """Model name in single-model mode."""
    model_base_path: Path | None = None
    """Model base path in single-model mode."""
    enable_batching: bool = False
    """Merge concurrent Predict calls into batches."""
    batching_parameters_file: Path | None = None
    """Text-format ``BatchingParameters`` (TF Serving defaults when unset)."""
    monitoring_config_file: Path | None = None
    """Text-format ``MonitoringConfig``; Prometheus metrics are off without it."""
    file_system_poll_wait_seconds: float = Field(1, ge=0)
    """Look for new model versions this often; 0 looks once at start-up."""
    enable_model_warmup: bool = True
    """Replay ``assets.extra/tf_serving_warmup_requests`` at load."""
    inference_threads: int = Field(4, ge=1)
    """Threads running non-batched TF calls."""
    enable_signature_method_name_check: bool = False
    """Refuse a signature whose ``method_name`` does not fit the API (TF Serving's flag)."""

    @model_validator(mode="after")
    def _needs_models(self) -> ServerSettings:
        if self.model_config_file is None and self.model_base_path is None:
            raise ValueError("Both model_config_file and model_base_path are empty")
        return self


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The command line; flag names are ``tensorflow_model_server`` 's."""
    parser = argparse.ArgumentParser(
        prog="tandem-tf-server",
        description="Tandem's TF-Serving-compatible server (not TensorFlow Serving).",
        allow_abbrev=False,
    )
    add = parser.add_argument
    add("--port", type=int, help="gRPC port (default 8500)")
    add("--rest_api_port", type=int, help="REST port, 0 = off (default 8501)")
    add("--host", help="bind address for gRPC and REST (default 0.0.0.0)")
    add("--rest_api_host", help="bind address for REST (default: --host)")
    add("--model_config_file", type=Path)
    add("--model_config_file_poll_wait_seconds", type=float)
    add("--model_name")
    add("--model_base_path", type=Path)
    add("--enable_batching", type=_bool, nargs="?", const=True)
    add("--batching_parameters_file", type=Path)
    add("--monitoring_config_file", type=Path)
    add("--file_system_poll_wait_seconds", type=float)
    add("--enable_model_warmup", type=_bool, nargs="?", const=True)
    add("--enable_signature_method_name_check", type=_bool, nargs="?", const=True)
    add("--inference_threads", type=int, help="threads for non-batched TF calls (default 4)")
    add("--version", action="store_true", help="print the version and exit")
    return parser
