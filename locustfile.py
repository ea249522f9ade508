"""Locust load test of the gateway: a TF and a PyTorch model, over v1 and v2.

For users who prefer Locust to ``tandem loadtest``. With ``make up`` running::

    locust -f locustfile.py --headless -u 16 -r 16 -t 30s \\
        --host http://127.0.0.1:8000 --csv build/locust/gateway

Settings (environment): ``TANDEM_BUILD`` (default ``build``: routes and the API key),
``TANDEM_API_KEY`` (default: ``$TANDEM_BUILD/run/api_key``), ``TANDEM_TF_MODEL`` and
``TANDEM_TORCH_MODEL`` (default ``digits_mlp_tf`` / ``digits_mlp_torch``). Request bodies
come from each model's input spec in the route table, built by the same code as
``tandem loadtest``'s. Each request has a 10 s timeout; non-200 answers count as failures.
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import FastHttpUser, between, task

from gateway.route_table import load_route_table
from tandem.loadtest.payloads import sample_inputs, v1_body, v2_body

BUILD = Path(os.environ.get("TANDEM_BUILD", "build"))
TF_MODEL = os.environ.get("TANDEM_TF_MODEL", "digits_mlp_tf")
TORCH_MODEL = os.environ.get("TANDEM_TORCH_MODEL", "digits_mlp_torch")


def _api_key() -> str:
    key = os.environ.get("TANDEM_API_KEY")
    if key:
        return key
    return (BUILD / "run" / "api_key").read_text().strip()


def _requests() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(name, path, body, headers) per model and protocol."""
    routes = load_route_table(BUILD / "config" / "routes.json").models
    key = {"X-API-Key": _api_key()}
    out = []
    for model in (TF_MODEL, TORCH_MODEL):
        arrays = sample_inputs(routes[model])
        v1 = {"Content-Type": "application/json", **key}
        out.append((f"{model} v1", f"/v1/models/{model}:predict", v1_body(arrays), v1))
        body, content = v2_body(arrays, binary=False)
        out.append((f"{model} v2", f"/v2/models/{model}/infer", body, {**content, **key}))
    return out


REQUESTS = _requests()


class GatewayUser(FastHttpUser):
    """Sends each of the four requests in turn, with a short think time."""

    wait_time = between(0.0, 0.01)
    network_timeout = 10.0
    connection_timeout = 10.0

    def _send(self, index: int) -> None:
        name, path, body, headers = REQUESTS[index]
        # Bytes go through as the body (binary-safe); the stub only admits str | dict.
        self.client.post(path, data=body, headers=headers, name=name)  # type: ignore[arg-type]

    @task
    def tf_v1(self) -> None:
        self._send(0)

    @task
    def tf_v2(self) -> None:
        self._send(1)

    @task
    def torch_v1(self) -> None:
        self._send(2)

    @task
    def torch_v2(self) -> None:
        self._send(3)
