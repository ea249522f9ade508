"""Server-side batching of Predict calls (``--enable_batching``).

Semantics follow TF Serving's shared batch scheduler: one queue per servable version,
signature and non-batch input shape (only tasks that can be concatenated share a queue);
a batch closes when it reaches ``max_batch_size`` or its oldest task has waited
``batch_timeout_micros`` *and* one of ``num_batch_threads`` is free (so batches keep filling
while every thread is busy); more than ``max_enqueued_batches`` open batches is
UNAVAILABLE; a closed batch is padded up to the next ``allowed_batch_sizes`` entry and
the padding is sliced off the outputs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tf_serving.server.config import BatchingConfig
from tf_serving.server.errors import Internal, InvalidArgument, ServingError, Unavailable
from tf_serving.server.metrics import Metrics
from tf_serving.server.servable import Servable, Signature

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"
#: ``thread_pool_name`` of TF Serving's queuing-latency metric (its shared batch scheduler's).
THREAD_POOL = "batch_threads"


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    future: asyncio.Future[dict[str, np.ndarray]]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class _Batch:
    created: float
    tasks: list[_Task] = field(default_factory=list)
    rows: int = 0


@dataclass
class _Queue:
    servable: Servable
    signature: Signature
    output_filter: tuple[str, ...]
    batches: list[_Batch] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    drainer: asyncio.Task[None] | None = None


def batch_rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The common batch dimension of all inputs, or None when they cannot be batched."""
    sizes = {a.shape[0] if a.ndim else -1 for a in inputs.values()}
    if len(sizes) != 1:
        return None
    (rows,) = sizes
    return rows if rows > 0 else None


