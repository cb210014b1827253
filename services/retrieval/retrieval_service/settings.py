"""The retrieval tier's configuration, read once from the environment at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from movierec_core.config import EnvSettings
from movierec_core.index_artifact import current_index_dir
from movierec_core.keyphrase_artifact import current_keyphrase_dir
from movierec_core.paths import artifacts_dir

IndexKind = Literal["artifact", "flat", "hnsw", "ivf"]
DEFAULT_EF_SEARCH = 128
DEFAULT_NPROBE = 16


class RetrievalEnv(EnvSettings):
    """The retrieval process's variables (``RETRIEVAL_*``; services/retrieval/README.md has the table).
    Unset paths follow the current artifacts; 0 means "not set" for the optional numbers."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVAL_")

    index_dir: Path | None = None  # unset: artifacts/index/current
    index_root: Path | None = None  # unset: the parent of index_dir
    catalog_dir: Path | None = None  # unset: artifacts/catalog
    expected_dim: int = Field(0, ge=0)
    verify_checksums: bool = True
    index_kind: IndexKind = "artifact"
    max_k: int = Field(1000, ge=1)
    max_batch_queries: int = Field(256, ge=1)
    max_vector_ids: int = Field(10_000, ge=1)
    hnsw_ef_search: int = Field(0, ge=0)
    ivf_nprobe: int = Field(0, ge=0)
    refine_factor: int = Field(0, ge=0)
    exact_fraction: float = Field(0.05, ge=0.0, le=1.0)
    exact_max_rows: int = Field(5000, ge=0)
    watch_interval_s: float = Field(3.0, ge=0.0)
    faiss_threads: int = Field(1, ge=1)
    keyphrase_dir: str | None = None  # an artifact directory, ``off``, unset: artifacts/keyphrases/current
    keyphrase_candidates: int = Field(256, ge=1)
    keyphrase_search: Literal["auto", "faiss", "exhaustive"] = "auto"
    max_query_phrases: int = Field(16, ge=1, le=256)


@dataclass(frozen=True)
class RetrievalSettings:
    """Where the index and catalog live, request limits, and FAISS search parameters."""

    index_dir: Path
    index_root: Path
    catalog_dir: Path
    expected_dim: int | None
    verify_checksums: bool
    index_kind: str
    max_k: int
    max_batch_queries: int
    max_vector_ids: int
    hnsw_ef_search: int | None  # None: the artifact's index_params, else DEFAULT_EF_SEARCH
    ivf_nprobe: int | None  # None: the artifact's index_params, else DEFAULT_NPROBE
    refine_factor: int
    exact_fraction: float
    exact_max_rows: int
    watch_interval_s: float
    faiss_threads: int
    # SearchKeyphrases (retrieval_service.keyphrases): None = off; an absent artifact answers FAILED_PRECONDITION.
    keyphrase_dir: Path | None = None
    keyphrase_candidates: int = 256
    keyphrase_search: str = "auto"
    max_query_phrases: int = 16

    @classmethod
    def from_env(cls) -> RetrievalSettings:
        env = RetrievalEnv.load()
        index_dir = env.index_dir or current_index_dir()
        return cls(
            index_dir=index_dir,
            index_root=env.index_root or index_dir.parent,
            catalog_dir=env.catalog_dir or artifacts_dir() / "catalog",
            expected_dim=env.expected_dim or None,
            verify_checksums=env.verify_checksums,
            index_kind=env.index_kind,
            max_k=env.max_k,
            max_batch_queries=env.max_batch_queries,
            max_vector_ids=env.max_vector_ids,
            hnsw_ef_search=env.hnsw_ef_search or None,
            ivf_nprobe=env.ivf_nprobe or None,
            refine_factor=env.refine_factor,
            exact_fraction=env.exact_fraction,
            exact_max_rows=env.exact_max_rows,
            watch_interval_s=env.watch_interval_s,
            faiss_threads=env.faiss_threads,
            keyphrase_dir=_keyphrase_dir(env.keyphrase_dir),
            keyphrase_candidates=env.keyphrase_candidates,
            keyphrase_search=env.keyphrase_search,
            max_query_phrases=env.max_query_phrases,
        )


def _keyphrase_dir(value: str | None) -> Path | None:
    """RETRIEVAL_KEYPHRASE_DIR: an artifact directory, ``off`` to disable, unset: artifacts/keyphrases/current."""
    if value is not None and value.lower() == "off":
        return None
    return Path(value) if value else current_keyphrase_dir()
