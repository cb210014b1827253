"""The 2-D taste map as the gateway serves it: the artifact's format and its loader.

The map is fitted offline per index version by ``python -m movierec_jobs.taste_map`` (``make taste-map``,
jobs/movierec_jobs/taste_map.py); the gateway only reads ``artifacts/taste_map/<index_version>/``:

    manifest.json   method, index_version, catalog_version, count, explained_variance, scale,
                    anchor rules and sizes, created_at
    projection.npz  mean (dim,), components (2, dim), movie_ids (N,), coords (N, 2),
                    anchor_vectors (2, dim) = [average viewer, critic consensus] (L2-normalized)
    genre_names (G,), genre_directions (G, dim): the fixed axes of the genre radar "then vs now" — the
                    G most frequent content genres of the indexed movies (never IMAX or "(no genres
                    listed)"), each as the unit direction from the mean movie to the genre's centroid

Being a linear projection (PCA), it projects a user's taste vector with the very same transform as the
movies, so "you" lands where your vector really points. Coordinates are divided by ``scale`` (the largest
absolute movie coordinate) so the movies fill [-1, 1].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movierec_core.paths import artifacts_dir

ANCHORS = ("average_viewer", "critic_consensus")  # the order of ``anchor_vectors``


def taste_map_root(override: str | None = None) -> Path:
    return Path(override) if override else artifacts_dir() / "taste_map"


@dataclass(frozen=True)
class TasteMap:
    manifest: dict
    mean: np.ndarray
    components: np.ndarray
    coords_by_id: dict[int, tuple[float, float]]
    anchor_vectors: np.ndarray
    # the vector radar's fixed axes; empty for a map built before they were part of it
    genre_names: tuple[str, ...] = ()
    genre_directions: np.ndarray | None = None

    @property
    def index_version(self) -> str:
        return self.manifest["index_version"]

    def project(self, vector: np.ndarray) -> tuple[float, float]:
        x, y = (np.asarray(vector, dtype=np.float32) - self.mean) @ self.components.T / self.manifest["scale"]
        return float(x), float(y)

    def anchor(self, name: str) -> np.ndarray:
        return self.anchor_vectors[ANCHORS.index(name)]

    def genre_leans(self, vector: np.ndarray) -> list[float]:
        """cos(vector − mean movie, each genre's direction), in the order of ``genre_names`` (−1…1: 0 is the
        average movie, > 0 leans toward the genre)."""
        offset = np.asarray(vector, dtype=np.float64) - self.mean
        norm = float(np.linalg.norm(offset))
        if self.genre_directions is None or norm == 0.0:
            return [0.0] * len(self.genre_names)
        return [float(v) for v in self.genre_directions.astype(np.float64) @ (offset / norm)]


def load_taste_map(directory: Path) -> TasteMap:
    manifest = json.loads((directory / "manifest.json").read_text())
    with np.load(directory / "projection.npz", allow_pickle=False) as data:
        coords = {int(i): (float(x), float(y)) for i, (x, y) in zip(data["movie_ids"], data["coords"], strict=True)}
        has_genres = "genre_names" in data.files and "genre_directions" in data.files
        return TasteMap(manifest, data["mean"], data["components"], coords, data["anchor_vectors"],
                        tuple(str(g) for g in data["genre_names"]) if has_genres else (),
                        data["genre_directions"] if has_genres else None)


class TasteMapStore:
    """Loads the map of an index version on first use and keeps it (a few hundred KB per version)."""

    def __init__(self, root: Path):
        self.root = root
        self._maps: dict[str, TasteMap] = {}

    def get(self, index_version: str) -> TasteMap | None:
        if index_version not in self._maps:
            directory = self.root / index_version
            if not (directory / "manifest.json").exists():
                return None
            self._maps[index_version] = load_taste_map(directory)
        return self._maps[index_version]
