"""Answers to questions about a shown pick ("why the second one?", "why Heat?", "tell me about the third one").

An answer is built only from what is verified: the reasons (factors) the ranker returned for that pick,
stored with the session when the pick was shown, and the movie's catalog facts (genres, year, runtime,
certification, director, cast, overview). It recommends nothing new and does not touch the taste vector.
A question about a movie that was not a pick gets its catalog facts and says so.
"""

from __future__ import annotations

from gateway_service.dialogue.state import PickFactor, ShownPick
from gateway_service.dialogue.understanding import TitleRef
from movierec_catalog import Catalog, Movie

OVERVIEW_CHARS = 320
MAX_CAST = 3


_BARE = {
    "genre": "{v}", "director": "directed by {v}", "cast": "starring {v}", "keyword": "about {v}",
    "tag": "tagged “{v}”", "decade": "a {v} film", "runtime": "its runtime ({v}) fits", "certification": "rated {v}",
    "query_term": "matches “{v}” from your message", "similar_to_liked": "close to it overall",
    "watched_next": "people who watched it went on to watch this one",
    "audience": "suits the audience you described ({v})",
}


def bare_phrase(f: PickFactor) -> str | None:
    """A verified reason without its source movie ("directed by Michael Mann")."""
    template = _BARE.get(f.kind)
    return template.format(v=f.value) if template else None


def factor_phrase(f: PickFactor) -> str | None:
    """One verified reason in words, with the liked movie it comes from (the LLM reply's facts)."""
    bare = bare_phrase(f)
    if bare is None:
        return None
    return f"{bare} (like {f.source_title}, which you liked)" if f.source_title else bare


def reasons_line(factors: list[PickFactor]) -> str:
    """The verified reasons grouped by the liked movie they come from:
    "Like The Godfather, which you liked: Crime, directed by … Also: a 1990s film."."""
    by_source: dict[str | None, list[str]] = {}
    for f in factors:
        if (bare := bare_phrase(f)) is not None and bare not in by_source.setdefault(f.source_title, []):
            by_source[f.source_title].append(bare)
    parts = [f"like {source}, which you liked: {', '.join(items)}" for source, items in by_source.items()
             if source and items]
    if by_source.get(None):
        parts.append(("also " if parts else "") + ", ".join(by_source[None]))
    return ("What that rests on: " + "; ".join(parts) + ".") if parts else ""


def facts_line(movie: Movie) -> str:
    """The catalog facts of a movie in one sentence (only the known ones)."""
    parts = []
    if movie.genres:
        parts.append(" · ".join(movie.genres))
    if movie.year:
        parts.append(str(movie.year))
    if movie.runtime_min:
        parts.append(f"{movie.runtime_min} min")
    if movie.certification:
        parts.append(f"rated {movie.certification}")
    line = ", ".join(parts)
    people = []
    if movie.director:
        people.append(f"directed by {movie.director}")
    if movie.cast:
        people.append("starring " + ", ".join(movie.cast[:MAX_CAST]))
    if people:
        line = f"{line}; {'; '.join(people)}" if line else "; ".join(people)
    return f"{line}." if line else ""


def overview(movie: Movie) -> str:
    text = (movie.overview or "").strip()
    if len(text) <= OVERVIEW_CHARS:
        return text
    cut = text[:OVERVIEW_CHARS].rsplit(" ", 1)[0]
    return f"{cut}…"


def _heading(movie: Movie | None, title: str, year: int | None) -> str:
    year = movie.year if movie else year
    return f"{title} ({year})" if year else title


def answer_pick(pick: ShownPick, position: int | None, catalog: Catalog) -> str:
    movie = catalog.get(pick.movie_id)
    where = f" (pick {position})" if position else ""
    lines = [f"{_heading(movie, pick.title, pick.year)}{where}: {pick.explanation}".rstrip()]
    if reasons := reasons_line(pick.factors):
        lines.append(reasons)
    if movie is not None:
        if facts := facts_line(movie):
            lines.append(f"Facts: {facts}")
        if text := overview(movie):
            lines.append(text)
    return "\n".join(lines)


def answer_other(title: TitleRef, catalog: Catalog) -> str:
    movie = catalog.get(title.movie_id)
    head = f"{_heading(movie, title.title, title.year)} wasn't one of my picks"
    if movie is None:
        return f"{head}, and I don't know it."
    lines = [f"{head}, but here is what I know about it: {facts_line(movie)}".rstrip()]
    if text := overview(movie):
        lines.append(text)
    return "\n".join(lines)


def answer(referenced: list[ShownPick], last_picks: list[ShownPick], others: list[TitleRef], catalog: Catalog,
           notes: list[str]) -> str:
    """The reply to a follow-up question (no new picks)."""
    lines = list(notes)
    positions = {p.movie_id: i for i, p in enumerate(last_picks, start=1)}
    for pick in referenced:
        lines.append(answer_pick(pick, positions.get(pick.movie_id), catalog))
    for title in others:
        lines.append(answer_other(title, catalog))
    if not referenced and not others:
        if last_picks:
            names = ", ".join(f"{i}. {p.title}" for i, p in enumerate(last_picks, start=1))
            lines.append(f"Which one do you mean? My last picks were {names}.")
        elif not notes:
            lines.append("I haven't shown you any picks yet — tell me what you're in the mood for.")
    return "\n\n".join(lines)
