"""The plan of a recommending turn: the one Filter, the query vector, retrieval and ranking.

* **Filter** (``movierec_catalog.filter.Filter``, the same object retrieval, the ranker and the gateway's
  last-line check use): the active constraints, plus excluded movie ids = what the user has seen
  (rated, onboarding picks, watched) ∪ excluded titles ∪ every member of an excluded franchise ∪ the
  seeds (a seed is never recommended) ∪ the picks passed over in this session ∪ movies of an excluded
  person; required people become an allow-list (``only_movie_ids``). People are matched against the
  catalog's director and cast (folded: case and accents ignored).
* **Relative constraints** are resolved against the referenced movie's catalog facts: shorter than X →
  max runtime = X.runtime − 1, longer → min = X.runtime + 1, older → max year = X.year − 1, newer →
  min year = X.year + 1, less scary → no Horror and no Thriller, lighter → the words "light-hearted,
  upbeat" join the taste text (tone is not a hard constraint). The reference becomes a seed. When the
  fact is unknown the constraint is not invented: the reply says so.
* **Query** = the taste vector, blended 50/50 with the embedded taste words of the request (residual
  text + vibes) when there are any, then 25/75 with the mean vector of the seeds (the seeds dominate).
* **Retrieval** asks for GATEWAY_CANDIDATES (at least 4 × the picks) under the Filter; when the gateway's
  own check leaves fewer than a full set while retrieval filled its k, it asks once more with 5 × k, so a
  strict filter still yields a full set when the index has one; otherwise the reply says "only N match".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from gateway_service.deps import Services, call
from gateway_service.dialogue.sources import candidate_queries, merge_hits, well_known_ids
from gateway_service.dialogue.state import DialogueState
from gateway_service.dialogue.understanding import HardConstraints, Understanding
from gateway_service.recommend import Ranked, UserView, blend, embed_query, rank, search, search_batch
from gateway_service.timing import stage
from movierec.common.v1 import common_pb2
from movierec.profile.v1 import profile_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_catalog import Catalog
from movierec_catalog.filter import Filter
from movierec_catalog.text import fold

PICKS = 5
RANK_DEPTH = 10  # the ranker orders this many; PICKS of them are shown
MESSAGE_WEIGHT = 0.5
SEED_WEIGHT = 0.75
WIDEN_FACTOR = 5
MAX_CANDIDATES = 500
FEAR_GENRES = ("Horror", "Thriller")
LIGHTER_WORDS = "light-hearted, upbeat"


# ---- relative constraints --------------------------------------------------------------------------------

def resolve_relative(u: Understanding, catalog: Catalog) -> tuple[Understanding, list[str]]:
    """``u`` with its relative constraints turned into plain constraints and seeds, and notes for the reply
    about the ones whose reference fact the catalog does not know."""
    if not u.relative:
        return u, []
    out = u.model_copy(deep=True)
    c, notes = out.constraints, []
    for rel in u.relative:
        ref = catalog.get(rel.reference.movie_id)
        name = rel.reference.title
        if ref is None:
            notes.append(f"I couldn't look up {name} in the catalog, so I ignored “{rel.kind.replace('_', ' ')}”.")
            continue
        if rel.kind in ("shorter", "longer"):
            if ref.runtime_min is None:
                notes.append(f"I don't know how long {name} is, so I couldn't look for {rel.kind} movies.")
            elif rel.kind == "shorter":
                c.max_runtime_min = _tighter(c.max_runtime_min, ref.runtime_min - 1, min)
            else:
                c.min_runtime_min = _tighter(c.min_runtime_min, ref.runtime_min + 1, max)
        elif rel.kind in ("older", "newer"):
            if ref.year is None:
                notes.append(f"I don't know when {name} came out, so I couldn't look for {rel.kind} movies.")
            elif rel.kind == "older":
                c.max_year = _tighter(c.max_year, ref.year - 1, min)
            else:
                c.min_year = _tighter(c.min_year, ref.year + 1, max)
        elif rel.kind == "less_scary":
            c.exclude_genres = list(dict.fromkeys([*c.exclude_genres, *FEAR_GENRES]))
        elif rel.kind == "lighter":
            out.seeds.vibes = list(dict.fromkeys([*out.seeds.vibes, LIGHTER_WORDS]))
        if all(t.movie_id != ref.movie_id for t in out.seeds.titles):
            out.seeds.titles.append(rel.reference)
    out.relative = []
    return out, notes


def _tighter(current: int | None, value: int, pick) -> int:
    return value if current is None else pick(current, value)


# ---- the Filter ------------------------------------------------------------------------------------------

class PeopleIndex:
    """Catalog movies by person (director and cast), folded names; built once per catalog."""

    def __init__(self, catalog: Catalog):
        self._by_name: dict[str, set[int]] = {}
        movies = catalog.movies
        for movie_id, director, cast in zip(movies["movie_id"], movies["director"], movies["cast"], strict=True):
            for person in [director, *(list(cast) if cast is not None else [])]:
                if isinstance(person, str) and person:
                    self._by_name.setdefault(fold(person), set()).add(int(movie_id))

    def movies_of(self, name: str) -> set[int]:
        return self._by_name.get(fold(name), set())

    def knows(self, name: str) -> bool:
        return fold(name) in self._by_name


def excluded_ids(c: HardConstraints, people: PeopleIndex) -> set[int]:
    ids = {t.movie_id for t in c.exclude_titles}
    for franchise in c.exclude_franchises:
        ids.update(franchise.movie_ids)
    for person in c.exclude_people:
        ids.update(people.movies_of(person))
    return ids


def allowed_ids(c: HardConstraints, people: PeopleIndex) -> frozenset[int]:
    """The allow-list of required people (a movie with any of them); empty = every movie."""
    ids: set[int] = set()
    for person in c.require_people:
        ids.update(people.movies_of(person))
    return frozenset(ids)


def build_filter(state: DialogueState, seen: set[int], people: PeopleIndex) -> Filter:
    """The one Filter of this turn (see the module docstring)."""
    c = state.constraints
    exclude = set(seen) | excluded_ids(c, people) | {t.movie_id for t in state.seeds} | set(state.passed_movie_ids)
    only = allowed_ids(c, people)
    if c.require_people and not only:
        only = frozenset({-1})  # required people the catalog does not know: nothing can match
    return Filter(
        exclude_movie_ids=frozenset(exclude), only_movie_ids=only,
        include_genres=tuple(c.include_genres), exclude_genres=tuple(c.exclude_genres),
        min_year=c.min_year, max_year=c.max_year, min_runtime_min=c.min_runtime_min,
        max_runtime_min=c.max_runtime_min, lenient_runtime=c.lenient_runtime,
        min_certification=c.min_certification, max_certification=c.max_certification,
        use_certification_estimates=c.use_certification_estimates, original_language=c.language)


def constraint_filter(c: HardConstraints) -> Filter:
    """The constraints alone, without any movie ids: what the reply describes."""
    return Filter(include_genres=tuple(c.include_genres), exclude_genres=tuple(c.exclude_genres),
                  min_year=c.min_year, max_year=c.max_year, min_runtime_min=c.min_runtime_min,
                  max_runtime_min=c.max_runtime_min, lenient_runtime=c.lenient_runtime,
                  min_certification=c.min_certification, max_certification=c.max_certification,
                  use_certification_estimates=c.use_certification_estimates, original_language=c.language)


# ---- the query ---------------------------------------------------------------------------------------------

async def seed_vectors(services: Services, movie_ids: list[int]) -> list[np.ndarray]:
    if not movie_ids:
        return []
    response = await call("retrieval", services.retrieval.GetMovieVectors,
                          retrieval_pb2.GetMovieVectorsRequest(movie_ids=movie_ids))
    return [np.asarray(v.values, dtype=np.float32) for v in response.vectors]


async def text_vector(services: Services, text: str) -> np.ndarray | None:
    return await embed_query(services, text) if text else None


def query_vector(taste: np.ndarray, text: np.ndarray | None, seeds: list[np.ndarray]) -> np.ndarray:
    query = taste
    if text is not None:
        query = blend(query, text, MESSAGE_WEIGHT)
    if seeds:
        query = blend(query, np.mean(np.stack(seeds), axis=0), SEED_WEIGHT)
    return query


# ---- retrieval + rank -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Likes:
    """The session's likes as the plan uses them: liked movie ids (for the ranker's collaborative signal)
    and the movies of the liked people (a candidate source)."""

    movie_ids: tuple[int, ...] = ()
    people_movie_ids: frozenset[int] = frozenset()


def likes_of(state: DialogueState, people: PeopleIndex) -> Likes:
    movies: set[int] = set()
    for person in state.liked_people:
        movies.update(people.movies_of(person))
    return Likes(tuple(t.movie_id for t in state.liked_titles), frozenset(movies))


def with_likes(user: UserView, movie_ids: tuple[int, ...]) -> UserView:
    """``user`` whose liked movies include the session's liked titles, so the ranker's SeqEASE reads the
    conversation's titles as what the person likes (a chat-first user has no ratings to go on)."""
    extra = [m for m in dict.fromkeys(movie_ids) if m not in set(user.liked_ids)]
    if not extra:
        return user
    profile = profile_pb2.Profile()
    profile.CopyFrom(user.profile)
    profile.liked_movie_ids.extend(extra)
    return UserView(user.user_id, profile, user.watched)


