"""Catalog builder (offline job).

    python -m movierec_catalog.build [--data-dir DIR] [--out-dir artifacts/catalog] [--no-cache]

Writes ``<out>/<version>/{movies.parquet, ratings.parquet, manifest.json}`` where ``version`` is a
content hash of the input files and BUILDER_VERSION, and points ``<out>/current`` at it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from movierec_core.hashing import sha256_file

from . import sources as S
from .assemble import Sources, build_table
from .paths import default_cache_dir, default_data_dir, default_out_dir
from .schema import MOVIES_SCHEMA, RATINGS_SCHEMA

log = logging.getLogger("movierec_catalog")

BUILDER_VERSION = "1.1.0"

# name -> (path relative to the data dir, required)
INPUTS = {
    "movies": ("ml-latest-small/movies.csv", True),
    "links": ("ml-latest-small/links.csv", True),
    "ratings": ("ml-latest-small/ratings.csv", True),
    "tags": ("ml-latest-small/tags.csv", False),
    "tmdb": ("tmdb_5000_movies.csv", False),
    "extrainfos": ("movies_extrainfos.dat", False),
    "imdb_top_1000": ("imdb_top_1000.csv", False),
}
OUTPUT_FILES = ("movies.parquet", "ratings.parquet")
COVERAGE_FIELDS = {  # report name -> column
    "overview": "overview",
    "director": "director",
    "cast": "cast",
    "certification": "certification",
    "runtime": "runtime_min",
    "keywords": "keywords",
    "tags": "tags",
    "poster": "poster_url",
    "year": "year",
    "genres": "genres",
}


class MissingInputError(FileNotFoundError):
    """A required input file is absent."""


@dataclass(frozen=True)
class BuildResult:
    status: str  # "built" | "reused" | "cached"
    version: str
    path: Path
    manifest: dict
    seconds: float




def resolve_inputs(data_dir: Path) -> dict[str, Path | None]:
    """Map each input name to its path (None for an absent optional input).

    Raises MissingInputError naming the path of the first absent required file.
    """
    out: dict[str, Path | None] = {}
    for name, (rel, required) in INPUTS.items():
        path = data_dir / rel
        if path.is_file():
            out[name] = path
        elif required:
            raise MissingInputError(f"required input file not found: {path}")
        else:
            log.warning("optional input %s not found; building without it", path)
            out[name] = None
    return out


def describe_inputs(paths: dict[str, Path | None]) -> dict[str, dict]:
    return {
        name: (
            {"path": INPUTS[name][0], "sha256": sha256_file(p), "bytes": p.stat().st_size}
            if p
            else {"path": INPUTS[name][0], "present": False}
        )
        for name, p in paths.items()
    }


def compute_version(inputs: dict[str, dict]) -> str:
    """First 12 hex chars of sha256 over BUILDER_VERSION and every input's sha256 (or absence)."""
    h = hashlib.sha256(f"builder={BUILDER_VERSION}\n".encode())
    for name in sorted(inputs):
        h.update(f"{name}={inputs[name].get('sha256', 'absent')}\n".encode())
    return h.hexdigest()[:12]


def load_sources(paths: dict[str, Path | None], issues: S.Issues) -> Sources:
    opt = {  # name -> reader for optional inputs
        "tags": S.read_ml_tags,
        "tmdb": S.read_tmdb,
        "extrainfos": S.read_extrainfos,
        "imdb_top_1000": S.read_imdb_top,
    }
    loaded = {name: reader(paths[name], issues) for name, reader in opt.items() if paths[name]}
    return Sources(
        movies=S.read_ml_movies(paths["movies"], issues),
        links=S.read_ml_links(paths["links"], issues),
        ratings=S.read_ml_ratings(paths["ratings"], issues),
        tags=loaded.get("tags", {}),
        tmdb=loaded.get("tmdb", {}),
        extrainfos=loaded.get("extrainfos", {}),
        imdb=loaded.get("imdb_top_1000", []),
    )


