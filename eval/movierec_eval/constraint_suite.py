"""Section 6: natural-language requests with checkable constraints, through the chat path's own code.

Path (in-process composition of the real modules, the same calls the gateway's chat turn makes for a
first message): ``gateway_service.dialogue`` understanding → ``resolve_relative`` → ``fold`` into a new
session → ``build_filter`` (the person's rated movies excluded) → ``query_vector`` (the profile vector
blended with the embedded taste words and the seeds) → retrieval's own filter and search
(``retrieval_service.filters.parse_filter`` + ``LoadedIndex``) → the Filter's ``admits`` re-check →
``ranker_service`` ``Ranker.rank`` with the same Filter and the message as query → ``admits`` again.

Each request carries its **expected** constraints, written by hand from what the words mean (and the
parser's documented decisions: "short" < 100 min, "nothing too scary" = no Horror/Thriller, "family
friendly" = PG or milder and no Horror). Every pick is checked against them on the catalog's facts
by code written here, so a request the parser misreads counts as violated. Unknown certification
fails a maturity limit, unknown runtime fails a runtime limit unless the request allows it, unknown
year fails a year bound (docs/architecture.md §3).

Violations are counted at three points: retrieval's top results (what would be shown with no ranker
and no re-check), the ranker's picks (before the gateway's final ``admits``) and the final picks, so
an upstream miss that the last filter hides is still visible. ``make eval`` runs it with the trained
artifacts the product serves (the ranker as ``ranker_service.app.build_ranker`` builds it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

CERTS = ("G", "PG", "PG-13", "R", "NC-17")
PICKS = 5


@dataclass(frozen=True)
class Expect:
    max_runtime: int | None = None
    lenient_runtime: bool = False
    max_cert: str | None = None
    exclude_genres: tuple[str, ...] = ()
    include_genres: tuple[str, ...] = ()
    min_year: int | None = None
    max_year: int | None = None
    exclude_titles: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Request:
    user: int
    message: str
    expect: Expect = field(default_factory=Expect)


E = Expect
SCARY = ("Horror", "Thriller")
REQUESTS: tuple[Request, ...] = (
    Request(1, "something under 90 minutes", E(max_runtime=89)),
    Request(1, "a movie no longer than 100 minutes", E(max_runtime=100)),
    Request(1, "something short", E(max_runtime=99)),
    Request(1, "a comedy under 2 hours", E(max_runtime=119, include_genres=("Comedy",))),
    Request(1, "not too long please, and nothing too scary", E(max_runtime=120, exclude_genres=SCARY)),
    Request(1, "family friendly movie for tonight", E(max_cert="PG", exclude_genres=("Horror",))),
    Request(1, "something for the kids", E(max_cert="PG", exclude_genres=("Horror",))),
    Request(1, "no R-rated movies", E(max_cert="PG-13")),
    Request(1, "PG-13 or below, a thriller", E(max_cert="PG-13", include_genres=("Thriller",))),
    Request(1, "a G-rated animated film", E(max_cert="G", include_genres=("Animation",))),
    Request(1, "nothing too scary", E(exclude_genres=SCARY)),
    Request(1, "I scare easily, something fun", E(exclude_genres=SCARY)),
    Request(1, "no horror", E(exclude_genres=("Horror",))),
    Request(1, "no romance and no musicals", E(exclude_genres=("Romance", "Musical"))),
    Request(1, "something from the 90s", E(min_year=1990, max_year=1999)),
    Request(1, "a crime movie from the 1970s", E(min_year=1970, max_year=1979, include_genres=("Crime",))),
    Request(1, "movies from the eighties, no horror", E(min_year=1980, max_year=1989, exclude_genres=("Horror",))),
    Request(1, "something released after 2010", E(min_year=2011)),
    Request(1, "an old movie from before 1960", E(max_year=1959)),
    Request(1, "a film between 1995 and 2005", E(min_year=1995, max_year=2005)),
    Request(1, "a sci-fi movie but not The Matrix", E(include_genres=("Sci-Fi",), exclude_titles=("The Matrix",))),
    Request(1, "something like Toy Story but not Toy Story 2", E(exclude_titles=("Toy Story", "Toy Story 2"))),
    Request(1, "I've already seen Inception, give me a mind-bending thriller",
            E(include_genres=("Thriller",), exclude_titles=("Inception",))),
    Request(1, "more like Alien, no horror", E(exclude_genres=("Horror",), exclude_titles=("Alien",))),
    Request(414, "a drama under 100 minutes from the 2000s",
            E(max_runtime=99, include_genres=("Drama",), min_year=2000, max_year=2009)),
    Request(414, "family friendly and under 90 minutes",
            E(max_runtime=89, max_cert="PG", exclude_genres=("Horror",))),
    Request(414, "no R-rated, nothing too scary, from the 90s",
            E(max_cert="PG-13", exclude_genres=SCARY, min_year=1990, max_year=1999)),
    Request(414, "a western", E(include_genres=("Western",))),
    Request(414, "a documentary", E(include_genres=("Documentary",))),
    Request(414, "a war movie from before 1980", E(include_genres=("War",), max_year=1979)),
    Request(414, "something in French", E(language="fr")),
    Request(414, "an animated Japanese film", E(language="ja", include_genres=("Animation",))),
    Request(414, "something like The Godfather but shorter than 2 hours",
            E(max_runtime=119, exclude_titles=("The Godfather",))),
    Request(414, "under 90 minutes, unknown runtime is ok", E(max_runtime=89, lenient_runtime=True)),
    Request(414, "a romantic comedy, nothing rated R", E(include_genres=("Comedy", "Romance"), max_cert="PG-13")),
    Request(414, "not Titanic, not Avatar, something epic", E(exclude_titles=("Titanic", "Avatar"))),
    Request(610, "a horror movie from the 80s", E(include_genres=("Horror",), min_year=1980, max_year=1989)),
    Request(610, "an action movie under 100 minutes", E(include_genres=("Action",), max_runtime=99)),
    Request(610, "something from the late 90s, no comedy",
            E(min_year=1996, max_year=1999, exclude_genres=("Comedy",))),
    Request(610, "a mystery, PG-13 at most", E(include_genres=("Mystery",), max_cert="PG-13")),
    Request(610, "anything but Pulp Fiction, nothing too scary",
            E(exclude_titles=("Pulp Fiction",), exclude_genres=SCARY)),
    Request(610, "a fantasy film for the whole family", E(include_genres=("Fantasy",), max_cert="PG",
                                                          exclude_genres=("Horror",))),
    Request(610, "sci-fi from the 2000s, not too long", E(include_genres=("Sci-Fi",), min_year=2000, max_year=2009,
                                                          max_runtime=120)),
    Request(610, "a film noir", E(include_genres=("Film-Noir",))),
    Request(610, "no thrillers, no horror, and no action", E(exclude_genres=("Thriller", "Horror", "Action"))),
    Request(610, "a quick comedy from the 2010s", E(max_runtime=99, include_genres=("Comedy",), min_year=2010,
                                                    max_year=2019)),
)


def violations(movie, expect: Expect, seen: set[int], excluded_ids: set[int]) -> list[str]:
    """Which expected constraints ``movie`` (a catalog Movie) breaks, by the catalog's facts."""
    out = []
    if movie.movie_id in seen:
        out.append("already rated by the person")
    if movie.movie_id in excluded_ids:
        out.append("a movie the request excluded")
    genres = set(movie.genres)
    if expect.include_genres and not genres & set(expect.include_genres):
        out.append(f"none of the asked genres {list(expect.include_genres)}")
    if genres & set(expect.exclude_genres):
        out.append(f"has excluded genre(s) {sorted(genres & set(expect.exclude_genres))}")
    if expect.min_year is not None and (movie.year is None or movie.year < expect.min_year):
        out.append(f"year {movie.year} before {expect.min_year}")
    if expect.max_year is not None and (movie.year is None or movie.year > expect.max_year):
        out.append(f"year {movie.year} after {expect.max_year}")
    if expect.max_runtime is not None:
        if movie.runtime_min is None and not expect.lenient_runtime:
            out.append("runtime unknown")
        elif movie.runtime_min is not None and movie.runtime_min > expect.max_runtime:
            out.append(f"runtime {movie.runtime_min} > {expect.max_runtime}")
    if expect.max_cert is not None:
        if movie.certification not in CERTS:
            out.append("certification unknown")
        elif CERTS.index(movie.certification) > CERTS.index(expect.max_cert):
            out.append(f"certification {movie.certification} above {expect.max_cert}")
    if expect.language is not None and movie.original_language != expect.language:
        out.append(f"language {movie.original_language} is not {expect.language}")
    return out


