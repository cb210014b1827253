"""Audience, certification, runtime, years, language, flags."""

import pytest


@pytest.mark.parametrize("message, cap, no_horror", [
    ("my kids are 6 and 9", "PG", True),
    ("watching with my 4-year-old tonight", "PG", True),
    ("something for a 12 year old", "PG", False),
    ("my son is 14", "PG-13", False),
    ("the kids are 15 and 17", "PG-13", False),
    ("movie night with teens", "PG-13", False),
    ("something family friendly", "PG", True),
    ("for the little ones", "PG", True),
    ("my toddler wants a movie", "G", True),
    ("ideally something for little kids", "G", True),
])
def test_audience_caps(read, message, cap, no_horror):
    c = read(message).constraints
    assert c.max_certification == cap
    assert ("Horror" in c.exclude_genres) is no_horror
    assert c.min_certification is None


def test_adult_viewer_age_sets_no_cap(read):
    c = read("it's for my 19 year old brother").constraints
    assert c.max_certification is None


@pytest.mark.parametrize("message, floor", [
    ("just us grown-ups tonight", "PG-13"),
    ("something for adults", "PG-13"),
    ("nothing made for little kids", "PG-13"),
    ("not a kids movie please", "PG-13"),
    ("something mature", "PG-13"),
    ("adults only", "R"),
    ("an R-rated thriller", "R"),
])
def test_audience_floors_exclude_children(read, message, floor):
    c = read(message).constraints
    assert c.min_certification == floor
    assert "Children" in c.exclude_genres
    assert c.max_certification is None


@pytest.mark.parametrize("message, cap", [
    ("PG-13 or below", "PG-13"), ("nothing above PG-13", "PG-13"), ("no R-rated stuff", "PG-13"),
    ("rated PG please", "PG"), ("a G-rated movie", "G"), ("no NC-17", "R"),
])
def test_explicit_ratings(read, message, cap):
    assert read(message).constraints.max_certification == cap


def test_r_rated_is_fine_removes_the_cap(read):
    u = read("actually R-rated is fine")
    assert [r.slot for r in u.removals] == ["max_certification"]
    assert u.constraints.min_certification is None


@pytest.mark.parametrize("message, max_min, min_min", [
    ("nothing over 95 minutes", 95, None),
    ("under 95 minutes", 94, None),
    ("less than 95 min please", 94, None),
    ("no more than an hour and a half", 90, None),
    ("under two and a half hours", 149, None),
    ("95 minutes max", 95, None),
    ("up to 95", 95, None),
    ("maybe not too long", 120, None),
    ("ideally under 2 hours", 119, None),
    ("something short", 99, None),
    ("at least 2 hours", None, 120),
    ("over two hours", None, 121),
    ("1h30 tops", 90, None),
])
def test_runtime_phrasing(read, message, max_min, min_min):
    c = read(message).constraints
    assert c.max_runtime_min == max_min
    assert c.min_runtime_min == min_min


def test_unknown_runtime_fine_is_lenient(read):
    c = read("under 2 hours, unknown runtimes are fine").constraints
    assert c.max_runtime_min == 119 and c.lenient_runtime


def test_estimated_ratings_opt_in(read):
    c = read("for my 8 year old, estimated ratings are fine").constraints
    assert c.max_certification == "PG" and c.use_certification_estimates


@pytest.mark.parametrize("message, lo, hi", [
    ("something from the 90s", 1990, 1999),
    ("early 90s action", 1990, 1993),
    ("mid-90s", 1993, 1996),
    ("late nineties", 1996, 1999),
    ("after 2010", 2011, None),
    ("since 2010", 2010, None),
    ("2010 or later", 2010, None),
    ("before 1980", None, 1979),
    ("nothing before 1980", 1980, None),
])
def test_years(read, message, lo, hi):
    c = read(message).constraints
    assert (c.min_year, c.max_year) == (lo, hi)


def test_recent_is_relative_to_the_catalog(read, resources):
    c = read("something recent").constraints
    assert c.min_year == resources.linker.latest_year - 4


