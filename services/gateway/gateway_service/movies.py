"""Catalog movies as API shapes, and the locally generated SVG poster placeholder."""

from __future__ import annotations

import hashlib
import textwrap
from xml.sax.saxutils import escape

from gateway_service.schemas import MovieDetail, MovieSummary
from movierec_catalog import Movie

POSTER_W, POSTER_H = 300, 450


def placeholder_url(movie_id: int) -> str:
    return f"/api/posters/{movie_id}.svg"


def poster_url(movie: Movie) -> str:
    """The catalog's poster when known (only http(s) URLs), else the local placeholder."""
    url = movie.poster_url or ""
    return url if url.startswith(("https://", "http://")) else placeholder_url(movie.movie_id)


def summary(movie: Movie) -> MovieSummary:
    return MovieSummary(movie_id=movie.movie_id, title=movie.title, year=movie.year, genres=list(movie.genres),
                        poster_url=poster_url(movie), placeholder_url=placeholder_url(movie.movie_id),
                        runtime_min=movie.runtime_min, certification=movie.certification,
                        **estimate_fields(movie))


def estimate_fields(movie: Movie) -> dict:
    """The estimate only where no official certification exists (the loader already guarantees it)."""
    if movie.certification or not movie.certification_estimate:
        return {}
    return {"certification_estimate": movie.certification_estimate,
            "certification_confidence": movie.certification_confidence}


def detail(movie: Movie) -> MovieDetail:
    return MovieDetail(**summary(movie).model_dump(), overview=movie.overview, director=movie.director,
                       cast=list(movie.cast), keywords=list(movie.keywords), tags=list(movie.tags),
                       original_language=movie.original_language, vote_average=movie.vote_average,
                       vote_count=movie.vote_count)


def _colour(movie_id: int) -> tuple[int, int]:
    """A stable hue per movie (two tones for a gradient), so a placeholder is recognisable across pages."""
    digest = hashlib.sha256(str(movie_id).encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    return hue, (hue + 40) % 360


def poster_svg(movie: Movie) -> str:
    """Title (wrapped, at most 5 lines) and year on a coloured gradient; plain SVG, no external fonts."""
    hue_a, hue_b = _colour(movie.movie_id)
    lines = textwrap.wrap(movie.title, width=16)[:5] or [movie.title[:16]]
    if len(textwrap.wrap(movie.title, width=16)) > 5:
        lines[-1] = lines[-1][:15] + "…"
    start_y = POSTER_H / 2 - (len(lines) - 1) * 17
    title = "".join(
        f'<text x="150" y="{start_y + i * 34:.0f}" font-size="26" font-weight="700" text-anchor="middle" '
        f'fill="#fff">{escape(line)}</text>' for i, line in enumerate(lines))
    year = str(movie.year) if movie.year else ""
    genres = escape(" · ".join(movie.genres[:3]))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{POSTER_W}" height="{POSTER_H}" '
        f'viewBox="0 0 {POSTER_W} {POSTER_H}" role="img" aria-label="{escape(movie.title, {chr(34): "&quot;"})}">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue_a},55%,32%)"/><stop offset="1" stop-color="hsl({hue_b},60%,18%)"/>'
        f'</linearGradient></defs>'
        f'<rect width="100%" height="100%" fill="url(#g)"/>'
        f'<g font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif">{title}'
        f'<text x="150" y="{start_y + len(lines) * 34 + 14:.0f}" font-size="22" text-anchor="middle" '
        f'fill="rgba(255,255,255,0.85)">{escape(year)}</text>'
        f'<text x="150" y="420" font-size="14" text-anchor="middle" fill="rgba(255,255,255,0.7)">{genres}</text>'
        f'</g></svg>')
