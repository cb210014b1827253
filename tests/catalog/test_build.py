"""The full build on the real shared data: facts survive the joins, nothing is invented."""

import json
import os

import pyarrow.parquet as pq

from movierec_catalog.build import BUILDER_VERSION, build, compute_version, describe_inputs, resolve_inputs
from movierec_catalog.schema import MOVIE_COLUMNS


def test_artifacts_and_manifest(built):
    assert built.status == "built"
    assert sorted(p.name for p in built.path.iterdir()) == ["manifest.json", "movies.parquet", "ratings.parquet"]
    m = built.manifest
    assert m["version"] == built.version and len(built.version) == 12
    assert m["builder_version"] == BUILDER_VERSION
    assert m["inputs"]["ratings"]["sha256"] == "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"
    assert m["row_counts"]["movies"] == 9741  # 9,742 minus one duplicate tmdbId
    assert m["row_counts"]["users"] == 610
    assert m["missing_optional_inputs"] == []
    assert set(m["coverage"]) >= {
        "overview",
        "director",
        "cast",
        "certification",
        "runtime",
        "keywords",
        "tags",
        "poster",
    }
    assert 2500 < m["coverage"]["certification"]["count"] < 2900  # "about 2.7k" (docs/architecture.md §3.1)
    assert 3800 < m["coverage"]["runtime"]["count"] < 4000  # "about 3.9k"
    assert m["malformed"] == {"imdb.year": 1}  # Apollo 13 has Released_Year "PG"


def test_current_symlink_points_at_version(built):
    current = built.path.parent / "current"
    assert current.is_symlink() and os.readlink(current) == built.version
    assert not [p for p in built.path.parent.iterdir() if p.name.startswith(".")]


def test_schema_columns_exact(built):
    assert tuple(pq.read_schema(built.path / "movies.parquet").names) == MOVIE_COLUMNS
    ratings = pq.read_table(built.path / "ratings.parquet")
    assert ratings.column_names == ["user_id", "movie_id", "rating", "timestamp"]
    assert str(ratings.schema.field("rating").type) == "double"
    assert ratings.num_rows == 100835  # one user rated both copies of a duplicate


def test_known_facts(catalog):
    toy = catalog.get(1)
    assert (toy.title, toy.year, toy.director) == ("Toy Story", 1995, "John Lasseter")
    assert toy.canonical_key == "tmdb:862" and toy.imdb_id == "tt0114709"
    assert toy.cast[0] == "Tom Hanks" and toy.certification == "G"
    assert catalog.get(6).runtime_min == 170  # Heat
    pulp = catalog.get(296)
    assert (pulp.certification, pulp.certification_source) == ("R", "omdb")
    assert catalog.get(2571).title == "The Matrix"
    assert "Sci-Fi" in catalog.get(2571).genres


def test_genres_union_and_no_genres_listed(catalog):
    assert all("(no genres listed)" not in m.genres for m in catalog.movies.itertuples())
    avatar = catalog.get(72998)  # TMDB adds Fantasy to MovieLens Action|Adventure|Sci-Fi|IMAX
    assert avatar.genres[:4] == ("Action", "Adventure", "Sci-Fi", "IMAX") and "Fantasy" in avatar.genres


def test_missing_metadata_stays_missing(catalog, data_dir):
    """Wedding Crashers: its tmdbId is not in TMDB 5000, no OMDb row, not in IMDb top 1000."""
    m = catalog.get(34162)
    assert m.tmdb_id is not None and m.title == "Wedding Crashers" and m.year == 2005
    for name in (
        "overview",
        "director",
        "runtime_min",
        "certification",
        "certification_source",
        "vote_average",
        "vote_count",
        "popularity",
        "imdb_rating",
        "poster_url",
        "original_language",
    ):
        assert getattr(m, name) is None, name
    assert m.cast == () and m.keywords == ()
    assert m.embedding_text.startswith("Title: Wedding Crashers (2005). Genres: Comedy, Romance.")
    assert "Plot" not in m.embedding_text and "Director" not in m.embedding_text


