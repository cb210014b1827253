"""Grounded explanations: factors that are true in the catalog, and sentences built only from them.

:func:`propose_claims` proposes factors for one pick: the signal that chose it (its
:class:`Attribution`: the caller's seed movie, "people who watched X went on to watch this" for the
sequential model, else the liked movie closest by vector), what the pick shares with that movie and
with other liked movies, the request words it matches, runtime, certification and the audience band
when the audience prior changed the picks. The verifier (:mod:`ranker_service.verify`) re-checks them; :func:`render`
turns the verified factors — and nothing else — into two or three sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movierec_catalog.filter import Filter
from ranker_service.audience import NOTES as AUDIENCE_NOTES
from ranker_service.history import UserHistory
from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.verify import Claim, K, query_term_evidence

MAX_SHARED_GENRES = 3
MAX_SHARED_CAST = 2
MAX_SHARED_TAGS = 3
MAX_QUERY_TERMS = 3
# MovieLens user tags that describe the tagger, not the movie.
_BOOKKEEPING_TAGS = frozenset({"in netflix queue", "bd-r", "bd-video", "dvd-video", "dvd", "seen", "own",
                               "owned", "netflix", "tivo", "seen more than once", "watched", "to see",
                               "clv", "r", "pg-13"})

_HEAD_ORDER = ("Thriller", "Comedy", "Drama", "Western", "Musical", "Documentary", "Romance", "Mystery",
               "Adventure", "Horror", "Fantasy", "War", "Crime", "Sci-Fi", "Action", "Animation",
               "Children", "Film-Noir")
_NOUN = {"Thriller": "thriller", "Comedy": "comedy", "Drama": "drama", "Western": "western",
         "Musical": "musical", "Documentary": "documentary", "Romance": "romance", "Mystery": "mystery",
         "Adventure": "adventure", "Horror": "horror film", "Fantasy": "fantasy film", "War": "war film",
         "Crime": "crime film", "Sci-Fi": "sci-fi film", "Action": "action film", "Animation": "animated film",
         "Children": "children's film", "Film-Noir": "film noir"}
_MODIFIER_ORDER = ("Animation", "Romance", "Crime", "Sci-Fi", "Horror", "Action", "War", "Fantasy", "Mystery",
                   "Film-Noir", "Adventure", "Children", "Musical", "Western", "Documentary", "Comedy")
_MODIFIER = {"Animation": "animated", "Romance": "romantic", "Crime": "crime", "Sci-Fi": "sci-fi",
             "Horror": "horror", "Action": "action", "War": "war", "Fantasy": "fantasy", "Mystery": "mystery",
             "Film-Noir": "noir", "Adventure": "adventure", "Children": "children's", "Musical": "musical",
             "Western": "western", "Documentary": "documentary", "Comedy": "comedy"}


@dataclass(frozen=True)
class Attribution:
    """Which signal chose a pick: ``seed`` (the caller's "more like X" movie), ``sequence`` (SeqEASE; the
    source is the liked movie that contributed most to its score) or ``content`` (the closest liked movie)."""

    kind: str = "content"
    source_movie_id: int = 0


@dataclass(frozen=True)
class LikedNeighbours:
    """How similar one candidate is to each of the person's liked movies."""

    liked_position: dict[int, int]  # liked movie id → column of ``similarity`` (shared by a request)
    similarity: np.ndarray
    closest: int | None

    def most_similar(self, movie_ids) -> int | None:
        """The liked movie among ``movie_ids`` closest to the candidate, or None if none is liked."""
        best, best_similarity = None, -np.inf
        for movie_id in movie_ids:
            position = self.liked_position.get(movie_id)
            if position is not None and self.similarity[position] > best_similarity:
                best, best_similarity = movie_id, self.similarity[position]
        return best


def liked_neighbours(store: MovieStore, candidate_ids: list[int], liked_ids: list[int]) -> list[LikedNeighbours]:
    """For each candidate, its cosine to every liked movie that has a vector, and the closest one."""
    liked = [movie_id for movie_id in liked_ids if movie_id in store.row_of and movie_id in store]
    if not liked:
        return [LikedNeighbours({}, np.zeros(0), None) for _ in candidate_ids]
    position = {movie_id: i for i, movie_id in enumerate(liked)}
    similarity = store.vectors_of(candidate_ids) @ store.vectors_of(liked).T
    closest = np.argmax(similarity, axis=1)
    return [LikedNeighbours(position, row, liked[int(best)]) for row, best in zip(similarity, closest, strict=True)]


