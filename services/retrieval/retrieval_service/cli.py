"""Command line for the retrieval tier (for people; programs use :mod:`retrieval_service.client`).

    python -m retrieval_service.cli search --addr 127.0.0.1:50052 --text "feel-good heist movie" \\
        --embedding-addr 127.0.0.1:50051 --k 10 --genre Comedy --max-cert PG-13 --max-runtime 120
    python -m retrieval_service.cli search --movie-id 1 --k 5 --exclude-genre Animation
    python -m retrieval_service.cli search --vector-file query.npy --min-year 1990 --max-year 1999
    python -m retrieval_service.cli info
    RETRIEVAL_ADMIN_TOKEN=... python -m retrieval_service.cli --addr 127.0.0.1:50062 reload [--version VERSION]
        (ReloadIndex is served on the admin endpoint only: RETRIEVAL_ADMIN_PORT, admin.py)

Titles come from the catalog (``--catalog-dir``, default artifacts/catalog/current). Exit status:
0 success, 1 the call failed (the status code and message are printed), 2 bad command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np

from movierec_core.errors import describe_rpc_error
from retrieval_service.client import (
    CERTIFICATIONS,
    RetrievalClient,
    RetrievalError,
    SearchFilter,
    SearchResult,
)

DEFAULT_ADDR = os.environ.get("RETRIEVAL_ADDR", "127.0.0.1:50052")
DEFAULT_EMBEDDING_ADDR = os.environ.get("EMBEDDING_ADDR", "127.0.0.1:50051")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m retrieval_service.cli",
                                     description="Query the movierec retrieval tier.")
    parser.add_argument("--addr", default=DEFAULT_ADDR, help="retrieval tier address (env RETRIEVAL_ADDR)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-call deadline in seconds")
    commands = parser.add_subparsers(dest="command", required=True)

    search = commands.add_parser("search", help="nearest movies to a text, a movie or a vector")
    source = search.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="free text, embedded by the embedding tier as a query")
    source.add_argument("--movie-id", type=int, help="more like this catalog movie (itself excluded)")
    source.add_argument("--vector-file", type=Path, help="a .npy file holding one query vector")
    search.add_argument("--embedding-addr", default=DEFAULT_EMBEDDING_ADDR,
                        help="embedding tier address for --text (env EMBEDDING_ADDR)")
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--genre", action="append", default=[], help="at least one of these (repeatable)")
    search.add_argument("--exclude-genre", action="append", default=[], help="none of these (repeatable)")
    search.add_argument("--min-year", type=int)
    search.add_argument("--max-year", type=int)
    search.add_argument("--max-runtime", type=int, help="minutes; unknown runtimes fail unless --lenient-runtime")
    search.add_argument("--lenient-runtime", action="store_true", help="admit unknown runtimes")
    search.add_argument("--max-cert", choices=CERTIFICATIONS, help="unknown certifications never pass")
    search.add_argument("--language", help="original language, ISO 639-1 (e.g. fr)")
    search.add_argument("--exclude", type=int, action="append", default=[], help="a movie id to leave out")
    search.add_argument("--catalog-dir", type=Path, default=None, help="catalog for titles")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")

    commands.add_parser("info", help="the serving index version and limits")
    reload = commands.add_parser("reload", help="load a version (default: what `current` points at)")
    reload.add_argument("--version", default=None)
    return parser.parse_args(argv)


def build_filter(args: argparse.Namespace) -> SearchFilter:
    return SearchFilter(exclude_movie_ids=tuple(args.exclude), include_genres=tuple(args.genre),
                        exclude_genres=tuple(args.exclude_genre), min_year=args.min_year,
                        max_year=args.max_year, max_runtime_min=args.max_runtime,
                        max_certification=args.max_cert, lenient_runtime=args.lenient_runtime,
                        original_language=args.language)


async def embed_text(text: str, addr: str, timeout_s: float) -> np.ndarray:
    from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
    from movierec_core.client import open_channel

    async with open_channel(addr, default_timeout_s=timeout_s) as channel:
        stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        response = await stub.Embed(embedding_pb2.EmbedRequest(texts=[text],
                                                               kind=embedding_pb2.EMBED_KIND_QUERY))
    return np.asarray(response.vectors[0].values, dtype=np.float32)


def load_vector_file(path: Path) -> np.ndarray:
    vector = np.load(path, allow_pickle=False)
    if vector.ndim == 2 and vector.shape[0] == 1:
        vector = vector[0]
    if vector.ndim != 1:
        raise ValueError(f"{path} holds an array of shape {vector.shape}; expected one vector")
    return vector.astype(np.float32)


def movie_details(catalog_dir: Path | None, movie_ids: list[int]) -> dict[int, dict]:
    """Title, year, genres, runtime and certification of the hits, read from the catalog."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from movierec_catalog.catalog import resolve_catalog_dir

    columns = ["movie_id", "title", "year", "genres", "runtime_min", "certification"]
    table = pq.read_table(resolve_catalog_dir(catalog_dir) / "movies.parquet", columns=columns)
    table = table.filter(pc.is_in(table["movie_id"], value_set=pa.array(movie_ids, type=pa.int64())))
    return {row["movie_id"]: row for row in table.to_pylist()}


