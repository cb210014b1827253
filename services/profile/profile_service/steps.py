"""The taste fold's steps: what an event does to the taste vector, and how a step is stored to be re-folded.

The taste vector is a function of the onboarding base and an ordered list of steps
(:func:`profile_service.taste.fold`): one per chat message and one per rated movie (its latest
rating). Each step is a list of operations (``pull``/``push``, a coefficient, a vector). A step is
kept in Redis (``P steps:<user>``, field ``r:<movie>`` or ``c:<seq>``) as ``<seq>|<record>`` where the
record is a JSON header line and the float32 vectors the step needs besides the movie's own (the
message or review-clause embeddings). The movie's vector is looked up in the index when re-folding,
so a rating costs ~100 bytes of Redis, a chat message or an embedded review ~1.5 KB per vector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from profile_service.interactions import Interaction
from profile_service.taste import PULL, PUSH, VECTOR_DTYPE, pack, unpack
from profile_service.vectors import MovieVectors

MOVIE = "movie"  # an op whose vector is the rated movie's own

Op = tuple[str, float, np.ndarray]


def parse_ops(spec: str) -> list[tuple[str, float, str]]:
    """``"pull 0.8 movie;push 0.1 0"`` → [(op, coefficient, source)]."""
    parsed = []
    for part in filter(None, spec.split(";")):
        op, coef, source = part.split(" ")
        if op not in (PULL, PUSH):
            raise ValueError(f"unknown fold operation {op!r} in {spec!r}")
        parsed.append((op, float(coef), source))
    return parsed


def format_ops(ops: list[tuple[str, float, str]]) -> str:
    return ";".join(f"{op} {coef!r} {source}" for op, coef, source in ops)


def event_spec(event: Interaction) -> tuple[list[tuple[str, float, str]], np.ndarray | None]:
    """The ops (with their sources) and extra vectors of an event's fold step; ([], None) for none."""
    if event.kind == "message":
        return [(PULL, float(event.alpha), "0")], np.asarray([event.embedding], dtype=VECTOR_DTYPE)
    if event.kind != "rate":
        return [], None
    if not event.ops and event.alpha is not None:  # a log entry from before ratings kept steps
        return [(PULL, float(event.alpha), MOVIE)], None
    return parse_ops(event.ops), event.op_vectors


def resolve(spec: list[tuple[str, float, str]], extra: np.ndarray | None, movie_vector: np.ndarray | None) -> list[Op]:
    """Sources → vectors: ``movie`` is the movie's vector, ``k`` is row k of the extra vectors."""
    ops = []
    for op, coef, source in spec:
        if source == MOVIE:
            if movie_vector is None:
                continue  # the index no longer holds the movie: its own pull/push is gone with it
            ops.append((op, coef, movie_vector))
        else:
            ops.append((op, coef, extra[int(source)]))
    return ops


def step_record(event: Interaction) -> bytes:
    """How the event's step is stored: b'' when it does not move the taste vector."""
    spec, extra = event_spec(event)
    if not spec:
        return b""
    header = {"ops": format_ops(spec)}
    if event.kind == "rate":
        header |= {"movie": int(event.movie_ids[0]), "rating": event.rating, "text": event.text}
    body = pack(extra) if extra is not None and len(extra) else b""
    return json.dumps(header).encode() + b"\n" + body


@dataclass(frozen=True)
class StoredStep:
    seq: int
    header: dict
    extra: np.ndarray | None

    def ops(self, movies: MovieVectors) -> list[Op]:
        movie = self.header.get("movie")
        movie_vector = movies.vector(movie) if movie is not None and movie in movies else None
        return resolve(parse_ops(self.header["ops"]), self.extra, movie_vector)

    def same_review(self, event: Interaction) -> bool:
        """True when ``event`` rates the movie as this step did (same stars, same words)."""
        return self.header.get("rating") == event.rating and self.header.get("text", "") == event.text


def parse_step(value: bytes) -> StoredStep:
    seq, _, record = value.partition(b"|")
    header_line, _, body = record.partition(b"\n")
    header = json.loads(header_line)
    rows = sum(1 for _, _, source in parse_ops(header["ops"]) if source != MOVIE)
    extra = unpack(body).reshape(rows, -1) if rows and body else None
    return StoredStep(int(seq), header, extra)


def ordered_steps(raw: dict[bytes, bytes], *, without: str = "") -> list[StoredStep]:
    """The stored steps in fold order (by sequence number), leaving out the field ``without``."""
    steps = [parse_step(value) for field, value in raw.items() if field.decode() != without]
    return sorted(steps, key=lambda step: step.seq)