# ---- proposing factors --------------------------------------------------------------------

def propose_claims(movie: MovieFacts, history: UserHistory, store: MovieStore, neighbours: LikedNeighbours,
                   attribution: Attribution | None = None, audience: str | None = None) -> list[Claim]:
    """Factors worth saying about ``movie`` for this person; the verifier still checks each one."""
    attribution = attribution or Attribution()
    source_id = attribution.source_movie_id or neighbours.closest
    source = store.get(source_id) if source_id is not None else None
    claims: list[Claim] = []
    if source is not None:
        kind = K.FACTOR_KIND_WATCHED_NEXT if attribution.kind == "sequence" else K.FACTOR_KIND_SIMILAR_TO_LIKED
        claims.append(Claim(kind, source.title, source.movie_id))
    claims += _genre_claims(movie, source)
    claims += _people_claims(movie, store, neighbours, source)
    if source is not None:
        claims += _shared_label_claims(movie, source)
    if movie.decade is not None and (source is None or source.decade != movie.decade):
        claims.append(Claim(K.FACTOR_KIND_DECADE, f"{movie.decade}s"))
    claims += _query_claims(movie, history)
    if movie.runtime_min is not None:
        claims.append(Claim(K.FACTOR_KIND_RUNTIME, f"{movie.runtime_min} min"))
    if movie.certification is not None:
        claims.append(Claim(K.FACTOR_KIND_CERTIFICATION, movie.certification))
    if audience is not None:
        claims.append(Claim(K.FACTOR_KIND_AUDIENCE, audience))
    return claims


def _genre_claims(movie: MovieFacts, source: MovieFacts | None) -> list[Claim]:
    shared = [g for g in movie.genres if source is not None and g in source.genres]
    if shared:
        return [Claim(K.FACTOR_KIND_GENRE, g, source.movie_id) for g in shared[:MAX_SHARED_GENRES]]
    return [Claim(K.FACTOR_KIND_GENRE, g) for g in movie.genres[:MAX_SHARED_GENRES]]


def _people_claims(movie: MovieFacts, store: MovieStore, neighbours: LikedNeighbours,
                   source: MovieFacts | None) -> list[Claim]:
    """Director and cast, citing the most similar liked movie that shares them when there is one."""
    claims = []
    if movie.director:
        shared_with = neighbours.most_similar(store.by_director.get(movie.director, ()))
        claims.append(Claim(K.FACTOR_KIND_DIRECTOR, movie.director, shared_with or 0))
    shared_cast = []
    for actor in movie.cast:
        shared_with = neighbours.most_similar(store.by_actor.get(actor, ()))
        if shared_with:
            shared_cast.append(Claim(K.FACTOR_KIND_CAST, actor, shared_with))
    if shared_cast:
        claims += shared_cast[:MAX_SHARED_CAST]
    else:
        claims += [Claim(K.FACTOR_KIND_CAST, actor) for actor in movie.cast[:MAX_SHARED_CAST]]
    return claims


def _shared_label_claims(movie: MovieFacts, source: MovieFacts) -> list[Claim]:
    claims = []
    source_keywords = source.lowered["keywords"]
    keywords = [k for k in movie.keywords if k.lower() in source_keywords]
    claims += [Claim(K.FACTOR_KIND_KEYWORD, k, source.movie_id) for k in keywords[:MAX_SHARED_TAGS]]
    room = MAX_SHARED_TAGS - len(claims)
    source_tags = source.lowered["tags"]
    taken = {k.lower() for k in keywords}
    tags = [t for t in movie.tags if t.lower() in source_tags and t.lower() not in _BOOKKEEPING_TAGS
            and t.lower() not in taken]
    claims += [Claim(K.FACTOR_KIND_TAG, t, source.movie_id) for t in tags[:max(room, 1)]]
    if movie.decade is not None and movie.decade == source.decade:
        claims.append(Claim(K.FACTOR_KIND_DECADE, f"{movie.decade}s", source.movie_id))
    return claims


def _query_claims(movie: MovieFacts, history: UserHistory) -> list[Claim]:
    matched = [term for term in history.query_terms if query_term_evidence(term, movie) is not None]
    return [Claim(K.FACTOR_KIND_QUERY_TERM, term) for term in matched[:MAX_QUERY_TERMS]]


# ---- rendering ---------------------------------------------------------------------------------