def test_vague_eras_are_taste_not_constraints(read):
    u = read("I like older films")
    assert u.constraints.min_year is None and u.constraints.max_year is None


@pytest.mark.parametrize("message, code", [
    ("a French comedy", "fr"), ("something in Korean", "ko"), ("Japanese-language animation", "ja"),
    ("no subtitles please", "en"),
])
def test_language(read, message, code):
    assert read(message).constraints.language == code


def test_language_words_inside_a_title_are_not_a_language(read):
    u = read("I loved The French Connection")
    assert u.constraints.language is None
    assert [t.title for t in u.seeds.titles] == ["The French Connection"]


def test_genre_after_language_is_kept(read):
    c = read("French comedies").constraints
    assert c.language == "fr" and c.include_genres == ["Comedy"]


@pytest.mark.parametrize("message", [
    "one more quick question about it",
    "it fell far short of my expectations",
    "do you have a short plot summary?",
    "I loved it as a kid",
    "I like action and thrillers too",
])
def test_incidental_words_set_no_constraint(read, message):
    c = read(message).constraints
    assert c.max_runtime_min is None and c.max_certification is None
    assert read(message).removals == []


def test_year_to_present(read):
    c = read("anything from 2017 to present").constraints
    assert (c.min_year, c.max_year) == (2017, None)


def test_star_wars_is_not_the_war_genre(read):
    u = read("Star Wars is OK")
    assert u.removals == [] and "War" not in u.constraints.include_genres


@pytest.mark.parametrize("message, years", [
    ("I like older movies, like from the 70s or 80s", (1970, 1989)),
    ("something from the sixties and seventies", (1960, 1979)),
    ("late 80s or early 90s", (1986, 1993)),
])
def test_every_decade_a_message_names_is_in_the_range(read, message, years):
    c = read(message).constraints
    assert (c.min_year, c.max_year) == years


@pytest.mark.parametrize("message, language", [
    ("a German war movie", "de"), ("something Korean, nothing gory", "ko"), ("maybe a French romance?", "fr"),
    ("a Japanese animated movie for the kids", "ja"), ("actually Japanese instead", "ja"),
    ("German stuff like that", "de"),
])
def test_a_language_adjective_before_a_kind_of_film_or_alone_is_the_language(read, message, language):
    assert read(message).constraints.language == language


@pytest.mark.parametrize("message", ["The French Connection was great", "I love French toast and Italian food"])
def test_a_language_word_inside_a_title_or_about_food_is_no_language(read, message):
    assert read(message).constraints.language is None


@pytest.mark.parametrize("message, genres", [("new sci-fi", ["Sci-Fi"]), ("a new animated movie", ["Animation"]),
                                            ("I would like to see something new", [])])
def test_new_as_in_recently_released_is_a_year_floor(read, resources, message, genres):
    c = read(message).constraints
    assert c.min_year is not None and c.min_year >= 2010
    assert c.include_genres == genres  # the kind of film after "new" is still read


def test_new_inside_a_title_is_not_a_year_floor(read):
    u = read("the new Lion King")
    assert u.constraints.min_year is None and [t.title for t in u.seeds.titles] == ["The Lion King"]


def test_a_baby_in_the_family_still_caps_the_rating(read):
    c = read("we have a baby and a toddler, something gentle").constraints
    assert c.max_certification == "G"


def test_film_noirs_plural_is_the_genre(read):
    assert read("I like old movies, film noirs").constraints.include_genres == ["Film-Noir"]


@pytest.mark.parametrize("message, low, high", [
    ("anything made before the seventies", None, 1969),
    ("skip stuff from before the 90s", 1990, None),
    ("only films released after the 2000s", 2010, None),
    ("I don't want anything after the 80s", None, 1989),
    ("since the 90s please", 1990, None),
])
def test_before_or_after_a_decade_is_a_one_sided_bound(read, message, low, high):
    c = read(message).constraints
    assert (c.min_year, c.max_year) == (low, high)
