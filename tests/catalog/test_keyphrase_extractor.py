"""The keyphrase extractor (libs/movierec_catalog/keyphrases.py) on real catalog movies and on requests."""

from __future__ import annotations

import pytest

from movierec_catalog import load_catalog
from movierec_catalog.keyphrases import (
    MAX_PHRASES,
    SOURCES,
    PhraseRarity,
    chunks,
    is_mood_request,
    movie_keyphrases,
    query_keyphrases,
    settings_in,
)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def rarity(catalog):
    return PhraseRarity(catalog.movies["overview"].tolist())


@pytest.mark.parametrize(("text", "expected"), [
    ("something cozy set in a small town with found family", ["cozy", "small town", "found family"]),
    ("I want a dark gritty crime movie", ["dark", "gritty", "crime"]),
    ("a heist in Paris during the 1960s", ["1960s", "paris", "heist"]),
    ("I don't like sad movies", ["sad"]),
    ("anything good?", []),
])
def test_query_keyphrases(text, expected):
    assert query_keyphrases(text) == expected


def test_mood_requests_are_the_ones_naming_a_mood():
    assert is_mood_request("something funny for tonight")
    assert not is_mood_request("a movie about the mafia")


def test_chunks_drop_character_names_and_stopwords():
    text = "Led by Woody, Andy's toys live happily in his room until Andy's birthday brings Buzz Lightyear."
    found = chunks(text)
    assert not any(name in " ".join(found) for name in ("woody", "andy", "buzz", "lightyear"))
    assert all(1 <= len(c.split()) <= 3 for c in found)


def test_settings_are_places_and_periods_not_characters():
    found = settings_in("In 1920s New York, a jazz singer moves to a small town where Andy's secret waits.")
    assert {"1920s", "new york", "small town"} <= set(found)
    assert "andy" not in found


def test_movie_keyphrases_come_from_the_movie_own_facts(catalog, rarity):
    for movie_id in (1, 858, 2571, 356):
        movie = catalog.get(movie_id)
        phrases = movie_keyphrases(movie, rarity)
        assert 8 <= len(phrases) <= MAX_PHRASES, (movie.title, phrases)
        assert len({p.text for p in phrases}) == len(phrases)
        assert {p.source for p in phrases} <= set(SOURCES)
        people = {p.lower() for p in (*movie.cast, movie.director or "")}
        text = " ".join([movie.overview or "", *movie.keywords, *movie.tags]).lower()
        for phrase in phrases:
            assert phrase.text not in people
            if phrase.source in ("keyword", "tag", "overview", "setting"):
                assert all(word in text for word in phrase.text.split()), (movie.title, phrase)
    godfather = {p.text for p in movie_keyphrases(catalog.get(858), rarity)}
    assert {"mafia", "organized crime", "1940s"} <= godfather
