"""Query embeddings for the evaluation, through the embedding tier's own backend code, cached on disk.

The backend is whatever the ``EMBEDDING_*`` variables configure (by default the packaged
all-MiniLM-L6-v2, one torch thread). Vectors are cached under
``$MOVIEREC_CACHE_DIR/eval-queries/<model fingerprint>/`` keyed by the sha256 of each text, so a
second ``make eval`` embeds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from movierec_core.paths import cache_dir

log = logging.getLogger("movierec.eval.encoder")


class QueryEncoder:
    def __init__(self, cache_root: Path | None = None):
        from embedding_service.backends import create_backend, model_identity
        from embedding_service.settings import EmbeddingSettings

        settings = EmbeddingSettings.from_env()
        identity = model_identity(settings)
        self.model_name = identity.model_name
        key = hashlib.sha256(f"{identity.fingerprint}|{identity.query_prefix}".encode()).hexdigest()[:16]
        self.cache = (cache_root or cache_dir() / "eval-queries") / key
        self._settings = settings
        self._create = create_backend
        self._backend = None
        self.embedded = 0  # texts that were not in the cache

    def _load(self):
        if self._backend is None:
            self._backend = self._create(self._settings)
        return self._backend

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim), L2-normalized, embedded as QUERY."""
        from embedding_service.backends import EmbedKind

        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        for key in set(keys):
            path = self.cache / f"{key}.npy"
            if path.exists():
                found[key] = np.load(path)
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            log.info("embedding %d query texts with %s", len(missing), self.model_name)
            vectors = self._load().encode([t for _, t in missing], EmbedKind.QUERY)
            self.cache.mkdir(parents=True, exist_ok=True)
            for (key, _), vector in zip(missing, vectors, strict=True):
                found[key] = vector
                np.save(self.cache / f"{key}.npy", vector)
            self.embedded += len(missing)
        return np.stack([found[k] for k in keys]).astype(np.float32)
