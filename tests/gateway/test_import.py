"""Importing Letterboxd / IMDb ratings: parsing and linking on the real catalog, then a 500-row file
through a real gateway, worker and Redis (matched rows applied, unmatched ones reported, twice = once)."""

from __future__ import annotations

import csv
import io
import os
import time

import pytest
from gateway_helpers import assert_error, catalog, signup, wait_for

from gateway_service.imports import CatalogLinker, ImportFormatError, parse_export
from movierec_core.index_artifact import load_index_artifact

LETTERBOXD = """Date,Name,Year,Letterboxd URI,Rating
2023-01-05,The Matrix,1999,https://boxd.it/a,4.5
2023-01-06,Amelie,2001,https://boxd.it/b,5
2023-01-07,A Film That Does Not Exist,2019,https://boxd.it/c,3
2023-01-08,Heat,1995,https://boxd.it/d,
"""
IMDB = """Const,Your Rating,Date Rated,Title,URL,Title Type,IMDb Rating,Runtime (mins),Year,Genres
tt0133093,9,2022-03-01,The Matrix,https://www.imdb.com/title/tt0133093/,movie,8.7,136,1999,Action
tt9999999,7,2022-03-02,Godfather,https://www.imdb.com/title/tt9999999/,movie,9.2,175,1972,Crime
"""


def test_both_exports_parse_and_link_to_the_catalog():
    linker = CatalogLinker(catalog())
    source, rows = parse_export(LETTERBOXD)
    assert source == "letterboxd" and [r.rating for r in rows] == [4.5, 5.0, 3.0, None]
    linked = [linker.link(r) for r in rows]
    assert [getattr(x, "movie_id", None) for x in linked[:2]] == [2571, 4973]  # Amelie by its alternate title
    assert linked[2].reason == "not in the catalog" and linked[3].reason == "no rating in this row"
    source, rows = parse_export(IMDB)
    assert source == "imdb" and [r.rating for r in rows] == [4.5, 3.5]  # 9/10 → 4.5 stars
    matrix, godfather = (linker.link(r) for r in rows)
    assert matrix.movie_id == 2571  # by IMDb id
    assert godfather.movie_id == 858  # unknown IMDb id: falls back to title + year
    with pytest.raises(ImportFormatError, match="not a ratings export"):
        parse_export("a,b\n1,2\n")


def _five_hundred_rows(index_dir) -> tuple[str, list]:
    """300 distinct indexed movies, 180 later re-ratings of some of them, 20 titles not in the catalog."""
    movies = [catalog().get(int(m)) for m in load_index_artifact(index_dir).movie_ids]
    movies = [m for m in movies if m is not None and m.year][:300]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Date", "Name", "Year", "Letterboxd URI", "Rating"])
    for i, movie in enumerate(movies):
        writer.writerow(["2022-05-01", movie.title, movie.year, f"https://boxd.it/{i}", (i % 10 + 1) / 2])
    for i, movie in enumerate(movies[:180]):
        writer.writerow(["2023-06-01", movie.title, movie.year, f"https://boxd.it/r{i}", 5 - (i % 4) / 2])
    for i in range(20):
        writer.writerow(["2023-07-01", f"Unfindable Picture Number {i}", 2021, f"https://boxd.it/x{i}", 4])
    return out.getvalue(), movies


@pytest.mark.slow
def test_a_500_row_file_is_imported_in_seconds_and_twice_changes_nothing(client, index_dir):
    user = signup(client, "importer")  # never onboarded: the import does it
    text, movies = _five_hundred_rows(index_dir)
    distinct = len(movies)
    headers = {**user.headers, "Content-Type": "text/csv"}
    started = time.perf_counter()
    response = client.post("/api/import", headers=headers, content=text.encode())
    answered = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["matched"], body["onboarded"]) == (500, distinct, True)
    assert len(body["unmatched"]) == 20 and all(u["reason"] == "not in the catalog" for u in body["unmatched"])
    assert body["summary"] == f"{distinct} matched, 20 not matched"

    def profile():
        return client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).json()

    wait_for(lambda: len(profile()["ratings"]) == distinct, timeout_s=30)
    elapsed = time.perf_counter() - started
    print(f"500-row import: {answered:.2f} s to the answer, {elapsed:.2f} s until applied "
          f"(load average {os.getloadavg()[0]:.1f})")
    if os.getloadavg()[0] <= 2 * (os.cpu_count() or 1):  # a timing bound means nothing on a swamped machine
        assert elapsed < 10, f"import took {elapsed:.1f} s end to end ({answered:.1f} s to the answer)"
    ratings = {r["movieId"]: r["rating"] for r in profile()["ratings"]}
    # The 2023 re-ratings replaced the 2022 ones (0.5 → 5.0, 1.0 → 4.5); the others stayed.
    assert [ratings[m.movie_id] for m in (movies[0], movies[1], movies[299])] == [5.0, 4.5, 5.0]
    version = profile()["version"]
    again = client.post("/api/import", headers=headers, content=text.encode())
    assert again.status_code == 200 and again.json()["onboarded"] is False
    time.sleep(2)  # give the worker time to (not) apply anything
    assert profile()["version"] == version and len(profile()["ratings"]) == distinct


def test_a_file_with_nothing_known_is_422_with_the_reasons(client):
    user = signup(client, "nothing")
    headers = {**user.headers, "Content-Type": "text/csv"}
    body = assert_error(client.post("/api/import", headers=headers,
                                    content=b"Date,Name,Year,Letterboxd URI,Rating\n2023-01-01,Nope Nope,2020,u,4\n"),
                        422, "NOTHING_MATCHED")
    assert "line 2: not in the catalog" in body["fields"][0]["message"]
    assert_error(client.post("/api/import", headers=headers, content=b"\xff\xfe\x00"), 400)
    # UTF-8 but not CSV (a carriage return inside an unquoted field; found by the fuzz test as a 500)
    problem = assert_error(client.post("/api/import", headers=headers, content="Ï\x15Þ\rØ\\ØL9".encode()), 400)
    assert "CSV" in problem["message"] or "export" in problem["message"]
