"""Broken inputs: malformed rows are counted, missing files give a clear error."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

import movierec_catalog.build as build_mod
from movierec_catalog import load_catalog
from movierec_catalog.build import build

LIBS = Path(build_mod.__file__).resolve().parents[1]


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(LIBS), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "movierec_catalog.build", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _break_tmdb(path: Path) -> None:
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    rows[0]["genres"] = '[{"id": 28, "name": "Action"'  # truncated JSON
    rows[1]["runtime"] = "about two hours"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        f.write("1,2,3\r\n")  # wrong number of fields


def test_malformed_rows_are_counted_not_fatal(small_data, tmp_path, caplog):
    _break_tmdb(small_data / "tmdb_5000_movies.csv")
    with (small_data / "movies_extrainfos.dat").open("ab") as f:
        f.write(b"this line has no separators\r\n61::Only::Three\r\n")
    with (small_data / "ml-latest-small" / "movies.csv").open("a", encoding="utf-8") as f:
        f.write("not-an-id,Broken (2000),Drama\n")
    result = build(small_data, tmp_path / "out", tmp_path / "cache")
    bad = result.manifest["malformed"]
    assert bad["tmdb.genres_json"] == 1 and bad["tmdb.runtime"] == 1 and bad["tmdb.row"] == 1
    assert bad["extrainfos.line"] == 2 and bad["movies.id"] == 1 and bad["imdb.year"] == 1
    assert "malformed extrainfos.line: line 62: 3 fields" in caplog.text
    cat = load_catalog(result.path)
    assert len(cat) == 54 and cat.get(1).director == "John Lasseter"


def test_latin1_extrainfos_line_is_decoded(small_data, tmp_path):
    path = small_data / "movies_extrainfos.dat"
    path.write_bytes(path.read_bytes().replace("Irène".encode(), "Irène".encode("latin-1")))
    result = build(small_data, tmp_path / "out", tmp_path / "cache")
    assert result.manifest["malformed"].get("extrainfos.encoding", 0) >= 1
    assert any("Irène" in c for m in load_catalog(result.path).movies["cast"] for c in m)


def test_cli_logs_malformed_rows_to_stderr(small_data, tmp_path):
    with (small_data / "movies_extrainfos.dat").open("ab") as f:
        f.write(b"61::Only::Three\r\n")
    result = _cli("--data-dir", str(small_data), "--out-dir", str(tmp_path / "out"), "--no-cache")
    assert result.returncode == 0
    assert "malformed extrainfos.line: line 61: 3 fields" in result.stderr
    assert "malformed rows: extrainfos.line=1, imdb.year=1" in result.stdout


def test_missing_optional_inputs_are_reported(small_data, tmp_path):
    (small_data / "imdb_top_1000.csv").unlink()
    (small_data / "ml-latest-small" / "tags.csv").unlink()
    result = _cli("--data-dir", str(small_data), "--out-dir", str(tmp_path / "out"), "--no-cache")
    assert result.returncode == 0, result.stderr
    assert "missing optional inputs: ml-latest-small/tags.csv, imdb_top_1000.csv" in result.stdout
    assert "imdb_top_1000.csv not found" in result.stderr
    cat = load_catalog(tmp_path / "out")
    assert cat.manifest["missing_optional_inputs"] == ["ml-latest-small/tags.csv", "imdb_top_1000.csv"]
    assert all(m.tags == () and m.imdb_rating is None for m in map(cat.get, [1, 2, 6]))


@pytest.mark.parametrize("name", ["ratings.csv", "movies.csv", "links.csv"])
def test_missing_required_file_exit_2(small_data, tmp_path, name):
    missing = small_data / "ml-latest-small" / name
    missing.unlink()
    result = _cli("--data-dir", str(small_data), "--out-dir", str(tmp_path / "out"), "--no-cache")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: required input file not found: {missing}"
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_failed_build_leaves_no_half_written_version(small_data, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(build_mod.pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        build(small_data, tmp_path / "out", tmp_path / "cache")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "cache").exists()


def test_cli_rerun_says_nothing_to_do(small_data, tmp_path):
    args = ("--data-dir", str(small_data), "--out-dir", str(tmp_path / "out"))
    env = {"MOVIEREC_CACHE_DIR": str(tmp_path / "cache")}
    first = _cli(*args, env_extra=env)
    assert first.returncode == 0 and ": built in" in first.stdout
    second = _cli(*args, env_extra=env)
    assert second.returncode == 0 and "already built; nothing to do" in second.stdout
    assert (tmp_path / "cache" / "catalog").is_dir()
