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


def factor_phrase(f: PickFactor) -> str | None:
    """One verified reason in words ("directed by Michael Mann", "Crime, like The Godfather")."""
    source = f" — like {f.source_title}, which you liked" if f.source_title else ""
    phrases = {
        "genre": f"it is {f.value}{source}",
        "director": f"it is directed by {f.value}{source}",
        "cast": f"it stars {f.value}{source}",
        "keyword": f"it is about {f.value}{source}",
        "tag": f"viewers tag it “{f.value}”{source}",
        "decade": f"it is a {f.value} film{source}",
        "runtime": f"its runtime ({f.value}) fits",
        "certification": f"it is rated {f.value}",
        "query_term": f"it matches “{f.value}” from your message",
        "similar_to_liked": f"it is close to {f.source_title or f.value}, which you liked",
        "watched_next": f"people who watched {f.source_title or f.value} went on to watch it",
        "audience": f"it suits the audience you described ({f.value})",
    }
    return phrases.get(f.kind)


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
    reasons = [p for p in (factor_phrase(f) for f in pick.factors) if p]
    if reasons:
        lines.append("What that rests on: " + "; ".join(dict.fromkeys(reasons)) + ".")
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
