"""Fit the 2-D taste map: a PCA projection of the movie vectors, per index version.

``python -m movierec_jobs.taste_map`` (``make taste-map``) reads the serving index artifact (``artifacts/index/current``
unless ``--index`` says otherwise) and the catalog, and writes ``artifacts/taste_map/<index_version>/``
(its format — manifest.json and projection.npz with the projection, the anchors and the genre radar's
axes — and its loader are services/gateway/gateway_service/taste_map.py, which the gateway serves).

PCA (numpy SVD) rather than UMAP: it is deterministic, fits 9.7k × 384 in well under a second,
and — being linear — projects a user's taste vector with the very same transform as the movies,
so "you" lands where your vector really points. Coordinates are divided by ``scale`` (the
largest absolute movie coordinate) so the movies fill [-1, 1].

Anchors: the *average viewer* is the centroid of the 200 movies with the most MovieLens ratings;
*critic consensus* is the centroid of highly rated movies with enough votes (TMDB vote average
≥ 7.5 over ≥ 1,000 votes, or a MovieLens mean ≥ 4.0 over ≥ 50 ratings) — there are no critics'
scores in the data, so "critics" means "the best-rated by many voters"; the README says so.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gateway_service.taste_map import ANCHORS, taste_map_root
from movierec_catalog import NON_CONTENT_GENRES, Catalog, load_catalog
from movierec_core.index_artifact import current_index_dir, load_index_artifact

POPULAR_COUNT = 200
CRITIC_TMDB_MIN_AVERAGE, CRITIC_TMDB_MIN_VOTES = 7.5, 1000
CRITIC_ML_MIN_MEAN, CRITIC_ML_MIN_COUNT = 4.0, 50
RADAR_GENRES = 10  # axes of the vector radar (then / now / reference points): the most frequent content genres


def fit_pca(vectors: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, components (k, dim), explained variance ratio (k,)) of the rows of ``vectors``."""
    data = np.asarray(vectors, dtype=np.float64)
    mean = data.mean(axis=0)
    _, singular, vt = np.linalg.svd(data - mean, full_matrices=False)
    variance = singular**2
    ratio = variance[:components] / variance.sum()
    basis = vt[:components]
    # SVD signs are arbitrary: fix them so that reruns on the same data draw the same picture.
    signs = np.sign(basis[np.arange(components), np.abs(basis).argmax(axis=1)])
    return mean, basis * signs[:, None], ratio


def popular_ids(catalog: Catalog, ids: set[int], count: int = POPULAR_COUNT) -> list[int]:
    movies = [catalog.get(i) for i in ids]
    ranked = sorted((m for m in movies if m is not None), key=lambda m: (-m.ml_rating_count, m.movie_id))
    return [m.movie_id for m in ranked[:count]]


def critic_ids(catalog: Catalog, ids: set[int]) -> list[int]:
    out = []
    for movie_id in sorted(ids):
        m = catalog.get(movie_id)
        if m is None:
            continue
        tmdb = (m.vote_average or 0) >= CRITIC_TMDB_MIN_AVERAGE and (m.vote_count or 0) >= CRITIC_TMDB_MIN_VOTES
        movielens = (m.ml_rating_mean or 0) >= CRITIC_ML_MIN_MEAN and m.ml_rating_count >= CRITIC_ML_MIN_COUNT
        if tmdb or movielens:
            out.append(movie_id)
    return out


def radar_genres(catalog: Catalog, movie_ids: np.ndarray, count: int = RADAR_GENRES) -> list[str]:
    """The ``count`` content genres most indexed movies have (ties by name): the radar's fixed axes."""
    counts: dict[str, int] = {}
    for movie_id in movie_ids:
        movie = catalog.get(int(movie_id))
        for genre in movie.genres if movie else ():
            if genre not in NON_CONTENT_GENRES:
                counts[genre] = counts.get(genre, 0) + 1
    return [g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]


def genre_directions(vectors: np.ndarray, movie_ids: np.ndarray, catalog: Catalog, genres: list[str],
                     mean: np.ndarray) -> np.ndarray:
    """Per genre, normalize(centroid of its movies − the mean movie): where the genre sits relative to
    the catalog, so a taste's lean toward it is ``cos(taste − mean, direction)``."""
    rows = {g: [] for g in genres}
    for row, movie_id in enumerate(movie_ids):
        movie = catalog.get(int(movie_id))
        for genre in movie.genres if movie else ():
            if genre in rows:
                rows[genre].append(row)
    out = np.stack([vectors[rows[g]].astype(np.float64).mean(axis=0) - mean for g in genres])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _centroid(vectors: np.ndarray, rows: list[int]) -> np.ndarray:
    centre = vectors[rows].mean(axis=0)
    return centre / np.linalg.norm(centre)