class Batcher:
    """Merges concurrent Predict tasks; created once per server, used by the dataplane."""

    def __init__(self, config: BatchingConfig, metrics: Metrics) -> None:
        self.config = config
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(
            max_workers=config.num_batch_threads, thread_name_prefix="tfs-batch"
        )
        self._threads = asyncio.Semaphore(config.num_batch_threads)
        self._queues: dict[Hashable, _Queue] = {}

    async def run(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Enqueue one task and wait for its slice of the batch's outputs."""
        rows = batch_rows(inputs)
        if rows is None:
            raise InvalidArgument(
                "Batching session Run() input tensors must have equal 0th-dimension size"
            )
        if rows > self.config.max_batch_size:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum input batch size "
                f"{self.config.max_batch_size}"
            )
        key = (
            id(servable),
            signature.name,
            tuple(output_filter),
            tuple(sorted((n, a.shape[1:], a.dtype.str) for n, a in inputs.items())),
        )
        queue = self._queues.get(key)
        if (
            self.config.batch_timeout_micros == 0
            and (queue is None or not queue.batches)
            and not self._threads.locked()
        ):
            # Nothing waiting and a thread free: with no timeout the batch of one is scheduled
            # at once (as TF Serving does); run it here, without the queue's two tasks.
            await self._threads.acquire()  # free: returns at once
            task = _Task(inputs, rows, asyncio.get_running_loop().create_future())
            batch = _Batch(created=task.enqueued, tasks=[task], rows=rows)
            await self._execute(_Queue(servable, signature, tuple(output_filter)), batch)
            return await task.future
        if queue is None:
            queue = _Queue(servable, signature, tuple(output_filter))
            self._queues[key] = queue
        last = queue.batches[-1] if queue.batches else None
        if last is None or last.rows + rows > self.config.max_batch_size:
            if len(queue.batches) >= self.config.max_enqueued_batches:
                raise Unavailable(QUEUE_FULL)
            last = _Batch(created=time.monotonic())
            queue.batches.append(last)
        task = _Task(inputs, rows, asyncio.get_running_loop().create_future())
        last.tasks.append(task)
        last.rows += rows
        queue.wakeup.set()
        if queue.drainer is None or queue.drainer.done():
            queue.drainer = asyncio.create_task(self._drain(key, queue))
        return await task.future

    async def _drain(self, key: Hashable, queue: _Queue) -> None:
        timeout = self.config.batch_timeout_micros / 1e6
        while queue.batches:
            first = queue.batches[0]
            # Wait for the batch to fill up or time out.
            while first.rows < self.config.max_batch_size:
                left = first.created + timeout - time.monotonic()
                if left <= 0:
                    break
                queue.wakeup.clear()
                try:
                    await asyncio.wait_for(queue.wakeup.wait(), left)
                except TimeoutError:
                    break
            await self._threads.acquire()
            # The batch kept filling while we waited for a thread; close it now.
            queue.batches.pop(0)
            asyncio.create_task(self._execute(queue, first))  # noqa: RUF006 - futures carry results
        if self._queues.get(key) is queue and not queue.batches:
            del self._queues[key]

    async def _execute(self, queue: _Queue, batch: _Batch) -> None:
        try:
            padded, target = self._pad(batch)
            self._observe(queue.servable.model_name, batch, target)
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(
                self._executor,
                queue.servable.run,
                queue.signature,
                padded,
                queue.output_filter,
            )
            self._split(batch, outputs, target)
        except ServingError as exc:
            self._fail(batch, exc)
        except Exception as exc:  # a bug must not strand the waiting requests
            self._fail(batch, Internal(f"Batch execution failed: {exc}"))
        finally:
            self._threads.release()

    def _observe(self, name: str, batch: _Batch, target: int) -> None:
        """Batch figures, under Tandem's names and TF Serving's own."""
        m = self._metrics
        m.batch_size.labels(name).observe(target)
        m.batch_tasks.labels(name).observe(len(batch.tasks))
        m.tfs_processed_batch_size.observe(target)
        m.tfs_padding_size.labels(str(target)).observe(target - batch.rows)
        queuing = m.batch_queuing.labels(name)
        tfs_queuing = m.tfs_queuing.labels(THREAD_POOL)
        now = time.monotonic()
        for task in batch.tasks:
            waited = now - task.enqueued
            queuing.observe(waited)
            tfs_queuing.observe(waited * 1e6)
            m.tfs_input_batch_size.observe(task.rows)
        if target > batch.rows:
            m.batch_padding.labels(name).inc(target - batch.rows)

    def _pad(self, batch: _Batch) -> tuple[dict[str, np.ndarray], int]:
        names = list(batch.tasks[0].inputs)
        merged = {n: np.concatenate([t.inputs[n] for t in batch.tasks]) for n in names}
        target = next((s for s in self.config.allowed_batch_sizes if s >= batch.rows), batch.rows)
        if target > batch.rows:
            extra = target - batch.rows
            # Pad with copies of the first row: always a valid input for the model.
            merged = {
                n: np.concatenate([a, np.repeat(a[:1], extra, axis=0)]) for n, a in merged.items()
            }
        return merged, target

    @staticmethod
    def _split(batch: _Batch, outputs: dict[str, np.ndarray], target: int) -> None:
        for name, array in outputs.items():
            if array.ndim == 0 or array.shape[0] != target:
                raise Internal(
                    f"Batched output '{name}' has 0th dimension "
                    f"{array.shape[0] if array.ndim else 'scalar'}, expected {target}"
                )
        offset = 0
        for task in batch.tasks:
            piece = {n: a[offset : offset + task.rows] for n, a in outputs.items()}
            offset += task.rows
            if not task.future.done():
                task.future.set_result(piece)

    @staticmethod
    def _fail(batch: _Batch, exc: ServingError) -> None:
        for task in batch.tasks:
            if not task.future.done():
                task.future.set_exception(exc)

    def shutdown(self) -> None:
        """Stop the batch threads (waits for running batches)."""
        self._executor.shutdown(wait=True)


__all__ = ["QUEUE_FULL", "Batcher", "batch_rows"]
