"""The raw-data claim checker can fail: near misses of well-known films are rejected, true facts pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "eval"))

from movierec_eval.raw_claims import RawClaims, stated_reason  # noqa: E402

MATRIX, TOY_STORY = 2571, 1


@pytest.fixture(scope="module")
def raw():
    from movierec_core.paths import data_dir

    return RawClaims.load(Path(data_dir()))


def test_true_facts_are_stated(raw):
    matrix = raw.get(MATRIX)
    assert stated_reason("FACTOR_KIND_CAST", "Keanu Reeves", matrix) is None
    assert stated_reason("FACTOR_KIND_DIRECTOR", "Lana Wachowski, Lilly Wachowski", matrix) is None
    assert stated_reason("FACTOR_KIND_DIRECTOR", "Lana Wachowski, Chad Stahelski", matrix)  # one of two is false
    assert stated_reason("FACTOR_KIND_DECADE", "1990s", matrix) is None
    assert stated_reason("FACTOR_KIND_GENRE", "Sci-Fi", matrix) is None  # TMDB's "Science Fiction" too
    toy = raw.get(TOY_STORY)
    assert stated_reason("FACTOR_KIND_RUNTIME", "81 min", toy) is None
    assert stated_reason("FACTOR_KIND_CERTIFICATION", "G", toy) is None
    assert stated_reason("FACTOR_KIND_KEYWORD", "toy comes to life", toy) is None


def test_near_misses_are_rejected(raw):
    matrix, toy = raw.get(MATRIX), raw.get(TOY_STORY)
    assert stated_reason("FACTOR_KIND_CAST", "Monica Bellucci", matrix)  # The Matrix Reloaded, not The Matrix
    assert stated_reason("FACTOR_KIND_DECADE", "1980s", matrix)
    assert stated_reason("FACTOR_KIND_DECADE", "2000s", matrix)
    assert stated_reason("FACTOR_KIND_RUNTIME", "83 min", toy)
    assert stated_reason("FACTOR_KIND_RUNTIME", "79 min", toy)
    assert stated_reason("FACTOR_KIND_GENRE", "Horror", toy)
    assert stated_reason("FACTOR_KIND_CERTIFICATION", "PG", toy)
    assert stated_reason("FACTOR_KIND_CAST", "Joan Cusack", toy)  # Toy Story 2's cast
    assert stated_reason("FACTOR_KIND_GENRE", "Sci-Fi", None) == "movie not in the raw MovieLens files"


def test_a_movielens_alternate_title_joins_the_imdb_row(raw):
    # MovieLens: "Harry Potter and the Sorcerer's Stone (a.k.a. Harry Potter and the Philosopher's Stone)";
    # IMDb top 1000 names it by the first title, and only IMDb lists Rupert Grint among its stars.
    potter = raw.get(4896)
    assert {"Harry Potter and the Sorcerer's Stone", "Harry Potter and the Philosopher's Stone"} <= potter.titles
    assert "imdb" in potter.sources
    assert stated_reason("FACTOR_KIND_CAST", "Rupert Grint", potter) is None
    assert stated_reason("FACTOR_KIND_CAST", "Emma Watson", potter)  # a star of neither file's row