def test_tmdb_zero_votes_and_runtime_are_not_values(catalog):
    df = catalog.movies
    assert not (df["runtime_min"] <= 0).any()
    assert df.loc[df["vote_count"] == 0, "vote_average"].isna().all()


def test_wrong_omdb_rows_are_not_used(built, catalog):
    rejected = {r["movie_id"] for r in built.manifest["omdb_rows_rejected"]}
    assert {583, 823, 922, 2563, 3683} <= rejected
    blood_simple = catalog.get(3683)
    assert blood_simple.director == "Joel Coen"  # IMDb top 1000, not OMDb's Korean short
    assert "Korean" not in (blood_simple.overview or "")
    assert catalog.get(583).director is None  # "Dear Diary" OMDb stub is another film


def test_no_duplicate_canonical_keys(built, catalog):
    keys = catalog.movies["canonical_key"]
    assert keys.is_unique and catalog.movies["movie_id"].is_unique
    dropped = built.manifest["duplicates_dropped"]
    assert [(d["movie_id"], d["kept_movie_id"], d["canonical_key"]) for d in dropped] == [(144606, 6003, "tmdb:4912")]
    assert catalog.get(144606) is None
    # 144606's only rating is by user 111, who also rated 6003: the later rating is kept.
    assert built.manifest["ratings_remapped_to_kept_duplicate"] == 1
    assert built.manifest["ratings_collapsed_same_user_movie"] == 1
    assert catalog.get(6003).ml_rating_count == 15


def test_embedding_text_has_title_and_year(catalog):
    for m in map(catalog.get, catalog.movies.index):
        assert m.embedding_text.startswith(f"Title: {m.title}")
        if m.year is not None:
            assert f"({m.year})" in m.embedding_text
        assert len(m.embedding_text) <= 1500
    matrix = catalog.get(2571).embedding_text
    assert matrix.index("Genres") < matrix.index("Plot") < matrix.index("Director") < matrix.index("Cast")


def test_text_is_cleaned(catalog):
    df = catalog.movies
    shrek3 = catalog.get(53121).overview  # TMDB has "King &amp; Queen"
    assert "King & Queen" in shrek3 and "&amp;" not in shrek3
    batman = catalog.get(33794).overview  # TMDB has double spaces
    assert "  " not in batman
    text_cols = ["title", "overview", "director", "embedding_text"]
    for col in text_cols:
        s = df[col].dropna()
        assert not s.str.contains(r"&(?:amp|quot|lt|gt|#\d+);|</?[a-zA-Z][^<>]*>|\s{2,}").any(), col
        assert (s == s.str.strip()).all(), col


def test_tags_lowercase_dedup_ranked(catalog, data_dir):
    tags = catalog.get(296).tags  # Pulp Fiction has many tags
    assert 0 < len(tags) <= 15 and len(set(tags)) == len(tags)
    assert all(t == t.lower() for t in tags)


def test_rebuild_does_no_work(built, data_dir, build_dirs):
    before = {p.name: p.stat().st_mtime_ns for p in built.path.iterdir()}
    again = build(data_dir, build_dirs["out"], build_dirs["cache"])
    assert again.status == "reused" and again.version == built.version
    assert {p.name: p.stat().st_mtime_ns for p in built.path.iterdir()} == before


def test_restores_from_cache_into_fresh_out_dir(built, data_dir, build_dirs, tmp_path):
    assert (build_dirs["cache"] / built.version / "manifest.json").is_file()
    fresh = build(data_dir, tmp_path / "clone-out", build_dirs["cache"])
    assert fresh.status == "cached" and fresh.version == built.version
    for name in ("movies.parquet", "ratings.parquet", "manifest.json"):
        assert (fresh.path / name).read_bytes() == (built.path / name).read_bytes()
    assert json.loads((tmp_path / "clone-out" / "current" / "manifest.json").read_text())["version"] == built.version


def test_version_is_content_hash(data_dir):
    inputs = describe_inputs(resolve_inputs(data_dir))
    assert compute_version(inputs) == compute_version(dict(reversed(list(inputs.items()))))
    inputs["tags"] = {"path": "ml-latest-small/tags.csv", "present": False}
    assert compute_version(inputs) != compute_version(describe_inputs(resolve_inputs(data_dir)))
