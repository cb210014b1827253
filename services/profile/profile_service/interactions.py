"""One applied event as it is written to, and read back from, the interaction log.

An :class:`Interaction` carries everything needed to re-apply the event without any other tier:
the movie ids, the rating, the text *and its embedding*, and the constants (α, weights, decay)
that were in force. The live path and replay both turn an Interaction into the same Lua script
call (:mod:`profile_service.store`), so replaying the log in order reproduces the vectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from profile_service.taste import pack, unpack

KINDS = ("onboard", "rate", "message", "watch", "click")

# Column order of the log (and of its Parquet export).
LOG_FIELDS = ("event_id", "user_id", "kind", "created_at", "applied_at", "version", "movie_ids", "rating",
              "text", "vibes", "embedding", "alpha", "weight", "decay", "index_version", "ops", "op_vectors")


@dataclass(frozen=True)
class Interaction:
    kind: str
    event_id: str
    user_id: str
    created_at_ms: int
    applied_at_ms: int
    movie_ids: tuple[int, ...] = ()
    rating: float | None = None
    text: str = ""
    vibes: tuple[str, ...] = ()
    embedding: np.ndarray | None = field(default=None, compare=False)
    alpha: float | None = None          # EMA step toward the target (liked rating, message)
    weight: float | None = None         # onboard: weight of the movie mean; rate/watch/click: recent weight
    decay_per_day: float | None = None  # recent-interest decay (rate/watch/click)
    index_version: str = ""
    version: int | None = None          # profile version after applying (set by the log)
    # rate: the fold step, "pull 0.8 movie;pull 0.9 0;push 0.1 1" (operation, coefficient, source: the
    # movie's vector or row k of op_vectors, the embedded review clauses); see taste.apply_ops
    ops: str = ""
    op_vectors: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown interaction kind {self.kind!r}")

    def to_fields(self) -> list[str | bytes]:
        """Flat field/value list for XADD (``version`` is appended by the script that applies it)."""
        fields: dict[str, str | bytes] = {
            "event_id": self.event_id, "user_id": self.user_id, "kind": self.kind,
            "created_at": str(self.created_at_ms), "applied_at": str(self.applied_at_ms),
        }
        if self.movie_ids:
            fields["movie_ids"] = ",".join(str(m) for m in self.movie_ids)
        if self.rating is not None:
            fields["rating"] = repr(float(self.rating))
        if self.text:
            fields["text"] = self.text
        if self.vibes:
            fields["vibes"] = json.dumps(list(self.vibes), ensure_ascii=False)
        if self.embedding is not None:
            fields["embedding"] = pack(self.embedding)
        for name, value in (("alpha", self.alpha), ("weight", self.weight), ("decay", self.decay_per_day)):
            if value is not None:
                fields[name] = repr(float(value))
        if self.index_version:
            fields["index_version"] = self.index_version
        if self.ops:
            fields["ops"] = self.ops
        if self.op_vectors is not None and len(self.op_vectors):
            fields["op_vectors"] = pack(self.op_vectors)
        return [item for pair in fields.items() for item in pair]

    @classmethod
    def from_fields(cls, raw: dict[bytes, bytes]) -> Interaction:
        fields = {key.decode(): value for key, value in raw.items()}

        def text(name: str) -> str:
            return fields[name].decode() if name in fields else ""

        def number(name: str) -> float | None:
            return float(fields[name]) if name in fields else None

        return cls(
            kind=text("kind"), event_id=text("event_id"), user_id=text("user_id"),
            created_at_ms=int(fields["created_at"]), applied_at_ms=int(fields["applied_at"]),
            movie_ids=tuple(int(m) for m in text("movie_ids").split(",") if m),
            rating=number("rating"), text=text("text"),
            vibes=tuple(json.loads(fields["vibes"])) if "vibes" in fields else (),
            embedding=unpack(fields["embedding"]) if "embedding" in fields else None,
            alpha=number("alpha"), weight=number("weight"), decay_per_day=number("decay"),
            index_version=text("index_version"),
            version=int(fields["version"]) if "version" in fields else None,
            ops=text("ops"), op_vectors=_op_vectors(fields, text("ops")),
        )


def _op_vectors(fields: dict[str, bytes], ops: str) -> np.ndarray | None:
    if "op_vectors" not in fields:
        return None
    flat = unpack(fields["op_vectors"])
    rows = sum(1 for op in ops.split(";") if op and not op.endswith(" movie"))
    return flat.reshape(rows, -1) if rows else None
