"""Runs encodes off the event loop, optionally merging concurrent small requests into one batch.

One forward pass over 8 short queries costs far less than 8 passes over one query each, so under
concurrent load the :class:`MicroBatcher` collects requests for at most ``wait_s`` (or until
``max_texts`` texts are waiting), encodes them together in the encoder thread pool, and hands each
caller its own rows. Requests of different kinds (query/document) are encoded separately because
some models prefix them differently. :class:`DirectEncoder` is the same interface without merging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import prometheus_client

from embedding_service.backends import EmbedKind

log = logging.getLogger("movierec.embedding.batching")

EncodeFn = Callable[[list[str], EmbedKind], np.ndarray]

BATCH_TEXTS = prometheus_client.Histogram(
    "movierec_embedding_encode_batch_texts", "Texts per encoder call (after micro-batching).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))


class DirectEncoder:
    """Each request is encoded on its own in the encoder pool."""

    def __init__(self, encode: EncodeFn, executor: Executor):
        self._encode = encode
        self._executor = executor

    async def encode(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        BATCH_TEXTS.observe(len(texts))
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, texts, kind)

    async def close(self) -> None:
        return None


@dataclass
class _Pending:
    texts: list[str]
    kind: EmbedKind
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Merges concurrent requests; at most ``concurrency`` merged batches are encoding at once."""

    def __init__(self, encode: EncodeFn, executor: Executor, *, wait_s: float, max_texts: int,
                 concurrency: int = 1):
        self._encode = encode
        self._executor = executor
        self._wait_s = wait_s
        self._max_texts = max_texts
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._running: set[asyncio.Task] = set()
        self._collector = asyncio.create_task(self._collect_forever(), name="embedding-micro-batcher")

    async def encode(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        pending = _Pending(texts, kind, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    async def close(self) -> None:
        self._collector.cancel()
        for task in (self._collector, *self._running):
            task.cancel()
        await asyncio.gather(self._collector, *self._running, return_exceptions=True)

    async def _collect_forever(self) -> None:
        while True:
            first = await self._queue.get()
            # Waiting for a free encoder is when requests pile up; they all join the next batch.
            await self._slots.acquire()
            batch = await self._collect(first)
            task = asyncio.create_task(self._encode_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _collect(self, first: _Pending) -> list[_Pending]:
        batch, count = [first], len(first.texts)
        deadline = asyncio.get_running_loop().time() + self._wait_s
        while count < self._max_texts:
            if self._queue.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            batch.append(item)
            count += len(item.texts)
        return batch

    async def _encode_batch(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        for kind in EmbedKind:
            # A caller whose deadline passed (cancelled future) is not worth encoding for.
            group = [p for p in batch if p.kind is kind and not p.future.done()]
            if not group:
                continue
            texts = [text for pending in group for text in pending.texts]
            BATCH_TEXTS.observe(len(texts))
            try:
                vectors = await loop.run_in_executor(self._executor, self._encode, texts, kind)
            except Exception as error:
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            offset = 0
            for pending in group:
                rows = vectors[offset:offset + len(pending.texts)]
                offset += len(pending.texts)
                if not pending.future.done():
                    pending.future.set_result(rows)
