"""Unit tests of the text helpers and mapping tables."""

import pytest

from movierec_catalog.assemble import embedding_text, map_certification, merge_genres
from movierec_catalog.text import clean_text, fold, parse_ml_title, title_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("King &amp; Queen", "King & Queen"),
        ("<p>Bold <b>move</b></p>", "Bold move"),
        ("double&amp;amp;escaped", "double&escaped"),
        ("&lt;i&gt;escaped tag&lt;/i&gt; text", "escaped tag text"),
        ("  lots \n\t of   space\u00a0here ", "lots of space here"),
        ("Ame\u0301lie", "Amélie"),  # NFD -> NFC
        ("a < b > c", "a < b > c"),  # not a tag
        ("N/A", None),
        ("   ", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Matrix, The (1999)", "The Matrix", 1999),
        ("Toy Story (1995)", "Toy Story", 1995),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children (La Cité des enfants perdus)",
            1995,
        ),
        ("Crow, The: Wicked Prayer (2005)", "The Crow: Wicked Prayer", 2005),
        ("Avventura, L' (Adventure, The) (1960)", "L'Avventura (The Adventure)", 1960),
        ("Boot, Das (Boat, The) (1981)", "Das Boot (The Boat)", 1981),
        ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", 2006),
        ("From Dusk Till Dawn 2: Texas Blood Money (1999) ", "From Dusk Till Dawn 2: Texas Blood Money", 1999),
        ("Babylon 5", "Babylon 5", None),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
        ("I, Robot (2004)", "I, Robot", 2004),
        ("Lock, Stock & Two Smoking Barrels (1998)", "Lock, Stock & Two Smoking Barrels", 1998),
    ],
)
def test_parse_ml_title(raw, title, year):
    assert parse_ml_title(raw)[:2] == (title, year)


def test_parse_ml_title_alternates_drop_aka():
    _, _, main, alts = parse_ml_title("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)")
    assert main == "Léon: The Professional"
    assert alts == ["The Professional", "Léon"]


def test_title_key_matches_across_sources():
    assert title_key("Matrix, The") == title_key("The Matrix") == "matrix"
    assert title_key("Léon") == title_key("Leon")
    assert title_key("Lock, Stock & Two Smoking Barrels") == title_key("Lock, Stock and Two Smoking Barrels")
    assert title_key("Das weiße Band") == title_key("Das weisse Band")
    assert fold("Amélie!") == "amelie"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("G", "G"),
        ("PG", "PG"),
        ("PG-13", "PG-13"),
        ("R", "R"),
        ("NC-17", "NC-17"),
        ("pg-13", "PG-13"),
        ("UNRATED", None),
        ("Unrated", None),
        ("N/A", None),
        ("Approved", None),
        ("Passed", None),
        ("U", None),
        ("UA", None),
        ("U/A", None),
        ("A", None),
        ("GP", None),
        ("X", None),
        ("TV-PG", None),
        ("TV-14", None),
        ("TV-MA", None),
        ("16", None),
        (None, None),
        ("", None),
    ],
)
def test_certification_mapping_is_strict(raw, expected):
    assert map_certification(raw) == expected


def test_genre_mapping():
    assert merge_genres(["Action"], ["Science Fiction", "Action", "Family", "Music", "History"]) == ["Action", "Sci-Fi"]


def test_embedding_text_omits_missing_parts_and_caps_length():
    rec = {
        "title": "X",
        "year": None,
        "genres": [],
        "overview": "word " * 1000,
        "director": None,
        "keywords": [],
        "tags": ["t"],
        "cast": [],
    }
    text = embedding_text(rec)
    assert text.startswith("Title: X. Plot: word word")
    assert "Director" not in text and "Genres" not in text and "Cast" not in text
    assert text.endswith("Tags: t.")
    assert len(text) <= 1500