def build(index_dir: Path, catalog: Catalog, root: Path) -> Path:
    artifact = load_index_artifact(index_dir)
    vectors, movie_ids = artifact.vectors, artifact.movie_ids
    mean, basis, ratio = fit_pca(vectors)
    coords = (vectors - mean) @ basis.T
    scale = float(np.abs(coords).max()) or 1.0
    row_of = artifact.row_of()
    ids = set(row_of)
    anchor_ids = {"average_viewer": popular_ids(catalog, ids), "critic_consensus": critic_ids(catalog, ids)}
    for name, chosen in anchor_ids.items():
        if not chosen:
            raise SystemExit(f"taste_map: no movies qualify for the {name} anchor in index {artifact.version}")
    anchors = np.stack([_centroid(vectors, [row_of[i] for i in anchor_ids[name]]) for name in ANCHORS])
    genres = radar_genres(catalog, movie_ids)
    if len(genres) < 3:
        raise SystemExit(f"taste_map: only {len(genres)} content genres in index {artifact.version}; the radar needs 3")
    directions = genre_directions(vectors, movie_ids, catalog, genres, mean)
    manifest = {
        "method": "pca", "index_version": artifact.version, "catalog_version": catalog.version,
        "count": len(movie_ids), "explained_variance": [round(float(r), 5) for r in ratio], "scale": scale,
        "anchors": {
            "average_viewer": {"movies": len(anchor_ids["average_viewer"]),
                               "rule": f"the {POPULAR_COUNT} movies with the most MovieLens ratings"},
            "critic_consensus": {"movies": len(anchor_ids["critic_consensus"]),
                                 "rule": f"TMDB average ≥ {CRITIC_TMDB_MIN_AVERAGE} over ≥ {CRITIC_TMDB_MIN_VOTES} "
                                         f"votes, or MovieLens mean ≥ {CRITIC_ML_MIN_MEAN} over ≥ "
                                         f"{CRITIC_ML_MIN_COUNT} ratings"},
        },
        "genre_axes": {"genres": genres, "rule": f"the {RADAR_GENRES} content genres most indexed movies have "
                       f"(not {', '.join(sorted(NON_CONTENT_GENRES))}); lean = cos(taste − mean movie, "
                       "genre centroid − mean movie)"},
        "created_at": datetime.now(UTC).isoformat(),
    }
    return _write(root / artifact.version, manifest, mean=mean.astype(np.float32), components=basis.astype(np.float32),
                  movie_ids=movie_ids.astype(np.int64), coords=(coords / scale).astype(np.float32),
                  anchor_vectors=anchors.astype(np.float32), genre_names=np.array(genres),
                  genre_directions=directions.astype(np.float32))


def _write(final: Path, manifest: dict, **arrays: np.ndarray) -> Path:
    """Write into a temp dir beside ``final`` and rename, so a reader never sees half a map."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    np.savez(tmp / "projection.npz", **arrays)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if final.exists():
        backup = final.with_name(f".{final.name}-old-{os.getpid()}")
        final.rename(backup)
        tmp.rename(final)
        for child in backup.iterdir():
            child.unlink()
        backup.rmdir()
    else:
        tmp.rename(final)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.taste_map", description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None, help="index artifact dir (default: the current one)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog dir (default: the current one)")
    parser.add_argument("--out", type=Path, default=None, help="output root (default: artifacts/taste_map)")
    args = parser.parse_args()
    index_dir = args.index or current_index_dir()
    path = build(Path(index_dir), load_catalog(args.catalog), taste_map_root(str(args.out) if args.out else None))
    manifest = json.loads((path / "manifest.json").read_text())
    print(f"taste map for index {manifest['index_version']}: {manifest['count']} movies, explained variance "
          f"{manifest['explained_variance']}, anchors {manifest['anchors']['average_viewer']['movies']} popular / "
          f"{manifest['anchors']['critic_consensus']['movies']} highly rated, radar axes "
          f"{manifest['genre_axes']['genres']} → {path}")


if __name__ == "__main__":
    main()
