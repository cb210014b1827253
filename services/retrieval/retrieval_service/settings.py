"""The retrieval tier's configuration, read once from the environment at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from movierec_core.config import env_bool, env_choice, env_float, env_int, env_optional_str
from movierec_core.index_artifact import current_index_dir
from movierec_core.keyphrase_artifact import current_keyphrase_dir
from movierec_core.paths import artifacts_dir

INDEX_KIND_CHOICES = ("artifact", "flat", "hnsw", "ivf")
DEFAULT_EF_SEARCH = 128
DEFAULT_NPROBE = 16


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
        index_dir = Path(env_optional_str("RETRIEVAL_INDEX_DIR") or current_index_dir())
        expected_dim = env_int("RETRIEVAL_EXPECTED_DIM", 0, minimum=0)
        return cls(
            index_dir=index_dir,
            index_root=Path(env_optional_str("RETRIEVAL_INDEX_ROOT") or index_dir.parent),
            catalog_dir=Path(env_optional_str("RETRIEVAL_CATALOG_DIR") or artifacts_dir() / "catalog"),
            expected_dim=expected_dim or None,
            verify_checksums=env_bool("RETRIEVAL_VERIFY_CHECKSUMS", True),
            index_kind=env_choice("RETRIEVAL_INDEX_KIND", INDEX_KIND_CHOICES, "artifact"),
            max_k=env_int("RETRIEVAL_MAX_K", 1000, minimum=1),
            max_batch_queries=env_int("RETRIEVAL_MAX_BATCH_QUERIES", 256, minimum=1),
            max_vector_ids=env_int("RETRIEVAL_MAX_VECTOR_IDS", 10_000, minimum=1),
            hnsw_ef_search=env_int("RETRIEVAL_HNSW_EF_SEARCH", 0, minimum=0) or None,
            ivf_nprobe=env_int("RETRIEVAL_IVF_NPROBE", 0, minimum=0) or None,
            refine_factor=env_int("RETRIEVAL_REFINE_FACTOR", 0, minimum=0),
            exact_fraction=env_float("RETRIEVAL_EXACT_FRACTION", 0.05, minimum=0.0, maximum=1.0),
            exact_max_rows=env_int("RETRIEVAL_EXACT_MAX_ROWS", 5000, minimum=0),
            watch_interval_s=env_float("RETRIEVAL_WATCH_INTERVAL_S", 3.0, minimum=0.0),
            faiss_threads=env_int("RETRIEVAL_FAISS_THREADS", 1, minimum=1),
            keyphrase_dir=_keyphrase_dir(env_optional_str("RETRIEVAL_KEYPHRASE_DIR")),
            keyphrase_candidates=env_int("RETRIEVAL_KEYPHRASE_CANDIDATES", 256, minimum=1),
            keyphrase_search=env_choice("RETRIEVAL_KEYPHRASE_SEARCH", ("auto", "faiss", "exhaustive"), "auto"),
            max_query_phrases=env_int("RETRIEVAL_MAX_QUERY_PHRASES", 16, minimum=1, maximum=256),
        )


def _keyphrase_dir(value: str | None) -> Path | None:
    """RETRIEVAL_KEYPHRASE_DIR: an artifact directory, ``off`` to disable, unset: artifacts/keyphrases/current."""
    if value is not None and value.strip().lower() == "off":
        return None
    return Path(value) if value else current_keyphrase_dir()
