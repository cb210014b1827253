"""Free-text search with keyphrase matches: what ``POST /api/search`` serves (and what the chat can call).

:func:`keyphrase_search` splits the request into its own keyphrases (``movierec_catalog.keyphrases``),
embeds them and the whole request in one Embed call, and retrieves with the method the measurement chose
for the request type (``search_served.json``, written by ``make report-keyphrases``; the numbers are in
reports/keyphrases.md):

* ``keyphrase`` — SearchKeyphrases: multi-vector max-sim over the movies' keyphrases;
* ``vector`` — Search with the whole request as one vector;
* ``hybrid`` — reciprocal-rank fusion of the two.

Whichever ranks, every movie shown carries its matched keyphrases: the movie keyphrase closest to each query
keyphrase (SearchKeyphrases restricted to the shown movies), and ``matched_keyphrases`` lists those at
least :data:`MATCH_MIN` similar ("matched: cozy small town, found family"). Without a keyphrase artifact the
vector ranking is served with no matches and ``keyphrases_unavailable`` says why. Every movie is re-checked
against the hard filter with catalog facts before it is returned.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gateway_service.deps import Services, call
from gateway_service.errors import ApiError
from movierec.embedding.v1 import embedding_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_catalog.filter import Filter
from movierec_catalog.keyphrases import is_mood_request, query_keyphrases
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.keyphrase_search")

SERVED_PATH = Path(__file__).with_name("search_served.json")
METHODS = ("vector", "keyphrase", "hybrid")
MATCH_MIN = 0.55  # a movie phrase this similar to a query phrase is shown as a match (1.0 = the same phrase)
FUSION_DEPTH = 50
RRF_K = 60


def served_methods(path: Path | None = None) -> dict[str, str]:
    """{request type: method} as measured; a missing or malformed file serves ``vector`` (the plain search).

    ``GATEWAY_SEARCH_SERVED_FILE`` points at another file (an operator trying a method before it is measured).
    """
    path = path or Path(os.environ.get("GATEWAY_SEARCH_SERVED_FILE") or SERVED_PATH)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"mood": "vector", "other": "vector"}
    return {kind: data.get(kind) if data.get(kind) in METHODS else "vector" for kind in ("mood", "other")}


@dataclass
class Match:
    query_phrase: str
    phrase: str
    score: float
    source: str


@dataclass
class Found:
    movie_id: int
    score: float
    matches: list[Match] = field(default_factory=list)
    runtime_unknown: bool = False

    @property
    def matched_keyphrases(self) -> list[str]:
        """The movie's phrases that matched a query phrase well enough to show, best first, each once."""
        best: dict[str, float] = {}
        for match in self.matches:
            if match.score >= MATCH_MIN:
                best[match.phrase] = max(best.get(match.phrase, 0.0), match.score)
        return sorted(best, key=lambda p: -best[p])


@dataclass
class SearchResult:
    query: str
    request_type: str
    method: str
    query_keyphrases: list[str]
    movies: list[Found]
    keyphrase_version: str | None = None
    keyphrases_unavailable: str | None = None


async def keyphrase_search(services: Services, query: str, hard: Filter, limit: int) -> SearchResult:
    """The ``limit`` best movies for ``query`` that pass ``hard``, each with its matched keyphrases."""
    phrases = query_keyphrases(query)
    request_type = "mood" if is_mood_request(query) else "other"
    method = served_methods()[request_type] if phrases else "vector"
    embedded = await call("embedding", services.embedding.Embed, embedding_pb2.EmbedRequest(
        texts=[query, *phrases], kind=embedding_pb2.EMBED_KIND_QUERY))
    vectors = [np.asarray(v.values, dtype=np.float32) for v in embedded.vectors]
    query_vector, phrase_vectors = vectors[0], vectors[1:]
    result = SearchResult(query, request_type, method, phrases, [])
    keyphrase_hits: list[Found] | None = None
    if method in ("keyphrase", "hybrid"):
        try:
            keyphrase_hits, result.keyphrase_version = await _keyphrases(
                services, phrases, phrase_vectors, hard, limit if method == "keyphrase" else FUSION_DEPTH)
        except ApiError as error:
            if error.code != "FAILED_PRECONDITION":
                raise
            result.keyphrases_unavailable, result.method = error.message, "vector"
    if result.method == "keyphrase":
        found = keyphrase_hits or []
    else:
        vector_hits = await _vector(services, query_vector, hard, limit if result.method == "vector" else FUSION_DEPTH)
        found = vector_hits if result.method == "vector" else _fuse(vector_hits, keyphrase_hits or [])
    found = [f for f in found if (movie := services.catalog.get(f.movie_id)) is not None and hard.admits(movie)]
    found = found[:limit]
    if found and phrases and result.method != "keyphrase" and result.keyphrases_unavailable is None:
        await _attach_matches(services, found, phrases, phrase_vectors, result)
    result.movies = found
    return result