async def run_search(args: argparse.Namespace, client: RetrievalClient) -> SearchResult:
    search_filter = build_filter(args)
    if args.movie_id is not None:
        return await client.more_like_this(args.movie_id, args.k, filter=search_filter)
    if args.text is not None:
        vector = await embed_text(args.text, args.embedding_addr, args.timeout)
    else:
        vector = load_vector_file(args.vector_file)
    return await client.search(vector, args.k, filter=search_filter)


def print_result(result: SearchResult, details: dict[int, dict], as_json: bool) -> None:
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        movie = details.get(hit.movie_id, {})
        rows.append({"rank": rank, "movie_id": hit.movie_id, "score": round(hit.score, 4),
                     "title": movie.get("title"), "year": movie.get("year"),
                     "genres": movie.get("genres") or [], "runtime_min": movie.get("runtime_min"),
                     "certification": movie.get("certification"), "runtime_unknown": hit.runtime_unknown})
    if as_json:
        print(json.dumps({"index_version": result.index_version, "hits": rows}, indent=2))
        return
    print(f"index {result.index_version}: {len(rows)} hit(s)")
    for row in rows:
        year = f" ({row['year']})" if row["year"] else ""
        runtime = "runtime unknown" if row["runtime_unknown"] else (
            f"{row['runtime_min']} min" if row["runtime_min"] else "")
        extras = " · ".join(x for x in ("/".join(row["genres"]), row["certification"] or "", runtime) if x)
        print(f"{row['rank']:>3}  {row['score']:.4f}  {row['movie_id']:>7}  {row['title'] or '?'}{year}"
              f"{'  — ' + extras if extras else ''}")


async def main_async(args: argparse.Namespace) -> int:
    async with RetrievalClient(args.addr, timeout_s=args.timeout) as client:
        if args.command == "info":
            info = await client.index_info()
            print(json.dumps({**info.__dict__, "created_at": str(info.created_at)}, indent=2))
        elif args.command == "reload":
            reloaded = await client.reload_index(args.version, admin_token=os.environ.get("RETRIEVAL_ADMIN_TOKEN"))
            print(f"serving {reloaded.index_version} ({'swapped' if reloaded.swapped else 'already serving'})")
        else:
            result = await run_search(args, client)
            try:
                details = movie_details(args.catalog_dir, result.movie_ids)
            except (FileNotFoundError, OSError) as error:
                print(f"(no titles: {error})", file=sys.stderr)
                details = {}
            print_result(result, details, args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except RetrievalError as error:
        print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
        for field, description in error.field_violations:
            print(f"  {field}: {description}", file=sys.stderr)
        return 1
    except grpc.RpcError as error:  # the embedding tier, for --text
        description = describe_rpc_error(error)
        print(f"error: embedding tier at {args.embedding_addr}: {description.code.name}: "
              f"{description.message}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