def render(movie: MovieFacts, claims: list[Claim], history: UserHistory, store: MovieStore,
           constraints: Filter) -> str:
    """Two or three sentences built only from verified ``claims`` (plus the facts they were checked on)."""
    by_kind: dict[int, list[Claim]] = {}
    for claim in claims:
        by_kind.setdefault(claim.kind, []).append(claim)
    source = _similar_source(by_kind, store)
    # The request sentence already gives the year when the request named an era.
    era_said = any(query_term_evidence(c.value, movie).field in ("decade", "year")
                   for c in by_kind.get(K.FACTOR_KIND_QUERY_TERM, []))
    lead = _lead_sentence(movie, by_kind, source, history, store)
    request = _request_sentence(movie, by_kind, history)
    # The request's words chose a pick they match unless a seed or the sequential model did: they lead.
    request_leads = request is not None and K.FACTOR_KIND_WATCHED_NEXT not in by_kind
    sentences = [request, lead] if request_leads else [lead]
    optional = [None if request_leads else request, _shared_sentence(by_kind, source, era_said),
                _practical_sentence(movie, by_kind, constraints, era_said or source is None)]
    sentences += [s for s in optional if s][:3 - len(sentences)]
    audience = by_kind.get(K.FACTOR_KIND_AUDIENCE)
    if audience and (note := AUDIENCE_NOTES.get(audience[0].value)):
        sentences.append(note)
    return " ".join(sentences)


def _similar_source(by_kind: dict[int, list[Claim]], store: MovieStore) -> MovieFacts | None:
    similar = by_kind.get(K.FACTOR_KIND_SIMILAR_TO_LIKED) or by_kind.get(K.FACTOR_KIND_WATCHED_NEXT)
    return store.get(similar[0].source_movie_id) if similar else None


def _name(other: MovieFacts, movie: MovieFacts) -> str:
    """A liked movie's title, with its year when the recommended movie has the same title."""
    return other.label if other.title == movie.title else other.title


def _lead_sentence(movie: MovieFacts, by_kind, source: MovieFacts | None, history: UserHistory,
                   store: MovieStore) -> str:
    genres = by_kind.get(K.FACTOR_KIND_GENRE, [])
    phrase = genre_phrase([c.value for c in genres]) or "film"
    parts = _people_parts(movie, by_kind, source, store)
    if source is None:
        decade = [c for c in by_kind.get(K.FACTOR_KIND_DECADE, []) if not c.source_movie_id]
        era = f" from the {decade[0].value}" if decade else ""
        head = f"{_article(phrase).capitalize()} {phrase}{era}"
        return head + (", " + ", ".join(parts) if parts else "") + "."
    shared_genres = bool(genres) and all(c.source_movie_id == source.movie_id for c in genres)
    if K.FACTOR_KIND_WATCHED_NEXT in by_kind:
        opening = f"People who watched {_name(source, movie)} went on to watch this {phrase}"
        return opening + (", " + ", ".join(parts) if parts else "") + "."
    noun = f"another {phrase}" if shared_genres else f"{_article(phrase)} {phrase}"
    opening = f"Because you {history.affection(source.movie_id)} {_name(source, movie)}: {noun}"
    return opening + (", " + ", ".join(parts) if parts else "") + "."


def _people_parts(movie: MovieFacts, by_kind, source: MovieFacts | None, store: MovieStore) -> list[str]:
    """Director and cast phrases; people shared with a liked movie name that movie."""
    primary = source.movie_id if source is not None else None
    director = by_kind.get(K.FACTOR_KIND_DIRECTOR, [])[:1]
    cast = by_kind.get(K.FACTOR_KIND_CAST, [])
    parts = []
    if director and director[0].source_movie_id == primary:
        parts.append(f"also directed by {director[0].value}")
        director = []
    again = [c.value for c in cast if c.source_movie_id == primary]
    if again:
        parts.append(f"with {_join(again)} in the cast again")
    cast = [c for c in cast if c.source_movie_id != primary]
    if director:
        claim = director[0]
        if not claim.source_movie_id:
            parts.append(f"directed by {claim.value}")
        else:
            title = _name(store.get(claim.source_movie_id), movie)
            together = [c.value for c in cast if c.source_movie_id == claim.source_movie_id]
            if together:
                parts.append(f"directed by {claim.value} and starring {_join(together)}, like {title}")
                cast = [c for c in cast if c.source_movie_id != claim.source_movie_id]
            else:
                parts.append(f"directed by {claim.value}, who also made {title}")
    if cast:
        parts.append(_cast_phrase(cast, movie, store))
    return parts