@dataclass
class Outcome:
    """What retrieval and the ranker made of the plan."""

    ranked: Ranked
    retrieved_ids: list[int]
    hits: list = field(default_factory=list)
    filled: bool = True  # False: fewer movies than a full set match everything

    @property
    def ranked_ids(self) -> list[int]:
        """What the ranker returned (RANK_DEPTH deep), before the gateway's last-line check."""
        return list(getattr(self.ranked, "returned_movie_ids", None) or [p.movie_id for p in self.ranked.picks])


def well_known(services: Services) -> frozenset[int]:
    pool = services.extras.get("well_known_ids")
    if pool is None:
        pool = services.extras["well_known_ids"] = well_known_ids(services.catalog)
    return pool


async def retrieve_and_rank(services: Services, user: UserView, hard: Filter, query: np.ndarray, message: str,
                            turns: list[common_pb2.ConversationTurn], seed_id: int = 0,
                            likes: Likes = Likes()) -> Outcome:
    """``seed_id``: the title the person asked for more of; the ranker lets it widen the audience band
    (someone who loves crime films and asks for "more like Toy Story" wants family films now)."""
    k = max(services.settings.candidates, 4 * PICKS)
    with stage("retrieve"):
        found = await search_batch(services, candidate_queries(hard, query, k, well_known(services),
                                                               likes.people_movie_ids))
        nearest = found[0]
        admitted = [h for h in nearest.hits if _admits(services.catalog, hard, h.movie_id)]
        if len(admitted) < PICKS and len(nearest.hits) >= k and k < MAX_CANDIDATES:
            found[0] = await search(services, query, min(k * WIDEN_FACTOR, MAX_CANDIDATES), hard)
        hits = merge_hits([c.hits for c in found])
    with stage("rank"):
        # RANK_DEPTH deep, PICKS shown: the rest is the chat's ranked list beyond the cards (diagnostics).
        # candidates_only=False: the ranker may add SeqEASE's neighbours of the liked titles (each one
        # checked against the Filter by the ranker and again here).
        ranked = await rank(services, with_likes(user, likes.movie_ids), hits, top_n=RANK_DEPTH, hard=hard,
                            query=message, turns=turns, vector=query, because_movie_id=seed_id,
                            candidates_only=False)
    ranked.picks = ranked.picks[:PICKS]
    admitted_count = sum(_admits(services.catalog, hard, h.movie_id) for h in hits)
    return Outcome(ranked, [h.movie_id for h in hits], hits, filled=admitted_count >= PICKS)


def _admits(catalog: Catalog, hard: Filter, movie_id: int) -> bool:
    movie = catalog.get(movie_id)
    return movie is not None and hard.admits(movie)


async def gather_query_parts(services: Services, text: str, seeds: list[int]):
    """(text vector, seed vectors), concurrently."""
    return await asyncio.gather(text_vector(services, text), seed_vectors(services, seeds))