class ChatPath:
    """The chat turn's composition, in process, with the real understanding, Filter, index and ranker."""

    def __init__(self, catalog, retrieval_index, ranker, encoder, candidates: int):
        from gateway_service.dialogue.plan import PeopleIndex
        from gateway_service.dialogue.understand import UnderstandingResources
        from gateway_service.titles import catalog_resolver

        self.catalog = catalog
        self.index = retrieval_index
        self.ranker = ranker
        self.encoder = encoder
        self.candidates = candidates
        self.resolve = catalog_resolver(catalog)
        self.resources = UnderstandingResources.from_catalog(catalog)
        self.people = PeopleIndex(catalog)

    def turn(self, message: str, ratings: dict[int, float], taste: np.ndarray):
        """One first chat turn as ``gateway_service.dialogue.turn`` runs it (understand → relative
        constraints → fold into a new session → the one Filter → query vector → retrieval → rank with
        ``candidates_only`` (the gateway's ``rank`` default for the chat) → the Filter's last check)."""
        from gateway_service.dialogue.plan import PICKS as CHAT_PICKS
        from gateway_service.dialogue.plan import build_filter, query_vector, resolve_relative
        from gateway_service.dialogue.state import DialogueState, fold
        from gateway_service.dialogue.turn import taste_words
        from gateway_service.dialogue.understand import DialogueContext, understand
        from ranker_service.history import UserHistory
        from ranker_service.pipeline import RankInput
        from retrieval_service.filters import parse_filter

        understanding, notes = resolve_relative(understand(message, DialogueContext(self.resources)), self.catalog)
        state = DialogueState.new("eval")
        fold(state, understanding)
        hard = build_filter(state, set(ratings), self.people)
        words = taste_words(understanding)
        seeds = [self.index.vectors[self.index.row_of(t.movie_id)] for t in state.seeds
                 if self.index.row_of(t.movie_id) is not None]
        query = query_vector(np.asarray(taste, dtype=np.float64),
                             self.encoder.encode([words])[0] if words else None, seeds)
        proto = hard.to_proto()
        k = max(self.candidates, 4 * CHAT_PICKS)
        allowed = self.index.allowed(parse_filter(proto, self.index.attributes))
        hits = self.index.search(query.astype(np.float32), k, allowed)
        found = [(int(self.index.movie_ids[r]), float(s)) for r, s in zip(hits.rows, hits.scores, strict=True)]
        admitted = [(m, s) for m, s in found if hard.admits(self.catalog.get(m))]
        history = UserHistory(ratings=ratings, query=message)
        picks, output = [], None
        if admitted:
            request = RankInput(history, query.astype(np.float32), admitted, min(CHAT_PICKS, len(admitted)),
                                hard, candidates_only=True)
            output = asyncio.run(self.ranker.rank(request))
            picks = [p.movie_id for p in output.picks if hard.admits(self.catalog.get(p.movie_id))]
        parsed = {"constraints": hard.describe({t.movie_id: t.title for t in state.seeds}),
                  "unresolved": list(understanding.unresolved_titles), "notes": notes}
        return parsed, state, hard, found, picks, output