def _cast_phrase(cast: list[Claim], movie: MovieFacts, store: MovieStore) -> str:
    sources = {c.source_movie_id for c in cast}
    names = _join([c.value for c in cast])
    if sources == {0}:
        return f"starring {names}"
    if len(sources) == 1:
        return f"starring {names}, also in {_name(store.get(cast[0].source_movie_id), movie)}"
    return "starring " + _join([f"{c.value} (also in {_name(store.get(c.source_movie_id), movie)})"
                                if c.source_movie_id else c.value for c in cast])


def _split(claims: list[Claim]) -> tuple[list[str], list[str]]:
    return ([c.value for c in claims if c.kind == K.FACTOR_KIND_DIRECTOR],
            [c.value for c in claims if c.kind == K.FACTOR_KIND_CAST])


def _request_sentence(movie: MovieFacts, by_kind, history: UserHistory) -> str | None:
    terms = by_kind.get(K.FACTOR_KIND_QUERY_TERM)
    if not terms:
        return None
    evidence = []
    for claim in terms:
        found = query_term_evidence(claim.value, movie)
        phrase = _evidence_phrase(found.field, found.detail, claim.value)
        if phrase not in evidence:
            evidence.append(phrase)
    query = " ".join(history.query.split())
    asked = f"'{query}'" if len(query) <= 60 else _join([f"'{c.value}'" for c in terms])
    return f"Like your request for {asked}, it {_join(evidence)}."


def _evidence_phrase(field: str, detail: str, term: str) -> str:
    if field in ("decade", "year"):
        return f"came out in {detail}"
    if field == "genre":
        noun = _NOUN.get(detail, detail.lower())
        return f"is {_article(noun)} {noun}"
    if field in ("keyword", "tag"):
        return f"is tagged '{detail}'"
    if field == "title":
        return f"has '{term}' in its title"
    return f"has a plot summary that mentions '{term}'"


def _shared_sentence(by_kind, source: MovieFacts | None, era_said: bool) -> str | None:
    if source is None:
        return None
    labels = [c.value for kind in (K.FACTOR_KIND_KEYWORD, K.FACTOR_KIND_TAG)
              for c in by_kind.get(kind, []) if c.source_movie_id == source.movie_id]
    decade = [] if era_said else [c for c in by_kind.get(K.FACTOR_KIND_DECADE, [])
                                  if c.source_movie_id == source.movie_id]
    if labels and decade:
        return (f"Both are tagged {_join([repr_quote(v) for v in labels])}, and both come from the "
                f"{decade[0].value}.")
    if labels:
        return f"Both are tagged {_join([repr_quote(v) for v in labels])}."
    if decade:
        return f"Both come from the {decade[0].value}."
    return None


def _practical_sentence(movie: MovieFacts, by_kind, constraints: Filter, era_said: bool) -> str | None:
    """Era (when no other sentence gave it), runtime and certification; an unknown runtime when it matters."""
    parts = []
    decade = [c for c in by_kind.get(K.FACTOR_KIND_DECADE, []) if not c.source_movie_id]
    if decade and not era_said:
        parts.append(f"is from the {decade[0].value}")
    runtime = by_kind.get(K.FACTOR_KIND_RUNTIME)
    if runtime:
        parts.append(f"runs {runtime[0].value.removesuffix(' min')} minutes")
    certification = by_kind.get(K.FACTOR_KIND_CERTIFICATION)
    if certification:
        parts.append(f"is rated {certification[0].value}")
    sentences = [f"It {_join(parts)}."] if parts else []
    if not runtime and constraints.max_runtime_min is not None and movie.runtime_min is None:
        sentences.append("Its runtime is unknown, so it may be longer than you asked for.")
    return " ".join(sentences) or None


# ---- wording helpers ------------------------------------------------------------------------------

def genre_phrase(genres: list[str]) -> str:
    """"crime thriller", "romantic comedy", "animated film": one head genre and at most one modifier."""
    known = [g for g in genres if g in _NOUN]
    if not known:
        return ""
    head = min(known, key=_HEAD_ORDER.index)
    modifiers = sorted((g for g in known if g != head and g in _MODIFIER), key=_MODIFIER_ORDER.index)
    if not modifiers:
        return _NOUN[head]
    return f"{_MODIFIER[modifiers[0]]} {_NOUN[head]}"


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeio" else "a"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def repr_quote(value: str) -> str:
    return f"'{value}'"
