"""The batch sizes that reach each model while a point runs.

TF-compatible server: its ``tandem_tfs_batch_tasks`` histogram (requests merged into one
executed batch, per model) on its Prometheus endpoint. TorchServe: the handler's
``tandem batch: N request(s), M row(s)`` line per batch in TorchServe's model log (TorchServe
exports no batch-size metric). :class:`BatchProbe` takes a reading before a point and the
difference after it.
"""

from __future__ import annotations

import contextlib
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tandem.backend_kinds import TFSERVING

_TS_BATCH = re.compile(r"tandem batch: (\d+) request")


@dataclass(frozen=True)
class Batches:
    """Batches executed during a point and the requests they carried."""

    batches: int
    requests: int
    largest: int | None = None  # known from TorchServe's log only

    @property
    def mean(self) -> float:
        return self.requests / self.batches if self.batches else 0.0

    def line(self) -> str:
        if not self.batches:
            return "no batch seen"
        top = f", largest {self.largest}" if self.largest is not None else ""
        return f"{self.mean:.1f} requests per batch over {self.batches} batches{top}"


def tf_batch_tasks(rest_url: str, model: str) -> tuple[float, float]:
    """(sum, count) of the model's ``tandem_tfs_batch_tasks`` histogram (5 s timeout)."""
    url = rest_url.rstrip("/") + TFSERVING.metrics_path
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "tandem_tfs_batch_tasks":
            continue
        for sample in family.samples:
            if sample.labels.get("model_name") != model:
                continue
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


def torchserve_batches(text: str) -> Batches:
    """The batches in a stretch of TorchServe's model log."""
    sizes = [int(n) for n in _TS_BATCH.findall(text)]
    return Batches(len(sizes), sum(sizes), max(sizes, default=0))


class BatchProbe:
    """Reads one model's batches around a point (``None`` readings when unavailable)."""

    def __init__(self, kind: str, model: str, rest_url: str | None, build: Path) -> None:
        self.kind = kind
        self.model = model
        self.rest_url = rest_url
        self.log = build / "torchserve" / "logs" / "model_log.log"
        self._mark: tuple[float, float] | int | None = None

    def start(self) -> None:
        self._mark = None
        with contextlib.suppress(OSError, ValueError):
            if self.kind == "tfserving" and self.rest_url:
                self._mark = tf_batch_tasks(self.rest_url, self.model)
            elif self.kind == "torchserve":
                self._mark = self.log.stat().st_size

    def stop(self) -> Batches | None:
        mark = self._mark
        try:
            if isinstance(mark, tuple) and self.rest_url:
                total, count = tf_batch_tasks(self.rest_url, self.model)
                return Batches(round(count - mark[1]), round(total - mark[0]))
            if isinstance(mark, int):
                with self.log.open("rb") as f:
                    f.seek(mark)
                    return torchserve_batches(f.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return None
        return None
