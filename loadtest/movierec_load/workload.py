"""Realistic request material, built once before any load is offered.

Everything comes from real data: query vectors are rows of the index artifact that the retrieval
tier serves (movie vectors) and taste vectors of real MovieLens users (the normalized mean of the
vectors of the movies they rated ≥ 4); ranker requests carry such a user's recent ratings and the
20 unseen movies nearest their taste, like the gateway sends after a retrieval call. Texts for the
embedding and chat paths are short, varied queries (none repeats within a run's first few hundred
requests, so no cache can make them look cheaper than they are).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2
from movierec_core.index_artifact import load_index_artifact

MOODS = ("cozy", "tense", "funny", "dark", "uplifting", "slow-burn", "mind-bending", "romantic", "gritty",
         "whimsical", "epic", "quiet", "scary", "heartfelt", "stylish", "offbeat")
SUBJECTS = ("heist movie", "space adventure", "courtroom drama", "road trip comedy", "detective story",
            "animated film", "coming-of-age story", "war film", "musical", "sports drama", "spy thriller",
            "monster movie", "period romance", "time travel story", "survival film", "family comedy")
EXTRAS = ("", "from the 90s", "with a twist ending", "for a rainy night", "under two hours", "set in Paris",
          "with great music", "nothing too violent", "like Pixar films", "with a strong female lead")
CHAT_OPENERS = ("I want", "show me", "something like", "any ideas for", "recommend")
RANK_QUERIES = ("", "something from the 90s", "a tense heist thriller", "funny and light, nothing scary",
                "space adventure with great visuals", "")
SEARCH_K = 20
RANK_CANDIDATES = 20
RANK_TOP_N = 5
MAX_CONTEXT_RATINGS = 50


@dataclass(frozen=True)
class LoadUser:
    """A real MovieLens user, restricted to the movies of the served index."""

    ml_user_id: int
    ratings: tuple[tuple[int, float], ...]  # (movie_id, rating), most recent first
    liked_movie_ids: tuple[int, ...]
    taste: np.ndarray


@dataclass
class Workload:
    index_version: str
    index_count: int
    movie_ids: np.ndarray
    query_vectors: list[list[float]]
    users: list[LoadUser]
    rank_requests: list[ranker_pb2.RankRequest]
    texts: list[str]
    filters: list[common_pb2.Filter]

    def text(self, i: int) -> str:
        return self.texts[i % len(self.texts)]

    def chat_message(self, i: int) -> str:
        return f"{CHAT_OPENERS[i % len(CHAT_OPENERS)]} {self.text(i * 7 + 3)}"

    def vector(self, i: int) -> list[float]:
        return self.query_vectors[i % len(self.query_vectors)]

    def user(self, i: int) -> LoadUser:
        return self.users[i % len(self.users)]

    def picks(self, i: int, count: int = 3) -> list[int]:
        """``count`` liked movies of a real user, for onboarding."""
        return list(self.user(i).liked_movie_ids[:count])


def query_texts(count: int, seed: int) -> list[str]:
    combos = [" ".join(part for part in (f"a {mood} {subject}", extra) if part)
              for mood, subject, extra in itertools.product(MOODS, SUBJECTS, EXTRAS)]
    order = np.random.default_rng(seed).permutation(len(combos))[:count]
    return [combos[i] for i in order]


def search_filters() -> list[common_pb2.Filter]:
    """Constraint mixes the gateway sends for chat turns ("from the 90s, nothing scary", …)."""
    return [
        common_pb2.Filter(exclude_genres=["Horror"], min_year=1990, max_year=1999),
        common_pb2.Filter(include_genres=["Comedy"], max_runtime_min=120, lenient_runtime=True),
        common_pb2.Filter(max_certification=common_pb2.CERTIFICATION_PG_13, exclude_genres=["Horror", "Thriller"]),
        common_pb2.Filter(include_genres=["Sci-Fi", "Action"], min_year=2000),
    ]


def load_users(ratings, row_of: dict[int, int], vectors: np.ndarray, count: int, seed: int) -> list[LoadUser]:
    """``count`` real users with at least 5 ratings (and one ≥ 4) among the indexed movies."""
    ratings = ratings[ratings.movie_id.isin(row_of)].sort_values(["user_id", "timestamp", "movie_id"])
    users = []
    for user_id, rows in ratings.groupby("user_id"):
        liked = rows[rows.rating >= 4.0].movie_id.tolist()
        if len(rows) < 5 or not liked:
            continue
        taste = vectors[[row_of[m] for m in liked]].mean(axis=0)
        recent = rows.iloc[::-1].head(MAX_CONTEXT_RATINGS)
        users.append(LoadUser(int(user_id), tuple(zip(recent.movie_id.astype(int), recent.rating.astype(float),
                                                      strict=True)),
                              tuple(int(m) for m in reversed(liked)), taste / np.linalg.norm(taste)))
    if not users:
        raise ValueError("no MovieLens user has 5 ratings among the indexed movies; index more movies")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(users), size=min(count, len(users)), replace=False)
    return [users[i] for i in picked]


def rank_request(user: LoadUser, movie_ids: np.ndarray, vectors: np.ndarray, row_of: dict[int, int],
                 query: str) -> ranker_pb2.RankRequest:
    """Rank 20 → 5: the user's 20 unseen movies nearest their taste, with the user's context."""
    cosine = vectors @ user.taste
    seen = {row_of[m] for m, _ in user.ratings}
    rows = [int(r) for r in np.argsort(-cosine)[:RANK_CANDIDATES + len(seen)] if int(r) not in seen][:RANK_CANDIDATES]
    turns = [common_pb2.ConversationTurn(role=common_pb2.ConversationTurn.ROLE_USER, text=query)] if query else []
    context = ranker_pb2.UserContext(
        user_id=f"ml-{user.ml_user_id}", vector=user.taste.tolist(),
        ratings=[common_pb2.MovieRating(movie_id=m, rating=r) for m, r in user.ratings],
        liked_movie_ids=list(user.liked_movie_ids[:20]), recent_turns=turns)
    return ranker_pb2.RankRequest(
        user=context, query=query, top_n=RANK_TOP_N,
        candidates=[ranker_pb2.Candidate(movie_id=int(movie_ids[r]), retrieval_score=float(cosine[r])) for r in rows])


def build_workload(index_dir: Path, catalog_dir: Path, *, users: int = 64, seed: int = 7) -> Workload:
    from movierec_catalog import load_ratings

    artifact = load_index_artifact(index_dir, verify_checksums=False)
    row_of = artifact.row_of()
    load_users_ = load_users(load_ratings(catalog_dir), row_of, artifact.vectors, users, seed)
    rng = np.random.default_rng(seed)
    movie_rows = rng.choice(len(artifact.movie_ids), size=min(128, len(artifact.movie_ids)), replace=False)
    query_vectors = [artifact.vectors[r].tolist() for r in movie_rows] + [u.taste.tolist() for u in load_users_]
    order = rng.permutation(len(query_vectors))
    requests = [rank_request(user, artifact.movie_ids, artifact.vectors, row_of, RANK_QUERIES[i % len(RANK_QUERIES)])
                for i, user in enumerate(load_users_)]
    return Workload(index_version=artifact.version, index_count=len(artifact.movie_ids),
                    movie_ids=artifact.movie_ids, query_vectors=[query_vectors[i] for i in order],
                    users=load_users_, rank_requests=requests, texts=query_texts(1200, seed),
                    filters=search_filters())
