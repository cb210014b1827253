"""The loader: Movie records, title search, error when nothing is built."""

import dataclasses

import pytest

from movierec_catalog import CatalogNotFoundError, load_catalog, load_ratings


def test_movie_is_frozen_with_tuples_and_none(catalog):
    m = catalog.get(1)
    assert isinstance(m.genres, tuple) and isinstance(m.cast, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.title = "x"  # type: ignore[misc]
    assert catalog.get(999_999_999) is None
    assert len(catalog) == 9741 and 1 in catalog


def test_movies_frame_indexed_by_movie_id(catalog):
    df = catalog.movies
    assert df.index[0] == 1 and df.loc[6, "title"] == "Heat"
    assert str(df["year"].dtype) == "Int64" and str(df["runtime_min"].dtype) == "Int64"
    assert catalog.version == catalog.manifest["version"]


@pytest.mark.parametrize(
    ("query", "first_id"),
    [
        ("toy sto", 1),  # prefix; Toy Story before Toy Story 2/3 (more ratings)
        ("Toy Story", 1),
        ("matrix", 2571),  # leading article ignored
        ("THE MATRIX", 2571),
        ("la vita e bella", 2324),  # alternate title, accents folded
        ("amélie", 4973),
        ("leon", 293),
        ("heat", 6),  # exact match beats "The Heat"/"Heathers"
        ("matrix 1999", 2571),
    ],
)
def test_search_titles(catalog, query, first_id):
    hits = catalog.search_titles(query, limit=5)
    assert hits and hits[0].movie_id == first_id, [h.title for h in hits]


def test_search_titles_limits_and_empty(catalog):
    assert len(catalog.search_titles("the", limit=3)) == 3
    assert catalog.search_titles("", 5) == [] and catalog.search_titles("zzqqxx", 5) == []
    ids = [m.movie_id for m in catalog.search_titles("toy sto", 10)]
    assert ids[:3] == [1, 3114, 78499]


def test_load_via_out_dir_and_env(built, monkeypatch):
    assert load_catalog(built.path.parent).version == built.version  # resolves <out>/current
    monkeypatch.setenv("MOVIEREC_CATALOG_DIR", str(built.path))
    assert load_catalog().version == built.version
    ratings = load_ratings()
    assert list(ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert ratings["rating"].between(0.5, 5.0).all() and len(ratings) == 100835
    assert not ratings["movie_id"].isin([144606]).any()


def test_missing_catalog_says_make_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIEREC_CATALOG_DIR", str(tmp_path / "nothing"))
    with pytest.raises(CatalogNotFoundError, match="make catalog"):
        load_catalog()
