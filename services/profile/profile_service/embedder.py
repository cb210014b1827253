"""Text → vector through the embedding tier (EmbeddingService.Embed), synchronous.

Used from the gRPC service (in a worker thread) and from Celery worker processes. The channel is
created lazily per process: a gRPC channel must not cross a ``fork`` (prefork pool).
"""

from __future__ import annotations

import os
import threading

import grpc
import numpy as np

from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec_core.client import open_sync_channel
from movierec_core.errors import describe_rpc_error
from profile_service.taste import VECTOR_DTYPE

TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                   grpc.StatusCode.RESOURCE_EXHAUSTED}


class EmbeddingUnavailable(Exception):
    """The embedding tier cannot answer right now (worth retrying)."""


class EmbeddingRejected(Exception):
    """The embedding tier refused the text (e.g. too long) or answered something unusable."""


class Embedder:
    def __init__(self, address: str, timeout_s: float, expected_dim: int):
        self.address = address
        self.timeout_s = timeout_s
        self.expected_dim = expected_dim
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stub: embedding_pb2_grpc.EmbeddingServiceStub | None = None

    def _get_stub(self) -> embedding_pb2_grpc.EmbeddingServiceStub:
        with self._lock:
            if self._stub is None or self._pid != os.getpid():
                channel = open_sync_channel(self.address, default_timeout_s=self.timeout_s)
                self._stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
                self._pid = os.getpid()
            return self._stub

    def embed(self, text: str) -> np.ndarray:
        """The L2-normalized query embedding of ``text`` as float32."""
        return self.embed_many([text])[0]

    def embed_many(self, texts: list[str]) -> np.ndarray:
        """One Embed call for several texts: a (len(texts), dim) float32 array."""
        request = embedding_pb2.EmbedRequest(texts=texts, kind=embedding_pb2.EMBED_KIND_QUERY)
        try:
            response = self._get_stub().Embed(request)
        except grpc.RpcError as error:
            described = describe_rpc_error(error)
            if described.code in TRANSIENT_CODES:
                raise EmbeddingUnavailable(f"embedding tier at {self.address}: "
                                           f"{described.code.name}: {described.message}") from None
            raise EmbeddingRejected(f"embedding tier refused the text: {described.code.name}: "
                                    f"{described.message}") from None
        if len(response.vectors) != len(texts):
            raise EmbeddingRejected(f"embedding tier returned {len(response.vectors)} vectors for {len(texts)} texts")
        vectors = np.asarray([v.values for v in response.vectors], dtype=VECTOR_DTYPE).reshape(len(texts), -1)
        if vectors.shape[1] != self.expected_dim:
            raise EmbeddingRejected(f"embedding model {response.model!r} gives {vectors.shape[1]}-d vectors but "
                                    f"the movie index is {self.expected_dim}-d (same model required)")
        return vectors
