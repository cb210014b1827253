"""The chat constraint parser: phrasings → hard constraints, with titles resolved against the real catalog."""

from __future__ import annotations

import pytest

from gateway_service.constraints import (
    Constraints,
    ParseResult,
    TitleMatch,
    describe,
    has_content,
    merge,
    minutes,
    parse_message,
)
from gateway_service.titles import catalog_resolver
from movierec_catalog import load_catalog
from movierec_catalog.catalog import CatalogNotFoundError


@pytest.fixture(scope="module")
def catalog():
    try:
        return load_catalog()
    except CatalogNotFoundError as error:
        pytest.fail(f"the constraint tests resolve titles in the real catalog: {error}")


@pytest.fixture(scope="module")
def parse(catalog):
    resolve = catalog_resolver(catalog)

    def run(message: str, last_runtimes=(), latest_year=2018) -> ParseResult:
        return parse_message(message, resolve_title=resolve, last_runtimes=last_runtimes, latest_year=latest_year)

    return run


def title_id(catalog, title: str, year: int) -> int:
    return next(m.movie_id for m in catalog.search_titles(title, 20) if m.year == year)


# ---- runtime -----------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "expected"), [
    ("under 2 hours", 119),
    ("something under two hours please", 119),
    ("less than 90 minutes", 89),
    ("shorter than 100 minutes", 99),
    ("at most 90 minutes", 90),
    ("no longer than 2 hours", 120),
    ("90 minutes or less", 90),
    ("an hour and a half max", 90),
    ("one and a half hours tops", 90),
    ("under 1.5 hours", 89),
    ("1h30 or less", 90),
    ("up to 100 min", 100),
    ("under 2h", 119),
    ("not too long", 120),
    ("something short", 99),
    ("a quick one", 99),
    ("under 1 hour 45 minutes", 104),
])
def test_runtime_limits(parse, message, expected):
    result = parse(message)
    assert result.update.max_runtime_min == expected, result
    assert result.update.lenient_runtime is False


def test_something_shorter_is_below_the_median_of_the_last_picks(parse):
    assert parse("something shorter", last_runtimes=[150, 120, 90]).update.max_runtime_min == 119
    assert parse("can you find a shorter one?", last_runtimes=[100, 110]).update.max_runtime_min == 104


def test_something_shorter_without_known_runtimes_means_under_100_minutes(parse):
    assert parse("something shorter", last_runtimes=[]).update.max_runtime_min == 99


def test_unknown_runtime_can_be_allowed_explicitly(parse):
    result = parse("under 2 hours, unknown runtime is ok")
    assert result.update.max_runtime_min == 119 and result.update.lenient_runtime


@pytest.mark.parametrize(("text", "value"), [("2 hours", 120), ("an hour and a half", 90), ("1h30", 90),
                                             ("90 min", 90), ("1.5 hours", 90), ("half an hour", 30),
                                             ("2 hours and 15 minutes", 135), ("ninety minutes", 90)])
def test_durations(text, value):
    assert minutes(text) == value


# ---- maturity and fear --------------------------------------------------------------------

@pytest.mark.parametrize("message", ["nothing too scary", "not scary please", "Nothing too scary!",
                                     "I scare easily", "no jump scares", "nothing that's creepy",
                                     "something not too frightening"])
def test_fear_excludes_horror_and_thriller_without_a_certification_limit(parse, message):
    result = parse(message)
    assert set(result.update.exclude_genres) >= {"Horror", "Thriller"}, (message, result)
    assert result.update.max_certification is None


@pytest.mark.parametrize("message", ["family friendly", "something for the kids", "a movie for my kids",
                                     "kid-friendly please", "watching with my children", "suitable for kids",
                                     "family movie night"])
def test_family_means_at_most_pg_and_no_horror(parse, message):
    result = parse(message)
    assert result.update.max_certification == "PG", (message, result)
    assert "Horror" in result.update.exclude_genres


@pytest.mark.parametrize(("message", "cert"), [("no R-rated movies", "PG-13"), ("nothing rated R", "PG-13"),
                                               ("PG-13 or below", "PG-13"), ("rated PG", "PG"),
                                               ("G-rated only", "G"), ("no NC-17", "R"), ("no r rated stuff", "PG-13")])
def test_certification_limits(parse, message, cert):
    assert parse(message).update.max_certification == cert


def test_no_horror_names_the_genre_only(parse):
    result = parse("no horror")
    assert result.update.exclude_genres == ["Horror"]


# ---- years --------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "lo", "hi"), [
    ("from the 90s", 1990, 1999), ("something from the '80s", 1980, 1989), ("80s", 1980, 1989),
    ("a 1970s classic", 1970, 1979), ("the nineties", 1990, 1999), ("from the 2000s", 2000, 2009),
    ("the 2010s", 2010, 2019), ("late 80s", 1986, 1989), ("early 90s", 1990, 1993),
    ("after 2010", 2011, None), ("since 2010", 2010, None), ("before 1980", None, 1979),
    ("between 1990 and 2000", 1990, 2000), ("in 1995", 1995, 1995), ("2005 or later", 2005, None),
    ("something recent", 2014, None),
])
def test_years(parse, message, lo, hi):
    result = parse(message)
    assert (result.update.min_year, result.update.max_year) == (lo, hi), (message, result)


def test_runtime_numbers_are_not_decades(parse):
    result = parse("under 90 minutes")
    assert result.update.min_year is None and result.update.max_year is None


# ---- titles -------------------------------------------------------------------------------

def test_not_a_title_excludes_it(parse, catalog):
    result = parse("not Titanic")
    assert [m.title for m in result.update.exclude_movies] == ["Titanic"]
    assert result.update.exclude_movies[0].movie_id == title_id(catalog, "Titanic", 1997)  # the most-rated one


