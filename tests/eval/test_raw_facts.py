"""The independent raw-data reader used to check the chat's picks: known facts of well-known films."""

from __future__ import annotations

import pytest

from movierec_eval.raw_facts import default_root, load, normalise_title


@pytest.fixture(scope="module")
def facts():
    return load(default_root())


def test_toy_story(facts):
    movie = facts.find("Toy Story", 1995)
    assert movie.movie_id == 1
    assert movie.certification == "G" and movie.certification_source == "omdb"
    assert movie.runtime_min == 81
    assert {"Animation", "Children", "Comedy"} <= movie.genres
    assert movie.language == "en"


def test_heat_runtime_from_imdb_when_tmdb_lacks_it(facts):
    movie = facts.find("Heat", 1995)
    assert movie.movie_id == 6
    assert movie.certification == "R"
    assert movie.runtime_min == 170  # IMDb top 1000 "170 min"
    assert {"Action", "Crime", "Thriller"} <= movie.genres


def test_titanic(facts):
    movie = facts.find("Titanic", 1997)
    assert (movie.movie_id, movie.certification, movie.runtime_min) == (1721, "PG-13", 194)
    assert facts.find("Titanic") is None  # two films of that name: ambiguous without a year


def test_movielens_title_forms(facts):
    assert facts.find("The Matrix", 1999).movie_id == 2571  # "Matrix, The (1999)"
    assert facts.find("Se7en", 1995).movie_id == 47  # "Seven (a.k.a. Se7en) (1995)"
    assert facts.find("Amélie", 2001).movie_id == 4973  # accents folded
    assert facts.find("Oldboy", 2003).movie_id == 27773  # the TMDB title of "Old Boy"


def test_imdb_row_one_year_off_still_matches(facts):
    # IMDb "Nuovo Cinema Paradiso" (1988) is MovieLens "Cinema Paradiso (Nuovo cinema Paradiso) (1989)".
    assert facts.find("Cinema Paradiso", 1989).runtime_min == 155


def test_only_mpaa_values_count_as_certification(facts):
    values = {m.certification for m in facts.movies.values()}
    assert values <= {None, "G", "PG", "PG-13", "R", "NC-17"}
    # The Shawshank Redemption's IMDb certificate is India's "A": not an MPAA rating, so OMDb's "R" is used.
    assert facts.find("The Shawshank Redemption", 1994).certification == "R"


def test_tmdb_science_fiction_maps_to_sci_fi(facts):
    assert "Sci-Fi" in facts.find("Avatar", 2009).genres


def test_normalise_title():
    assert normalise_title("The Fast & the Furious!") == "fast and the furious"
    assert normalise_title("WALL·E") == normalise_title("Wall-E")
