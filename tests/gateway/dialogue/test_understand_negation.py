"""Negation scope and coordination, genre/tone mapping (phrasings paraphrased from INSPIRED seekers)."""

import pytest


@pytest.mark.parametrize("message, excluded, included", [
    ("no brutal fights or zombies please", {"Action", "Horror"}, set()),
    ("nothing gory or sad", {"Horror"}, set()),
    ("I want a comedy, no horror", {"Horror"}, {"Comedy"}),
    ("a comedy that isn't a musical", {"Musical"}, {"Comedy"}),
    ("a drama that's not a war movie", {"War"}, {"Drama"}),
    ("something gore-free", {"Horror"}, set()),
    ("I'd rather avoid horror", {"Horror"}, set()),
    ("maybe skip the thrillers and westerns", {"Thriller", "Western"}, set()),
    ("no romance, no musicals, but something funny", {"Romance", "Musical"}, {"Comedy"}),
    ("nothing scary", {"Horror", "Thriller"}, set()),
    ("not too scary, I scare easily", {"Horror", "Thriller"}, set()),
    ("I don't want anything with explosions or gangsters", {"Action", "Crime"}, set()),
    ("horror isn't my thing, I like mysteries", {"Horror"}, {"Mystery"}),
    ("anything but sci-fi", {"Sci-Fi"}, set()),
    ("I hate cartoons but love adventure", {"Animation"}, {"Adventure"}),
])
def test_negation_scope_excludes_every_coordinated_genre(read, message, excluded, included):
    u = read(message)
    assert set(u.constraints.exclude_genres) == excluded
    assert set(u.constraints.include_genres) == included


def test_tone_words_are_not_genres_and_never_positive(read):
    u = read("nothing sad or depressing, something light")
    assert u.constraints.exclude_genres == []
    assert "sad" in u.avoid_text and "depressing" in u.avoid_text
    assert "sad" not in u.residual_text and "depressing" not in u.residual_text
    assert "light" in u.seeds.vibes


def test_negated_words_never_reach_the_residual_text(read):
    u = read("a heist movie, no zombies or blood")
    assert "zombies" not in u.residual_text and "blood" not in u.residual_text
    assert u.constraints.include_genres == ["Crime"]
    assert u.constraints.exclude_genres == ["Horror"]


def test_clause_boundary_ends_the_scope(read):
    u = read("no horror. I want action")
    assert u.constraints.exclude_genres == ["Horror"]
    assert u.constraints.include_genres == ["Action"]


def test_not_sure_is_not_a_negation(read):
    u = read("not sure, maybe a comedy")
    assert u.constraints.include_genres == ["Comedy"]
    assert u.constraints.exclude_genres == []


@pytest.mark.parametrize("message, include", [
    ("something scary but not too gory", ["Horror"]),
    ("a horror movie that's not too gory", ["Horror"]),
    ("I want a horror film, nothing too bloody", ["Horror"]),
    ("a thriller, not too violent or scary", ["Thriller"]),
])
def test_a_degree_hedge_never_excludes_the_genre_the_message_asks_for(read, message, include):
    c = read(message).constraints
    assert c.include_genres == include and not set(include) & set(c.exclude_genres)


@pytest.mark.parametrize("message, excluded", [
    ("nothing too gory", {"Horror"}),
    ("not too scary please", {"Horror", "Thriller"}),
    ("nothing scary or gory", {"Horror", "Thriller"}),
])
def test_a_degree_hedge_alone_still_keeps_the_genre_out(read, message, excluded):
    assert excluded <= set(read(message).constraints.exclude_genres)
