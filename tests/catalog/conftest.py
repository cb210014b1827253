"""Fixtures: one full build of the real shared data per test session, plus a small real subset."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from movierec_catalog import load_catalog
from movierec_catalog.build import build
from movierec_catalog.paths import default_data_dir

DATA_DIR = default_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ml-latest-small" / "movies.csv").is_file():
        pytest.skip(f"shared data not found at {DATA_DIR} (set MOVIEREC_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def build_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("catalog")
    return {"out": root / "out", "cache": root / "cache"}


@pytest.fixture(scope="session")
def built(data_dir, build_dirs):
    """The full catalog built once from the real data into a temp dir (private cache dir)."""
    return build(data_dir, build_dirs["out"], build_dirs["cache"])


@pytest.fixture(scope="session")
def catalog(built):
    return load_catalog(built.path)


def _copy_csv_rows(src: Path, dst: Path, keep) -> None:
    with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as g:
        reader, writer = csv.reader(f), csv.writer(g)
        header = next(reader)
        writer.writerow(header)
        for row in reader:
            if keep(dict(zip(header, row, strict=True))):
                writer.writerow(row)


@pytest.fixture()
def small_data(data_dir, tmp_path) -> Path:
    """A real subset (the 54 movies with movieId <= 60) of every input, for fast builds of broken variants."""
    out = tmp_path / "data"
    (out / "ml-latest-small").mkdir(parents=True)
    ml, small = data_dir / "ml-latest-small", out / "ml-latest-small"
    keep_movie = lambda r: int(r["movieId"]) <= 60  # noqa: E731
    for name in ("movies.csv", "links.csv", "ratings.csv", "tags.csv"):
        _copy_csv_rows(ml / name, small / name, keep_movie)
    with (small / "links.csv").open(encoding="utf-8") as f:
        tmdb_ids = {r["tmdbId"] for r in csv.DictReader(f)}
    _copy_csv_rows(data_dir / "tmdb_5000_movies.csv", out / "tmdb_5000_movies.csv", lambda r: r["id"] in tmdb_ids)
    lines = (data_dir / "movies_extrainfos.dat").read_bytes().split(b"\r\n")
    (out / "movies_extrainfos.dat").write_bytes(
        b"\r\n".join(ln for ln in lines if ln and int(ln.split(b"::")[0]) <= 60) + b"\r\n"
    )
    shutil.copy(data_dir / "imdb_top_1000.csv", out / "imdb_top_1000.csv")
    return out
