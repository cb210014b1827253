"""Export the interaction log (or the turn log) from its Redis Stream to Parquet.

    python -m movierec_jobs.export_log --out interactions.parquet
    python -m movierec_jobs.export_log --stream turns --out turns.parquet

Rows keep the stream order (= the order events were applied); ``embedding`` is the float32 text
embedding that onboarding/message events were applied with, so the file can be replayed
(``python -m movierec_jobs.replay --from-parquet interactions.parquet``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from movierec.events.v1 import events_pb2
from movierec_core.config import ConfigError
from profile_service.interactions import Interaction
from profile_service.settings import StoreSettings
from profile_service.store import ProfileStore

INTERACTIONS_SCHEMA = pa.schema([
    ("stream_id", pa.string()), ("event_id", pa.string()), ("user_id", pa.string()), ("kind", pa.string()),
    ("created_at_ms", pa.int64()), ("applied_at_ms", pa.int64()), ("version", pa.int64()),
    ("movie_ids", pa.list_(pa.int64())), ("rating", pa.float64()), ("text", pa.string()),
    ("vibes", pa.list_(pa.string())), ("embedding", pa.list_(pa.float32())), ("alpha", pa.float64()),
    ("weight", pa.float64()), ("decay", pa.float64()), ("index_version", pa.string()),
    ("ops", pa.string()), ("op_vectors", pa.list_(pa.list_(pa.float32()))),
])

TURNS_SCHEMA = pa.schema([
    ("stream_id", pa.string()), ("user_id", pa.string()), ("session_id", pa.string()),
    ("message_index", pa.int32()), ("input_text", pa.string()), ("retrieved_movie_ids", pa.list_(pa.int64())),
    ("retrieved_scores", pa.list_(pa.float32())), ("picked_movie_ids", pa.list_(pa.int64())),
    ("created_at_ms", pa.int64()),
])

BATCH_ROWS = 5000


def interaction_row(stream_id: str, event: Interaction) -> dict:
    return {
        "stream_id": stream_id, "event_id": event.event_id, "user_id": event.user_id, "kind": event.kind,
        "created_at_ms": event.created_at_ms, "applied_at_ms": event.applied_at_ms, "version": event.version,
        "movie_ids": list(event.movie_ids), "rating": event.rating, "text": event.text or None,
        "vibes": list(event.vibes), "embedding": None if event.embedding is None else event.embedding.tolist(),
        "alpha": event.alpha, "weight": event.weight, "decay": event.decay_per_day,
        "index_version": event.index_version or None, "ops": event.ops or None,
        "op_vectors": None if event.op_vectors is None else event.op_vectors.tolist(),
    }


def interaction_from_row(row: dict) -> Interaction:
    embedding = row.get("embedding")
    op_vectors = row.get("op_vectors")
    return Interaction(
        kind=row["kind"], event_id=row["event_id"], user_id=row["user_id"],
        created_at_ms=int(row["created_at_ms"]), applied_at_ms=int(row["applied_at_ms"]),
        movie_ids=tuple(int(m) for m in row.get("movie_ids") or ()), rating=row.get("rating"),
        text=row.get("text") or "", vibes=tuple(row.get("vibes") or ()),
        embedding=None if embedding is None else np.asarray(embedding, dtype="<f4"),
        alpha=row.get("alpha"), weight=row.get("weight"), decay_per_day=row.get("decay"),
        index_version=row.get("index_version") or "", version=row.get("version"), ops=row.get("ops") or "",
        op_vectors=None if op_vectors is None else np.asarray(op_vectors, dtype="<f4"),
    )


def turn_row(stream_id: str, fields: dict[bytes, bytes]) -> dict:
    if b"turn" in fields:  # appended by the gateway itself (serialized proto) when LogTurn failed
        return turn_row_from_proto(stream_id, fields[b"turn"])
    raw = {key.decode(): value.decode() for key, value in fields.items()}
    return {
        "stream_id": stream_id, "user_id": raw.get("user_id"), "session_id": raw.get("session_id") or None,
        "message_index": int(raw.get("message_index", 0)), "input_text": raw.get("input_text"),
        "retrieved_movie_ids": json.loads(raw.get("retrieved_movie_ids", "[]")),
        "retrieved_scores": json.loads(raw.get("retrieved_scores", "[]")),
        "picked_movie_ids": json.loads(raw.get("picked_movie_ids", "[]")),
        "created_at_ms": int(raw["created_at"]) if "created_at" in raw else None,
    }


def turn_row_from_proto(stream_id: str, data: bytes) -> dict:
    turn = events_pb2.RecommendationTurn.FromString(data)
    return {
        "stream_id": stream_id, "user_id": turn.user_id, "session_id": turn.session_id or None,
        "message_index": turn.message_index, "input_text": turn.input_text,
        "retrieved_movie_ids": list(turn.retrieved_movie_ids), "retrieved_scores": list(turn.retrieved_scores),
        "picked_movie_ids": list(turn.picked_movie_ids),
        "created_at_ms": turn.created_at.ToMilliseconds() if turn.HasField("created_at") else None,
    }


def rows_of(store: ProfileStore, stream: str) -> Iterator[dict]:
    if stream == "interactions":
        for stream_id, fields in store.read_stream(store.interactions_key):
            yield interaction_row(stream_id.decode(), Interaction.from_fields(fields))
    else:
        for stream_id, fields in store.read_stream(store.turns_key):
            yield turn_row(stream_id.decode(), fields)


def write_parquet(rows: Iterable[dict], schema: pa.Schema, out: Path) -> int:
    """Write rows in batches (bounded memory); returns the row count. Written atomically via a temp file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    count = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch.clear()
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    tmp.replace(out)
    return count


def read_interactions(path: Path) -> Iterator[Interaction]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            yield interaction_from_row(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.export_log", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    parser.add_argument("--stream", choices=("interactions", "turns"), default="interactions")
    args = parser.parse_args(argv)
    try:
        store = ProfileStore(StoreSettings.from_env())
    except ConfigError as error:
        print(f"export_log: configuration error: {error}", file=sys.stderr)
        return 2
    schema = INTERACTIONS_SCHEMA if args.stream == "interactions" else TURNS_SCHEMA
    count = write_parquet(rows_of(store, args.stream), schema, args.out)
    print(json.dumps({"stream": args.stream, "rows": count, "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
