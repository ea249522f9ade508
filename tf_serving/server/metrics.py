"""Prometheus metrics, exported on the REST port when the monitoring config enables them.

Names mirror TF Serving's (``:tensorflow:serving:request_count`` etc.) in Prometheus'
usual snake case with a ``tandem_tfs_`` prefix, so dashboards can tell the two apart.
Each server owns its registry so tests can run several servers in one process.

The batching families are also exported under TF Serving's own names
(``:tensorflow:serving:batching_session:*``, the ``/``-separated names of
``batching_session.cc`` as its Prometheus exporter writes them, with their labels and units:
queuing latency in microseconds), so one dashboard query serves either server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tf_serving.server.errors import ServingError

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Microseconds, roughly TF Serving's exponential(100, 1.2) buckets, thinned.
_QUEUING_US_BUCKETS = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1e6)
TFS_BATCHING = ":tensorflow:serving:batching_session:"


class Metrics:
    """The server's metric families, in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tandem_tfs_requests",
            "Requests by model, API, entry point and final status code.",
            ["model_name", "api", "entrypoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tandem_tfs_request_latency_seconds",
            "End-to-end request latency by model, API and entry point.",
            ["model_name", "api", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tandem_tfs_batch_size",
            "Rows per executed batch, padding included.",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_tasks = Histogram(
            "tandem_tfs_batch_tasks",
            "Requests merged into one executed batch.",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_queuing = Histogram(
            "tandem_tfs_batch_queuing_latency_seconds",
            "Time a request waited in the batching queue (TF Serving's "
            "batching_session/queuing_latency).",
            ["model_name"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_padding = Counter(
            "tandem_tfs_batch_padding_rows",
            "Rows added to reach an allowed batch size.",
            ["model_name"],
            registry=self.registry,
        )
        self.tfs_queuing = Histogram(
            f"{TFS_BATCHING}queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ["thread_pool_name"],
            buckets=_QUEUING_US_BUCKETS,
            registry=self.registry,
        )
        self.tfs_input_batch_size = Histogram(
            f"{TFS_BATCHING}input_batch_size",
            "Tracks the batch size distribution on the inputs.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.tfs_processed_batch_size = Histogram(
            f"{TFS_BATCHING}processed_batch_size",
            "Tracks the batch size distribution on processing.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.tfs_padding_size = Histogram(
            f"{TFS_BATCHING}padding_size",
            "Tracks the padding size distribution on batches.",
            ["execution_batch_size"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.loads = Counter(
            "tandem_tfs_model_loads",
            "Model version load attempts by outcome.",
            ["model_name", "status"],
            registry=self.registry,
        )
        self.available = Gauge(
            "tandem_tfs_model_versions_available",
            "Versions currently serving, by model.",
            ["model_name"],
            registry=self.registry,
        )

    @contextmanager
    def observe(self, model_name: str, api: str, entrypoint: str) -> Iterator[None]:
        """Count and time one request; the status label is the error's code name or OK."""
        start = time.perf_counter()
        status = "OK"
        try:
            yield
        except ServingError as exc:
            status = exc.code_name
            raise
        except BaseException:
            status = "INTERNAL"
            raise
        finally:
            self.requests.labels(model_name, api, entrypoint, status).inc()
            self.latency.labels(model_name, api, entrypoint).observe(time.perf_counter() - start)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