def expected_exclusions(expect: Expect, resolve) -> set[int]:
    """Movie ids of the titles the request excludes (the same exact-title resolution as the chat)."""
    ids = set()
    for title in expect.exclude_titles:
        match = resolve(title)
        if match is None:
            raise ValueError(f"constraint suite: {title!r} is not a catalog title")
        ids.add(match.movie_id)
    return ids


def run(path: ChatPath, profiles: dict[int, tuple[dict[int, float], np.ndarray]]) -> tuple[dict, list]:
    """Every request through the chat path; returns (report, ranker outputs for the faithfulness check)."""
    rows, outputs = [], []
    total_violations = empty = 0
    upstream = {"retrieval": {"items": 0, "violating_items": 0}, "ranker": {"items": 0, "violating_items": 0}}
    for number, request in enumerate(REQUESTS, start=1):
        ratings, taste = profiles[request.user]
        parsed, _active, _hard, found, picks, output = path.turn(request.message, ratings, taste)
        excluded = expected_exclusions(request.expect, path.resolve)
        # Before the gateway's final re-check: what retrieval returned (top PICKS by score, what would
        # be shown without ranker and filter) and what the ranker returned.
        stages = {"retrieval": [m for m, _ in found[:PICKS]],
                  "ranker": [p.movie_id for p in output.picks] if output is not None else []}
        stage_counts = {}
        for stage, ids in stages.items():
            bad = sum(bool(violations(path.catalog.get(m), request.expect, set(ratings), excluded)) for m in ids)
            upstream[stage]["items"] += len(ids)
            upstream[stage]["violating_items"] += bad
            stage_counts[stage] = bad
        picked = []
        for movie_id in picks:
            movie = path.catalog.get(movie_id)
            problems = violations(movie, request.expect, set(ratings), excluded)
            total_violations += len(problems)
            picked.append({"movie_id": movie_id, "title": movie.title, "year": movie.year,
                           "runtime_min": movie.runtime_min, "certification": movie.certification,
                           "genres": list(movie.genres), "language": movie.original_language,
                           "violations": problems})
        empty += not picks
        if output is not None:
            outputs.append((f"suite#{number}/user{request.user}", output, ratings, request.message))
        rows.append({"n": number, "user": request.user, "message": request.message,
                     "expected": {k: v for k, v in request.expect.__dict__.items() if v not in (None, (), False)},
                     "parsed": parsed["constraints"], "unresolved": parsed["unresolved"],
                     "retrieved": len(found), "picks": picked, "violating_items_before_final_filter": stage_counts,
                     "violations": sum(len(p["violations"]) for p in picked)})
    report = {"requests": len(rows), "picks": sum(len(r["picks"]) for r in rows), "violations": total_violations,
              "before_final_filter": upstream,
              "requests_with_violations": sum(1 for r in rows if r["violations"]),
              "requests_without_picks": empty, "detail": rows}
    return report, outputs
