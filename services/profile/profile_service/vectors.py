"""Movie vectors (from the index artifact) and the cold-start vector (centroid of popular movies)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from movierec_core.index_artifact import IndexArtifact, load_index_artifact
from profile_service.taste import VECTOR_DTYPE, normalize


class CatalogUnavailable(Exception):
    """The catalog table needed for the cold-start vector is missing or lacks its columns."""


@dataclass(frozen=True)
class MovieVectors:
    """Read-only lookup movie id → L2-normalized float32 vector, as served by retrieval."""

    version: str
    vectors: np.ndarray
    rows: dict[int, int]

    @classmethod
    def from_artifact(cls, artifact: IndexArtifact) -> MovieVectors:
        return cls(artifact.version, artifact.vectors.astype(VECTOR_DTYPE, copy=False), artifact.row_of())

    @classmethod
    def load(cls, index_dir: Path) -> MovieVectors:
        return cls.from_artifact(load_index_artifact(index_dir))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __contains__(self, movie_id: int) -> bool:
        return int(movie_id) in self.rows

    def vector(self, movie_id: int) -> np.ndarray:
        """The movie's vector; KeyError for an id the index does not hold."""
        return self.vectors[self.rows[int(movie_id)]]

    def stack(self, movie_ids: list[int]) -> np.ndarray:
        return self.vectors[[self.rows[int(m)] for m in movie_ids]]

    def split_known(self, movie_ids: list[int]) -> tuple[list[int], list[int]]:
        """(known ids in request order without duplicates, unknown ids)."""
        known: list[int] = []
        unknown: list[int] = []
        for movie_id in dict.fromkeys(int(m) for m in movie_ids):
            (known if movie_id in self.rows else unknown).append(movie_id)
        return known, unknown


def popular_movie_ids(catalog_dir: Path, movies: MovieVectors, top_n: int) -> list[int]:
    """The ``top_n`` indexed movies with the most MovieLens ratings (ties broken by movie id)."""
    table_path = catalog_dir / "movies.parquet"
    if not table_path.exists():
        raise CatalogUnavailable(f"no catalog table at {table_path}; run `make catalog` "
                                 "(or set PROFILE_CATALOG_DIR)")
    try:
        table = pq.read_table(table_path, columns=["movie_id", "ml_rating_count"])
    except (KeyError, ValueError) as error:
        raise CatalogUnavailable(f"{table_path} lacks movie_id/ml_rating_count: {error}") from None
    ids = table.column("movie_id").to_numpy()
    counts = np.nan_to_num(table.column("ml_rating_count").to_numpy(zero_copy_only=False).astype(np.float64))
    order = np.lexsort((ids, -counts))
    chosen = [int(ids[i]) for i in order if counts[i] > 0 and int(ids[i]) in movies][:top_n]
    if not chosen:
        raise CatalogUnavailable(f"{table_path}: no rated movie is in the index {movies.version}")
    return chosen


def cold_start_vector(movies: MovieVectors, popular_ids: list[int]) -> np.ndarray:
    """normalize(mean of the popular movies' vectors): where a user without a profile starts."""
    return normalize(movies.stack(popular_ids).astype(np.float64).mean(axis=0)).astype(VECTOR_DTYPE)