def coverage(records: list[dict]) -> dict[str, dict]:
    n = len(records) or 1
    out = {}
    for name, col in COVERAGE_FIELDS.items():
        count = sum(1 for r in records if r[col] not in (None, []))
        out[name] = {"count": count, "percent": round(100.0 * count / n, 1)}
    return out


# --- atomic file-system operations -----------------------------------------------------------


def _tmp_dir(parent: Path, version: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=parent))
    tmp.chmod(0o755)  # mkdtemp creates 0700; services may run as another user
    return tmp


def _publish(tmp: Path, final: Path) -> bool:
    """Rename a finished temp dir into place. False (and tmp removed) if another process won."""
    if final.exists() and not (final / "manifest.json").is_file():
        shutil.rmtree(final)  # leftover without manifest: never a valid version
    try:
        os.rename(tmp, final)
        return True
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (final / "manifest.json").is_file():
            return False
        raise


def point_current(out_dir: Path, version: str) -> None:
    """Atomically make <out>/current a relative symlink to <version> (symlink + rename)."""
    link = out_dir / "current"
    if link.is_symlink() and os.readlink(link) == version:
        return
    tmp = out_dir / f".current-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(version, tmp)
    os.replace(tmp, link)


def _outputs_ok(vdir: Path, manifest: dict) -> bool:
    outputs = manifest.get("outputs", {})
    return all((vdir / f).is_file() and sha256_file(vdir / f) == outputs.get(f, {}).get("sha256") for f in OUTPUT_FILES)


def restore_from_cache(cache_dir: Path, out_dir: Path, version: str) -> bool:
    """Copy <cache>/<version> into <out>/<version> if it is complete and its checksums match."""
    src = cache_dir / version
    try:
        manifest = json.loads((src / "manifest.json").read_text())
        if not _outputs_ok(src, manifest):
            log.warning("cached catalog %s is incomplete or corrupt; rebuilding", src)
            return False
        tmp = _tmp_dir(out_dir, version)
        for name in (*OUTPUT_FILES, "manifest.json"):
            shutil.copy2(src / name, tmp / name)
        _publish(tmp, out_dir / version)
        return True
    except (OSError, ValueError) as exc:
        if (src / "manifest.json").exists():
            log.warning("could not restore catalog from cache %s: %s", src, exc)
        return False


def save_to_cache(vdir: Path, cache_dir: Path, version: str) -> None:
    """Best effort: a cache failure is a warning, never a build failure."""
    if (cache_dir / version / "manifest.json").is_file():
        return
    try:
        tmp = _tmp_dir(cache_dir, version)
        for name in (*OUTPUT_FILES, "manifest.json"):
            shutil.copy2(vdir / name, tmp / name)
        _publish(tmp, cache_dir / version)
    except OSError as exc:
        log.warning("could not copy catalog to cache %s: %s", cache_dir, exc)


# --- build -----------------------------------------------------------------------------------


def _write_version(out_dir: Path, version: str, records, ratings, manifest: dict) -> Path:
    tmp = _tmp_dir(out_dir, version)
    try:
        pq.write_table(pa.Table.from_pylist(records, schema=MOVIES_SCHEMA), tmp / "movies.parquet")
        pq.write_table(
            pa.Table.from_pandas(ratings, schema=RATINGS_SCHEMA, preserve_index=False), tmp / "ratings.parquet"
        )
        manifest["outputs"] = {
            f: {"sha256": sha256_file(tmp / f), "bytes": (tmp / f).stat().st_size} for f in OUTPUT_FILES
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, out_dir / version)
    return out_dir / version


def _make_manifest(version, inputs, records, ratings, report, issues, absent, seconds) -> dict:
    return {
        "version": version,
        "builder_version": BUILDER_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 2),
        "inputs": inputs,
        "missing_optional_inputs": absent,
        "row_counts": {"movies": len(records), "ratings": len(ratings), "users": int(ratings["user_id"].nunique())},
        "coverage": coverage(records),
        "malformed": dict(sorted(issues.counts.items())),
        **report,
    }


