"""The dataplane shared by the REST and gRPC front ends.

Front ends parse their wire format, then call these methods with numpy arrays or
serialized examples; nothing here knows about HTTP or gRPC. TF calls never run on the
event loop: they go to the inference thread pool or, with batching on, the batcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np

from tf_serving.server.batching import Batcher
from tf_serving.server.manager import ModelManager, ModelRef
from tf_serving.server.metrics import Metrics
from tf_serving.server.servable import Servable, Signature


class DataPlane:
    """Inference and model queries over the :class:`ModelManager`."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        batcher: Batcher | None = None,
        inference_threads: int = 4,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.batcher = batcher
        self._executor = ThreadPoolExecutor(
            max_workers=inference_threads, thread_name_prefix="tfs-infer"
        )

    @asynccontextmanager
    async def servable(self, ref: ModelRef) -> AsyncIterator[Servable]:
        """Pin the servable a request names (NotFound / InvalidArgument otherwise)."""
        async with self.manager.acquire(ref) as servable:
            yield servable

    async def predict(
        self,
        servable: Servable,
        signature: Signature,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run a signature; batched when batching is enabled and the inputs allow it."""
        if self.batcher is not None:
            return await self.batcher.run(servable, signature, inputs, output_filter)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, servable.run, signature, inputs, output_filter
        )

    async def classify(
        self, servable: Servable, signature: Signature, examples: list[bytes]
    ) -> list[list[tuple[str, float]]]:
        """Run a classification signature on serialized examples."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, servable.classify, signature, examples)

    async def regress(
        self, servable: Servable, signature: Signature, examples: list[bytes]
    ) -> list[float]:
        """Run a regression signature on serialized examples."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, servable.regress, signature, examples)

    def shutdown(self) -> None:
        """Stop the inference threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.batcher is not None:
            self.batcher.shutdown()