async def _keyphrases(services: Services, phrases: list[str], vectors: list[np.ndarray], hard: Filter,
                      k: int) -> tuple[list[Found], str]:
    request = retrieval_pb2.SearchKeyphrasesRequest(
        phrases=[retrieval_pb2.QueryKeyphrase(text=text, vector=vector.tolist())
                 for text, vector in zip(phrases, vectors, strict=True)],
        k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.SearchKeyphrases, request)
    hits = [Found(h.movie_id, h.score, [Match(m.query_phrase, m.phrase, m.score, m.source) for m in h.matches],
                  h.runtime_unknown) for h in response.hits]
    return hits, response.keyphrase_version


async def _vector(services: Services, vector: np.ndarray, hard: Filter, k: int) -> list[Found]:
    request = retrieval_pb2.SearchRequest(vector=vector.tolist(), k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.Search, request)
    return [Found(h.movie_id, h.score, runtime_unknown=h.runtime_unknown) for h in response.hits]


def _fuse(first: list[Found], second: list[Found]) -> list[Found]:
    """Reciprocal-rank fusion; a movie's score becomes its fused score."""
    scores: dict[int, float] = defaultdict(float)
    by_id: dict[int, Found] = {}
    for ranked in (first, second):
        for rank, hit in enumerate(ranked):
            scores[hit.movie_id] += 1.0 / (RRF_K + rank + 1)
            by_id.setdefault(hit.movie_id, hit)
    order = sorted(scores, key=lambda m: (-scores[m], m))
    return [Found(m, scores[m], by_id[m].matches, by_id[m].runtime_unknown) for m in order]


async def _attach_matches(services: Services, found: list[Found], phrases: list[str], vectors: list[np.ndarray],
                          result: SearchResult) -> None:
    """Each shown movie's best phrase per query phrase (SearchKeyphrases over exactly these movies)."""
    missing = [f for f in found if not f.matches]
    if not missing:
        return
    only = Filter(only_movie_ids=[f.movie_id for f in missing])
    try:
        hits, result.keyphrase_version = await _keyphrases(services, phrases, vectors, only, len(missing))
    except ApiError as error:
        if error.code != "FAILED_PRECONDITION":
            raise
        result.keyphrases_unavailable = error.message
        return
    by_id = {h.movie_id: h.matches for h in hits}
    for f in missing:
        f.matches = by_id.get(f.movie_id, [])


async def chat_matches(services: Services, text: str, movie_ids: list[int]) -> dict[int, list[str]]:
    """The chat's picks for a mood request ("something cozy set in a small town"): each movie's keyphrases
    that match the request's own ({movie id: phrases}). Empty for a request without a mood word or
    keyphrases, and when keyphrase search or the embedding tier is unavailable: the cards are shown
    without matches rather than the turn failing."""
    phrases = query_keyphrases(text) if movie_ids and is_mood_request(text) else []
    if not phrases:
        return {}
    try:
        embedded = await call("embedding", services.embedding.Embed,
                              embedding_pb2.EmbedRequest(texts=phrases, kind=embedding_pb2.EMBED_KIND_QUERY))
        found = [Found(movie_id, 0.0) for movie_id in movie_ids]
        vectors = [np.asarray(v.values, dtype=np.float32) for v in embedded.vectors]
        await _attach_matches(services, found, phrases, vectors, SearchResult(text, "mood", "vector", phrases, found))
    except ApiError as error:
        log.info("chat picks shown without keyphrase matches", extra=log_fields(detail=error.message))
        return {}
    return {f.movie_id: f.matched_keyphrases for f in found if f.matched_keyphrases}