def build(
    data_dir: Path | None = None, out_dir: Path | None = None, cache_dir: Path | None = None, use_cache: bool = True
) -> BuildResult:
    """Build (or reuse) the catalog version for the current inputs and point <out>/current at it."""
    start = time.perf_counter()
    data_dir, out_dir = Path(data_dir or default_data_dir()), Path(out_dir or default_out_dir())
    cache_dir = Path(cache_dir or default_cache_dir())
    paths = resolve_inputs(data_dir)
    inputs = describe_inputs(paths)
    version = compute_version(inputs)
    vdir = out_dir / version
    if (vdir / "manifest.json").is_file():
        status = "reused"
    elif use_cache and restore_from_cache(cache_dir, out_dir, version):
        status = "cached"
    else:
        issues = S.Issues()
        src = load_sources(paths, issues)
        records, ratings, report = build_table(src)
        absent = [INPUTS[n][0] for n, p in paths.items() if p is None]
        manifest = _make_manifest(
            version, inputs, records, ratings, report, issues, absent, time.perf_counter() - start
        )
        _write_version(out_dir, version, records, ratings, manifest)
        status = "built"
        if use_cache:
            save_to_cache(vdir, cache_dir, version)
    point_current(out_dir, version)
    manifest = json.loads((vdir / "manifest.json").read_text())
    return BuildResult(status, version, vdir, manifest, time.perf_counter() - start)


# --- CLI -------------------------------------------------------------------------------------


def format_report(result: BuildResult) -> str:
    m = result.manifest
    n = m["row_counts"]["movies"]
    what = {
        "built": f"built in {result.seconds:.1f} s",
        "cached": "copied from the cache (no rebuild)",
        "reused": "already built; nothing to do",
    }[result.status]
    lines = [
        f"catalog {result.version}: {what}",
        f"  path: {result.path}",
        f"  rows: {n} movies, {m['row_counts']['ratings']} ratings, {m['row_counts']['users']} users",
        f"  coverage (of {n} movies):",
    ]
    lines += [f"    {k:<14}{v['count']:>6}  {v['percent']:5.1f}%" for k, v in m["coverage"].items()]
    lines.append("  joins: " + ", ".join(f"{k}={v}" for k, v in m["joins"].items()))
    absent = m["missing_optional_inputs"]
    lines.append("  missing optional inputs: " + (", ".join(absent) if absent else "none"))
    bad = m["malformed"]
    lines.append("  malformed rows: " + (", ".join(f"{k}={v}" for k, v in bad.items()) or "none"))
    people = m.get("people_checks")
    if people:
        rules = ", ".join(f"{k}={v}" for k, v in people["cast_removed_by_rule"].items() if v)
        lines.append(
            f"  people checks: {people['cast_removed']} cast entries were directors ({rules or 'none'}); "
            f"{people['directors_added']} added to directors; directors left in cast: {people['director_in_cast']}"
        )
    dropped = m["duplicates_dropped"]
    lines.append(
        "  duplicates dropped: "
        + (", ".join(f"{d['movie_id']}->{d['kept_movie_id']} ({d['canonical_key']})" for d in dropped) or "none")
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m movierec_catalog.build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="raw data directory (default: $MOVIEREC_DATA_DIR or <repo>/../shared/data)",
    )
    p.add_argument("--out-dir", type=Path, default=None, help="artifact directory (default: <repo>/artifacts/catalog)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="shared cache (default: $MOVIEREC_CACHE_DIR/catalog or ~/.cache/movierec/catalog)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the shared cache")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        result = build(args.data_dir, args.out_dir, args.cache_dir, use_cache=not args.no_cache)
    except MissingInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: catalog build failed: {exc}", file=sys.stderr)
        return 1
    try:
        print(format_report(result), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
