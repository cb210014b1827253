"""Ranker fixtures: a small real subset of the catalog embedded by the real index job, and helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from movierec_core.index_artifact import load_index_artifact
from ranker_service.movies import MovieStore, facts_from_frame
from ranker_service.scoring import Calibration, ScoringParams

REPO = Path(__file__).resolve().parents[2]

# Well-known movies with clear clusters (Michael Mann crime films, Pixar, franchises with many
# sequels, horror, romance…), so ranking, diversity and explanations have something real to show.
FIXTURE_MOVIE_IDS = (
    1, 6, 16, 34, 39, 47, 50, 110, 111, 260, 296, 318, 356, 364, 377, 480, 500, 527, 539, 541, 586, 587, 588,
    589, 590, 593, 595, 597, 608, 858, 903, 904, 908, 912, 924, 1028, 1035, 1036, 1088, 1089, 1090, 1097, 1196,
    1198, 1200, 1201, 1206, 1208, 1210, 1213, 1214, 1219, 1221, 1222, 1230, 1240, 1246, 1252, 1258, 1265, 1266,
    1270, 1291, 1307, 1380, 1387, 1407, 1408, 1704, 1721, 1729, 1732, 1961, 1968, 1982, 1997, 2011, 2012, 2023,
    2028, 2273, 2424, 2571, 2628, 2671, 2762, 2791, 2918, 2959, 3000, 3006, 3114, 3578, 4210, 4226, 4246, 4306,
    4351, 4886, 4896, 4963, 4973, 4993, 5378, 5618, 5679, 5816, 5867, 5952, 5971, 6365, 6377, 6378, 6874, 6934,
    6942, 7153, 7438, 7451, 8368, 8798, 8957, 8961, 33493, 33794, 40815, 45517, 47044, 48516, 48780, 50872,
    54001, 58559, 59315, 60069, 68157, 68954, 69640, 69844, 78499, 79132, 89745, 99114, 103688, 106696, 109487,
    112852, 122882, 122904, 163937, 168250,
)
HARRY_POTTER = (4896, 5816, 8368, 40815, 54001, 69844)
STAR_WARS = (260, 1196, 1210, 2628, 5378, 33493)


@pytest.fixture(scope="session")
def catalog():
    from movierec_catalog import load_catalog

    return load_catalog()


@pytest.fixture(scope="session")
def fixture_index_dir(tmp_path_factory) -> Path:
    """The real index job over FIXTURE_MOVIE_IDS (vectors come from its content-hash cache when present)."""
    out = tmp_path_factory.mktemp("ranker-index")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "movierec_jobs.index", "--out", str(out), "--no-progress",
               "--movie-ids", ",".join(map(str, FIXTURE_MOVIE_IDS))]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"index job failed:\n{result.stdout}\n{result.stderr}"
    return out / "current"


@pytest.fixture(scope="session")
def store(catalog, fixture_index_dir) -> MovieStore:
    index = load_index_artifact(fixture_index_dir)
    return MovieStore(facts_from_frame(catalog.movies), index.movie_ids, index.vectors,
                      catalog.version, index.version)


@pytest.fixture(scope="session")
def collab_model(catalog):
    """The real collaborative model, fitted on the catalog's ratings."""
    from movierec_catalog import load_ratings
    from ranker_service.collaborative import fit

    return fit(load_ratings())


@pytest.fixture(scope="session")
def fixture_ratings(catalog):
    """The real ml-latest-small ratings of the fixture movies (user_id, movie_id, rating, timestamp)."""
    from movierec_catalog import load_ratings

    ratings = load_ratings()
    return ratings[ratings.movie_id.isin(FIXTURE_MOVIE_IDS)].reset_index(drop=True)


def chronological(ratings) -> dict[int, list[int]]:
    """Each person's movie ids by (timestamp, movieId) — the order the gateway sends ratings in."""
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="mergesort")
    return {int(u): g.astype(int).tolist() for u, g in ordered.groupby("user_id").movie_id}


@pytest.fixture(scope="session")
def sequence_model(fixture_ratings):
    """The real SeqEASE fitted on the fixture movies' ratings (the served window/stride/decay)."""
    from ranker_service.sequence_model import SeqEaseParams, SequenceModel

    return SequenceModel.fit(list(chronological(fixture_ratings).values()), SeqEaseParams(lam=100.0))


@pytest.fixture(scope="session")
def sequence_dir(sequence_model, tmp_path_factory) -> Path:
    return sequence_model.save(tmp_path_factory.mktemp("seqease") / "current")


@pytest.fixture(scope="session")
def scoring_params() -> ScoringParams:
    return ScoringParams.load()


@pytest.fixture
def neutral_params() -> ScoringParams:
    """A plain monotone calibration, for tests about order rather than the fitted numbers."""
    return ScoringParams(alpha=0.5, calibrations={"numeric-seq": Calibration(4.0, -2.0),
                                                  "numeric": Calibration(4.0, -2.0),
                                                  "numeric-content": Calibration(4.0, -2.0)})


@pytest.fixture(scope="session")
def collab_dir(collab_model, tmp_path_factory) -> Path:
    """The fitted model saved as an artifact directory, for the ranker processes to load."""
    return collab_model.save(tmp_path_factory.mktemp("collab") / "current")
