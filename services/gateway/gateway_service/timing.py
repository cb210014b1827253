"""Where a request's time goes: wall time per stage (profile read, retrieval, rank, …).

The middleware gives each request an empty record; ``with stage("retrieve"):`` adds the block's
wall time to it. Stages that run concurrently (the carousels' searches) are timed once around the
``gather``, so the figures are wall times, not CPU sums. The record is logged with the request
and, with GATEWAY_SERVER_TIMING=true, sent as a ``Server-Timing`` header (browser dev tools and
``bench/bench_gateway.py`` read it).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_stages: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("stage_timings", default=None)


def begin_request() -> contextvars.Token:
    """A fresh record for the current request (reset with :func:`end_request`)."""
    return _stages.set({})


def end_request(token: contextvars.Token) -> None:
    _stages.reset(token)


def current() -> dict[str, float]:
    """Milliseconds per stage of the current request (empty outside a request)."""
    return dict(_stages.get() or {})


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the block's wall time to ``name`` (a repeated stage accumulates)."""
    record = _stages.get()
    started = time.perf_counter()
    try:
        yield
    finally:
        if record is not None:
            record[name] = record.get(name, 0.0) + (time.perf_counter() - started) * 1e3


def server_timing(stages: dict[str, float], total_ms: float) -> str:
    """The Server-Timing header value: ``profile;dur=1.20, retrieve;dur=0.80, app;dur=4.10``."""
    parts = [f"{name};dur={ms:.2f}" for name, ms in stages.items()]
    parts.append(f"app;dur={total_ms:.2f}")
    return ", ".join(parts)
