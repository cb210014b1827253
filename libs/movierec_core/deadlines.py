"""Deadline propagation: a downstream call gets min(its default, the caller's remaining time − margin)."""

from __future__ import annotations

import contextvars
import time

from movierec_core.errors import deadline_exceeded

# time.monotonic() at which the RPC (or HTTP request) being handled must be answered, if any.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)

MARGIN_S = 0.005


def downstream_timeout(default_s: float) -> float:
    """Timeout for a downstream call made while handling a request with a deadline."""
    deadline = deadline_var.get()
    if deadline is None:
        return default_s
    remaining = deadline - time.monotonic() - MARGIN_S
    if remaining <= 0:
        raise deadline_exceeded("the caller's deadline expired before a downstream call")
    return min(default_s, remaining)


def set_deadline(timeout_s: float) -> None:
    deadline_var.set(time.monotonic() + timeout_s)
