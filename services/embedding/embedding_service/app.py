"""The embedding tier: ``EmbeddingService`` (Embed, GetModelInfo) on the shared gRPC runtime.

The server starts NOT_SERVING; the model loads in a thread and the tier reports SERVING once a
warm-up encode succeeds. Encoding never runs on the event loop: requests go to a one-thread encoder
pool, merged by the micro-batcher when ``EMBEDDING_MICRO_BATCHING`` is on (the default: it measured
faster under concurrent load, see README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import prometheus_client

from embedding_service.backends import (
    BackendRejected,
    BackendUnavailable,
    EmbeddingBackend,
    EmbedKind,
    create_backend,
)
from embedding_service.batching import DirectEncoder, MicroBatcher
from embedding_service.settings import EmbeddingSettings
from movierec.common.v1 import common_pb2
from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.errors import invalid_argument, unavailable
from movierec_core.logs import log_fields
from movierec_core.server import serve

SERVICE_NAME = embedding_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name
DEFAULT_PORT = 50051
# A remote backend (OpenAI) is I/O bound and gains from parallel requests; a local model does not
# (one torch thread per process, scale with processes).
ENCODER_THREADS = {"sentence-transformers": 1, "openai": 4}

log = logging.getLogger("movierec.embedding")
T = TypeVar("T")

TEXTS_EMBEDDED = prometheus_client.Counter(
    "movierec_embedding_texts_total", "Texts embedded, by kind.", ("kind",))

_KINDS = {
    embedding_pb2.EMBED_KIND_UNSPECIFIED: EmbedKind.QUERY,
    embedding_pb2.EMBED_KIND_QUERY: EmbedKind.QUERY,
    embedding_pb2.EMBED_KIND_DOCUMENT: EmbedKind.DOCUMENT,
}


def validate_texts(texts: list[str], max_texts: int, max_chars: int) -> None:
    """Reject an empty batch, too many texts, and empty/whitespace-only or over-long texts (by index)."""
    if not texts:
        raise invalid_argument("texts is empty: send at least one text",
                               field_violations=[("texts", "must contain at least one text")])
    if len(texts) > max_texts:
        raise invalid_argument(f"too many texts: {len(texts)} sent, the limit is {max_texts} texts per call",
                               field_violations=[("texts", f"at most {max_texts} texts per call")])
    violations = []
    for position, text in enumerate(texts):
        if not text.strip():
            violations.append((f"texts[{position}]", "is empty or whitespace-only"))
        elif len(text) > max_chars:
            violations.append((f"texts[{position}]", f"has {len(text)} characters, over the limit of "
                                                     f"{max_chars} characters per text"))
    if violations:
        field_name, problem = violations[0]
        more = f" (and {len(violations) - 1} more invalid texts)" if len(violations) > 1 else ""
        raise invalid_argument(f"{field_name} {problem}{more}", field_violations=violations)


def parse_kind(value: int) -> EmbedKind:
    """UNSPECIFIED means QUERY, the common case for online callers."""
    if value not in _KINDS:
        raise invalid_argument(f"kind={value} is not an EmbedKind (use EMBED_KIND_QUERY or EMBED_KIND_DOCUMENT)",
                               field_violations=[("kind", "unknown enum value")])
    return _KINDS[value]


async def in_daemon_thread(function: Callable[[], T]) -> T:
    """Run ``function`` in a daemon thread. Unlike asyncio.to_thread, SIGTERM during a long model load
    (a first download, a big model) does not wait for the load to finish before the process exits."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: object, error: BaseException | None) -> None:
        if future.done():  # the awaiting task was cancelled (shutdown)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            outcome = (function(), None)
        except BaseException as error:
            outcome = (None, error)
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is shutting down
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="model-loader", daemon=True).start()
    return await future


class EmbeddingService(embedding_pb2_grpc.EmbeddingServiceServicer):
    def __init__(self, settings: EmbeddingSettings):
        self.settings = settings
        self.backend: EmbeddingBackend | None = None
        self.encoder: DirectEncoder | MicroBatcher | None = None
        self._load_error: str | None = None

    async def load(self) -> None:
        """Load the backend in a thread (the server already answers health checks), warm it up, serve."""
        started = time.perf_counter()
        log.info("loading model", extra=log_fields(backend=self.settings.backend, model=self.settings.model))
        try:
            backend = await in_daemon_thread(self._load_and_warm_up)
        except Exception as error:
            self._load_error = str(error)
            raise
        executor = ThreadPoolExecutor(ENCODER_THREADS.get(backend.backend_name, 1),
                                      thread_name_prefix="encoder")
        if self.settings.micro_batching:
            self.encoder = MicroBatcher(backend.encode, executor,
                                        wait_s=self.settings.micro_batch_wait_ms / 1000,
                                        max_texts=self.settings.micro_batch_max_texts,
                                        concurrency=ENCODER_THREADS.get(backend.backend_name, 1))
        else:
            self.encoder = DirectEncoder(backend.encode, executor)
        self.backend = backend
        log.info("model loaded", extra=log_fields(
            backend=backend.backend_name, model=backend.model_name, dim=backend.dim,
            micro_batching=self.settings.micro_batching, load_s=round(time.perf_counter() - started, 3)))

    def _load_and_warm_up(self) -> EmbeddingBackend:
        backend = create_backend(self.settings)
        # The first encode initializes lazy kernels; do it before reporting SERVING.
        backend.encode(["warm-up"], EmbedKind.QUERY)
        return backend

    def _ready_backend(self) -> EmbeddingBackend:
        if self.backend is None or self.encoder is None:
            if self._load_error:
                raise unavailable(f"the embedding model failed to load: {self._load_error}")
            raise unavailable("the embedding model is still loading; retry shortly", retry_after_s=1.0)
        return self.backend

    async def Embed(self, request: embedding_pb2.EmbedRequest, context) -> embedding_pb2.EmbedResponse:
        backend = self._ready_backend()
        kind = parse_kind(request.kind)
        texts = list(request.texts)
        validate_texts(texts, self.settings.max_texts_per_call, self.settings.max_chars_per_text)
        assert self.encoder is not None
        try:
            vectors = await self.encoder.encode(texts, kind)
        except BackendRejected as error:
            raise invalid_argument(str(error)) from error
        except BackendUnavailable as error:
            raise unavailable(str(error), retry_after_s=error.retry_after_s) from error
        TEXTS_EMBEDDED.labels(kind.value).inc(len(texts))
        return embedding_pb2.EmbedResponse(
            vectors=[common_pb2.Vector(values=row) for row in vectors.tolist()],
            model=backend.model_name, dim=backend.dim)

    async def GetModelInfo(self, request, context) -> embedding_pb2.GetModelInfoResponse:
        backend = self._ready_backend()
        return embedding_pb2.GetModelInfoResponse(
            model=backend.model_name, dim=backend.dim, backend=backend.backend_name,
            max_texts_per_call=self.settings.max_texts_per_call,
            max_chars_per_text=self.settings.max_chars_per_text)


async def main() -> None:
    server_settings = GrpcServerSettings.from_env("embedding", DEFAULT_PORT)
    settings = EmbeddingSettings.from_env()
    servicer = EmbeddingService(settings)
    try:
        await serve(server_settings,
                    [(embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server, servicer, SERVICE_NAME)],
                    load=servicer.load)
    finally:
        if servicer.encoder is not None:
            await servicer.encoder.close()