@pytest.mark.parametrize(("message", "title"), [
    ("I've seen The Matrix already", "The Matrix"), ("anything but Forrest Gump", "Forrest Gump"),
    ("not titanic from the 90s", "Titanic"), ("already watched Toy Story", "Toy Story"),
    ("except Pulp Fiction, something funny", "Pulp Fiction"), ("not Scary Movie", "Scary Movie"),
])
def test_exclusion_phrasings(parse, message, title):
    assert title in [m.title for m in parse(message).update.exclude_movies], parse(message)


@pytest.mark.parametrize(("message", "title"), [
    ("more like Alien", "Alien"), ("something like The Matrix", "The Matrix"),
    ("movies similar to Toy Story", "Toy Story"), ("more like The French Connection", "The French Connection"),
    ("something like pride and prejudice", "Pride & Prejudice"), ("in the style of Fargo", "Fargo"),
])
def test_more_like_phrasings(parse, message, title):
    result = parse(message)
    assert result.update.more_like is not None and result.update.more_like.title == title, result
    assert result.update.language is None  # "French" inside a title is not a language request


def test_more_like_and_not_in_one_message(parse):
    result = parse("more like Alien but not Aliens")
    assert result.update.more_like.title == "Alien"
    assert [m.title for m in result.update.exclude_movies] == ["Aliens"]


def test_constraint_phrases_are_never_titles(parse):
    for message in ("not too long", "not from the 90s", "not sure, maybe a drama", "not now", "no horror"):
        assert parse(message).update.exclude_movies == [], message


def test_unknown_title_is_reported_not_guessed(parse):
    result = parse("more like Zzyzx Qwerty Movie")
    assert result.update.more_like is None
    assert result.unresolved and "zzyzx" in result.unresolved[0]


# ---- language and genres ------------------------------------------------------------------

@pytest.mark.parametrize(("message", "code"), [("in French", "fr"), ("a French film please", "fr"),
                                               ("Japanese movies", "ja"), ("something in Spanish", "es"),
                                               ("korean-language thriller", "ko"), ("German cinema", "de")])
def test_language(parse, message, code):
    assert parse(message).update.language == code


def test_excluding_a_language_is_reported_as_unsupported(parse):
    result = parse("not in French")
    assert result.update.language is None and "not supported" in result.unresolved[0]


@pytest.mark.parametrize(("message", "include", "exclude"), [
    ("a comedy", ["Comedy"], []), ("something funny", ["Comedy"], []), ("sci-fi", ["Sci-Fi"], []),
    ("a science fiction movie", ["Sci-Fi"], []), ("no comedies please", [], ["Comedy"]),
    ("nothing romantic", [], ["Romance"]), ("an animated movie", ["Animation"], []),
    ("a western", ["Western"], []), ("I don't want a drama", [], ["Drama"]),
    ("a rom-com", ["Comedy", "Romance"], []), ("a war movie", ["War"], []),
])
def test_genres(parse, message, include, exclude):
    result = parse(message)
    assert result.update.include_genres == include and result.update.exclude_genres == exclude, result


def test_everything_in_one_message(parse):
    result = parse("something from the 90s, nothing too scary, under 2 hours, not Titanic")
    c = result.update
    assert (c.min_year, c.max_year, c.max_runtime_min) == (1990, 1999, 119)
    assert set(c.exclude_genres) == {"Horror", "Thriller"}
    assert [m.title for m in c.exclude_movies] == ["Titanic"]
    assert result.descriptions == describe(c)


# ---- residual (what moves the taste vector) ------------------------------------------------

def test_residual_drops_constraint_phrases_but_keeps_taste(parse):
    result = parse("a dark sci-fi thriller, nothing too scary, not Titanic")
    assert "Titanic" not in result.residual and "scary" not in result.residual
    assert "dark sci-fi thriller" in result.residual
    assert has_content(result.residual)


def test_pure_constraint_message_has_no_taste_content(parse):
    assert not has_content(parse("something from the 90s, under 2 hours").residual)
    assert not has_content(parse("not Titanic").residual)


# ---- merging over a session ----------------------------------------------------------------

def test_constraints_accumulate_and_replace(parse):
    session = merge(Constraints(), parse("from the 90s, nothing too scary"))
    session = merge(session, parse("under 2 hours"))
    assert (session.min_year, session.max_year, session.max_runtime_min) == (1990, 1999, 119)
    session = merge(session, parse("after 2010"))
    assert (session.min_year, session.max_year) == (2011, None)  # an open bound replaces the whole range
    session = merge(session, parse("actually a horror movie"))
    assert "Horror" in session.include_genres and "Horror" not in session.exclude_genres


def test_exclusions_add_up_and_more_like_is_per_turn(parse):
    session = merge(Constraints(), parse("not Titanic, more like Alien"))
    assert session.more_like.title == "Alien"
    session = merge(session, parse("not Forrest Gump"))
    assert {m.title for m in session.exclude_movies} == {"Titanic", "Forrest Gump"}
    assert session.more_like is None


def test_reset_clears_everything(parse):
    session = merge(Constraints(), parse("from the 90s, family friendly, not Titanic"))
    session = merge(session, parse("ok, start over"))
    assert session.is_empty()


def test_constraints_round_trip_through_json():
    c = Constraints(max_runtime_min=100, exclude_movies=[TitleMatch(1, "Toy Story")], more_like=TitleMatch(2, "X"))
    assert Constraints.from_dict(c.to_dict()) == c


def test_parser_without_a_resolver_ignores_titles():
    result = parse_message("not Titanic, under 2 hours")
    assert result.update.exclude_movies == [] and result.update.max_runtime_min == 119
