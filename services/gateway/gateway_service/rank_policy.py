"""What the gateway asks of the ranker per carousel (kept free of service imports: the offline eval reads it)."""

from __future__ import annotations


def candidates_only_for(carousel_kind: str, query: str) -> bool:
    """Collaborative additions only for plain top picks: a request's own words, or a carousel's seed or
    genre, give its candidates a meaning they must keep."""
    return carousel_kind != "top_picks" or bool(query.strip())
