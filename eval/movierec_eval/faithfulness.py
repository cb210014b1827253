"""Section 4: explanation faithfulness — is every factor the ranker returned true?

Each returned factor ``(kind, value, source_movie_id)`` is checked twice:

1. by the ranker's own verifier (``ranker_service.verify.unsupported_reason``), re-run on the output;
2. by an **independent checker** written here against the raw catalog rows (``movierec_catalog.Movie``,
   not the ranker's ``MovieFacts``) and the person's ratings: the value must be literally true of the
   recommended movie, a cited source movie must be rated ≥ 4 by the person and share the value, a
   request word must occur in the request and in the movie's catalog entry.

The explanation sentence is checked too: every movie title it names must be the recommendation or a
movie the person liked, "loved" must mean a rating ≥ 4.5, and every cited source must be listed in
``because_movie_ids``. Finally, the share of *proposed* factors the verifier drops (what would have
been shown without it — ReelReason's ~8%) is measured by re-running the explainer.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

LIKED = 4.0
LOVED = 4.5
# Claims no checker here can test independently (the audience fit is the ranker's own maturity model):
# counted apart, never in a grounded share.
UNCHECKED_KINDS = frozenset({"FACTOR_KIND_AUDIENCE"})


@dataclass(frozen=True)
class Sample:
    """One recommendation as the ranker returned it, with what it was asked."""

    user: str
    movie_id: int
    explanation: str
    factors: list  # ranker_service.verify.Claim
    because: list[int]
    ratings: dict[int, float]
    picked: frozenset[int]
    query: str


def _liked(sample: Sample, movie_id: int) -> bool:
    rating = sample.ratings.get(movie_id)
    return rating >= LIKED if rating is not None else movie_id in sample.picked


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _true_of(kind: str, value: str, movie) -> bool:
    lowered = value.lower()
    if kind == "FACTOR_KIND_GENRE":
        return lowered in {g.lower() for g in movie.genres}
    if kind == "FACTOR_KIND_KEYWORD":
        return lowered in {k.lower() for k in movie.keywords}
    if kind == "FACTOR_KIND_TAG":
        return lowered in {t.lower() for t in movie.tags}
    if kind == "FACTOR_KIND_CAST":
        return lowered in {c.lower() for c in movie.cast}
    if kind == "FACTOR_KIND_DIRECTOR":
        return movie.director is not None and movie.director.lower() == lowered
    if kind == "FACTOR_KIND_DECADE":
        match = re.fullmatch(r"(\d{4})s", value)
        return bool(match) and movie.year is not None and movie.year // 10 * 10 == int(match.group(1))
    if kind == "FACTOR_KIND_RUNTIME":
        match = re.fullmatch(r"(\d+) min", value)
        return bool(match) and movie.runtime_min == int(match.group(1))
    if kind == "FACTOR_KIND_CERTIFICATION":
        return movie.certification == value
    return False


# Written here, not imported from the ranker: request words that name a genre or a decade indirectly.
_GENRE_SYNONYMS = {
    "animated": "Animation", "cartoon": "Animation", "cartoons": "Animation", "funny": "Comedy",
    "comedic": "Comedy", "comedies": "Comedy", "hilarious": "Comedy", "scary": "Horror", "romantic": "Romance",
    "dramatic": "Drama", "dramas": "Drama", "kid": "Children", "kids": "Children", "child": "Children",
    "children": "Children", "adventurous": "Adventure", "noir": "Film-Noir", "scifi": "Sci-Fi",
    "sci-fi": "Sci-Fi", "thrillers": "Thriller", "westerns": "Western", "documentaries": "Documentary",
}
_DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                 "seventies": 1970, "eighties": 1980, "nineties": 1990}


def _decade(term: str) -> int | None:
    term = term.strip("'")
    if term in _DECADE_WORDS:
        return _DECADE_WORDS[term]
    match = re.fullmatch(r"(19|20)?(\d)0'?s", term)
    if not match:
        return None
    if match.group(1):
        return int(match.group(1)) * 100 + int(match.group(2)) * 10
    return (2000 if int(match.group(2)) <= 2 else 1900) + int(match.group(2)) * 10


def _query_term_found(term: str, movie) -> bool:
    """The request word is true of the movie: its decade or year, a genre it names, or a word of the
    movie's title, genres, keywords, tags or overview (plural endings ignored)."""
    term = term.lower()
    decade = _decade(term)
    if decade is not None:
        return movie.year is not None and movie.year // 10 * 10 == decade
    if term.isdigit():
        return movie.year == int(term)
    if _GENRE_SYNONYMS.get(term) in movie.genres:
        return True
    text = " ".join([movie.title, " ".join(movie.genres), " ".join(movie.keywords), " ".join(movie.tags),
                     movie.overview or ""]).lower()
    wanted = _stem(term)
    return any(_stem(w) == wanted for w in re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text))


def _stem(word: str) -> str:
    word = word.strip("'-")
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def independent_reason(kind: str, value: str, source_id: int, sample: Sample, catalog) -> str | None:
    """Why the factor is unsupported by the raw catalog and the person's ratings, or None."""
    movie = catalog.get(sample.movie_id)
    if movie is None:
        return "recommended movie is not in the catalog"
    if not value.strip():
        return "empty value"
    source = None
    if source_id:
        source = catalog.get(source_id)
        if source is None:
            return f"source {source_id} is not in the catalog"
        if not _liked(sample, source_id):
            return f"source {source_id} is not a movie the person liked"
        if source_id == sample.movie_id:
            return "cites the recommendation itself"
    if kind in ("FACTOR_KIND_SIMILAR_TO_LIKED", "FACTOR_KIND_WATCHED_NEXT"):
        if source is None:
            return f"{kind} without a source"
        return None if value == source.title else f"{value!r} is not the title of source {source_id}"
    if kind == "FACTOR_KIND_QUERY_TERM":
        if value.lower() not in _words(sample.query) and value.lower() not in sample.query.lower():
            return f"{value!r} is not in the request"
        return None if _query_term_found(value, movie) else f"{value!r} is not in the movie's catalog entry"
    if not _true_of(kind, value, movie):
        return f"{kind} {value!r} is not true of movie {sample.movie_id}"
    if source is not None and not _true_of(kind, value, source):
        return f"{kind} {value!r} is not true of source movie {source_id}"
    return None


_CITES = (("Because you loved ", LOVED), ("Because you liked ", LIKED), ("who also made ", LIKED),
          ("also in ", LIKED))


def text_problems(sample: Sample, catalog) -> list[str]:
    """Claims the explanation sentence makes beyond its factors: every movie it cites after "Because you
    liked/loved", "who also made" or "also in" must be one the person rated that well."""
    problems = []
    text = sample.explanation
    for trigger, threshold in _CITES:
        for match in re.finditer(re.escape(trigger), text):
            rest = text[match.end():]
            rated = [m for m, r in sample.ratings.items() if r >= threshold and catalog.get(m)]
            rated += [m for m in sample.picked if threshold == LIKED and catalog.get(m)]
            if not any(rest.startswith(catalog.get(m).title) for m in rated):
                problems.append(f"{trigger.strip()!r} cites {rest[:40]!r}, not a movie rated ≥ {threshold}")
    cited = {c.source_movie_id for c in sample.factors if c.source_movie_id}
    if not cited <= set(sample.because):
        problems.append(f"sources {sorted(cited - set(sample.because))} missing from because_movie_ids")
    return problems


def evaluate(samples: list[Sample], catalog, store, proposed_dropped: tuple[int, int]) -> dict:
    """Share of returned factors that both checkers ground, with every failure listed."""
    from movierec.ranker.v1 import ranker_pb2
    from ranker_service.history import UserHistory
    from ranker_service.verify import unsupported_reason

    failures, kinds = [], Counter()
    factors = grounded = 0
    text_failures = []
    for sample in samples:
        history = UserHistory(ratings=sample.ratings, picked=sample.picked, query=sample.query)
        movie = store.get(sample.movie_id)
        for claim in sample.factors:
            kind = ranker_pb2.FactorKind.Name(claim.kind)
            kinds[kind] += 1
            if kind in UNCHECKED_KINDS:
                continue
            factors += 1
            ranker_reason = unsupported_reason(claim, movie, history, store)
            if kind == "FACTOR_KIND_WATCHED_NEXT" and (ranker_reason or "").startswith("the sequential model"):
                # The link needs the SeqEASE model that answered (not held here); raw_check tests it on the
                # raw ratings instead. Title and source are still checked by both checkers.
                ranker_reason = None
            own_reason = independent_reason(kind, claim.value, claim.source_movie_id, sample, catalog)
            if ranker_reason is None and own_reason is None:
                grounded += 1
            else:
                failures.append({"user": sample.user, "movie_id": sample.movie_id, "kind": kind, "value": claim.value,
                                 "source_movie_id": claim.source_movie_id, "verifier": ranker_reason,
                                 "independent_check": own_reason})
        for problem in text_problems(sample, catalog):
            text_failures.append({"user": sample.user, "movie_id": sample.movie_id, "problem": problem,
                                  "explanation": sample.explanation})
    proposed, dropped = proposed_dropped
    return {
        "recommendations": len(samples), "factors": factors, "grounded": grounded,
        "grounded_share": round(grounded / factors, 6) if factors else None,
        "factor_kinds": dict(sorted(kinds.items())), "failures": failures,
        "unchecked_kinds": {k: kinds[k] for k in sorted(UNCHECKED_KINDS) if kinds[k]},
        "explanation_text_failures": text_failures,
        "with_query": sum(1 for s in samples if s.query),
        "proposed_factors": proposed, "proposed_dropped_by_verifier": dropped,
        "proposed_dropped_share": round(dropped / proposed, 4) if proposed else None,
    }


def proposed_claim_counts(samples: list[Sample], store) -> tuple[int, int]:
    """Re-run the grounded explainer on each pick: (factors proposed, factors the verifier drops)."""
    from ranker_service.explain import liked_neighbours, propose_claims
    from ranker_service.history import UserHistory
    from ranker_service.verify import unsupported_reason

    proposed = dropped = 0
    for sample in samples:
        history = UserHistory(ratings=sample.ratings, picked=sample.picked, query=sample.query)
        near = liked_neighbours(store, [sample.movie_id], history.liked_ids())[0]
        movie = store.get(sample.movie_id)
        for claim in propose_claims(movie, history, store, near):
            proposed += 1
            dropped += unsupported_reason(claim, movie, history, store) is not None
    return proposed, dropped


def samples_from_outputs(user: str, output, ratings: dict[int, float], query: str = "",
                         picked: frozenset[int] = frozenset()) -> list[Sample]:
    return [Sample(user, p.movie_id, p.explanation, list(p.factors), list(p.because_movie_ids), ratings, picked, query)
            for p in output.picks]


def injected_false_claims(samples: list[Sample], catalog, store, seed: int, limit: int = 600) -> dict:
    """What an unreliable explainer (an LLM) might say, fed to the ranker's verifier: per sampled pick, a
    genre, director, decade, runtime and certification the movie does not have, a "similar to" citing a
    movie the person did not like, and a request word the person never wrote. Each claim is first
    confirmed false by the independent checker; the verifier must drop every one (target: 0 survive)."""
    import numpy as np

    from movierec.ranker.v1 import ranker_pb2
    from ranker_service.history import UserHistory
    from ranker_service.verify import Claim, verify_claims

    kinds = ranker_pb2.FactorKind
    rng = np.random.default_rng(seed)
    chosen = [samples[i] for i in sorted(rng.choice(len(samples), min(limit, len(samples)), replace=False))]
    genres = sorted(store.genres)
    directors = sorted({m.director for m in store.facts.values() if m.director})
    injected, survived, by_kind = 0, [], Counter()
    for sample in chosen:
        movie = catalog.get(sample.movie_id)
        history = UserHistory(ratings=sample.ratings, picked=sample.picked, query=sample.query)
        disliked = [m for m, r in sample.ratings.items() if r < LIKED and catalog.get(m)]
        candidates = [
            ("FACTOR_KIND_GENRE", next(g for g in rng.permutation(genres) if g not in movie.genres), 0),
            ("FACTOR_KIND_DIRECTOR", str(rng.choice(directors)), 0),
            ("FACTOR_KIND_DECADE", f"{(movie.year or 2000) // 10 * 10 - 30}s", 0),
            ("FACTOR_KIND_RUNTIME", f"{(movie.runtime_min or 100) + 7} min", 0),
            ("FACTOR_KIND_CERTIFICATION", "NC-17" if movie.certification != "NC-17" else "G", 0),
            ("FACTOR_KIND_QUERY_TERM", "zombie", 0),
        ]
        if disliked:
            source = int(rng.choice(disliked))
            candidates.append(("FACTOR_KIND_SIMILAR_TO_LIKED", catalog.get(source).title, source))
        for kind, value, source_id in candidates:
            if independent_reason(kind, value, source_id, sample, catalog) is None:
                continue  # accidentally true: not a false claim
            injected += 1
            by_kind[kind] += 1
            claim = Claim(kinds.Value(kind), value, source_id)
            if verify_claims([claim], store.get(sample.movie_id), history, store, origin="eval-injected"):
                survived.append({"user": sample.user, "movie_id": sample.movie_id, "kind": kind, "value": value,
                                 "source_movie_id": source_id})
    return {"picks": len(chosen), "injected": injected, "by_kind": dict(sorted(by_kind.items())),
            "survived_verifier": len(survived), "survivors": survived}


# ---- against the raw data files (shares no code with the catalog or the ranker) ---------------------

SIMILARITY_PERCENTILE = 95  # "similar to X" needs a cosine above this percentile of random movie pairs…
SIMILAR_MIN_SHARED = 1  # …and at least this many shared raw facts (keyword, director, cast; or 2 genres)
SIMILARITY_PAIRS = 20_000
WATCHED_NEXT_MIN_USERS = 2  # "people who watched X watched this next": at least this many did, in the raw ratings


def similarity_threshold(store, seed: int) -> float:
    """The ``SIMILARITY_PERCENTILE``-th percentile of the cosine between random pairs of catalog movies
    (computed on the run's own vectors, so it follows the embedding model)."""
    import numpy as np

    ids = sorted(store.row_of)
    rng = np.random.default_rng(seed)
    a, b = rng.choice(len(ids), SIMILARITY_PAIRS), rng.choice(len(ids), SIMILARITY_PAIRS)
    keep = a != b
    va = store.vectors_of([ids[i] for i in a[keep]])
    vb = store.vectors_of([ids[i] for i in b[keep]])
    return float(np.percentile((va * vb).sum(axis=1), SIMILARITY_PERCENTILE))


def similarity_reason(movie_id: int, source_id: int, raw, store, threshold: float) -> str | None:
    """Why "similar to <source>" is not supported: vectors not close enough, or no shared raw facts."""
    import numpy as np

    if movie_id not in store.row_of or source_id not in store.row_of:
        return "no vector for the movie or its source"
    cosine = float(np.dot(*store.vectors_of([movie_id, source_id])))
    if cosine < threshold:
        return f"cosine {cosine:.3f} below the similarity threshold {threshold:.3f}"
    movie, source = raw.get(movie_id), raw.get(source_id)
    if movie is None or source is None:
        return "movie or source not in the raw files"
    shared = movie.shared_facts(source)
    specific = sum(len(v) for k, v in shared.items() if k != "genres")
    if specific < SIMILAR_MIN_SHARED and len(shared.get("genres", [])) < 2:
        return f"no shared raw facts beyond {shared.get('genres', [])}"
    return None


def raw_reason(kind: str, value: str, source_id: int, sample: Sample, raw, store, threshold: float) -> str | None:
    """The raw-data verdict on one factor: stated by a raw file (and by the cited source's raw files),
    the request word in the request and in the movie's raw texts, "similar to" close and sharing facts."""
    from movierec_eval.raw_claims import mentions, stated_reason, title_key

    movie = raw.get(sample.movie_id)
    if movie is None:
        return "recommended movie is not in the raw files"
    if source_id and not _liked(sample, source_id):
        return f"source {source_id} is not a movie the person liked"
    if kind in ("FACTOR_KIND_SIMILAR_TO_LIKED", "FACTOR_KIND_WATCHED_NEXT"):
        if not source_id:
            return f"{kind} without a source"
        source = raw.get(source_id)
        if source is None or title_key(value) not in {title_key(t) for t in source.titles}:
            return f"{value!r} is not a raw title of source {source_id}"
        if kind == "FACTOR_KIND_WATCHED_NEXT":
            followers = raw.followers(source_id, sample.movie_id)
            return None if followers >= WATCHED_NEXT_MIN_USERS else \
                f"only {followers} raw MovieLens users rated {sample.movie_id} after {source_id}"
        return similarity_reason(sample.movie_id, source_id, raw, store, threshold)
    if kind == "FACTOR_KIND_QUERY_TERM":
        if value.lower() not in _words(sample.query) and value.lower() not in sample.query.lower():
            return f"{value!r} is not in the request"
        return None if mentions(value, movie) or _decade_stated(value, movie) else \
            f"{value!r} is in no raw text of the movie"
    reason = stated_reason(kind, value, movie)
    if reason is None and source_id:
        source_reason = stated_reason(kind, value, raw.get(source_id))
        return None if source_reason is None else f"source {source_id}: {source_reason}"
    return reason


def _decade_stated(term: str, movie) -> bool:
    decade = _decade(term.lower())
    return decade is not None and decade in movie.decades


def raw_check(samples: list[Sample], raw, store, seed: int) -> dict:
    """Share of returned factors the raw files support; every failure listed, counted by kind."""
    from movierec.ranker.v1 import ranker_pb2

    threshold = similarity_threshold(store, seed)
    failures, by_kind, failed_kinds = [], Counter(), Counter()
    unchecked = Counter()
    for sample in samples:
        for claim in sample.factors:
            kind = ranker_pb2.FactorKind.Name(claim.kind)
            if kind in UNCHECKED_KINDS:
                unchecked[kind] += 1
                continue
            by_kind[kind] += 1
            reason = raw_reason(kind, claim.value, claim.source_movie_id, sample, raw, store, threshold)
            if reason is not None:
                failed_kinds[kind] += 1
                failures.append({"user": sample.user, "movie_id": sample.movie_id, "kind": kind, "value": claim.value,
                                 "source_movie_id": claim.source_movie_id, "raw_check": reason})
    total = sum(by_kind.values())
    return {"factors": total, "supported": total - len(failures),
            "supported_share": round((total - len(failures)) / total, 6) if total else None,
            "similarity_threshold": round(threshold, 4),
            "similarity_rule": f"cosine ≥ the {SIMILARITY_PERCENTILE}th percentile of {SIMILARITY_PAIRS} random "
                               f"movie pairs and ≥ {SIMILAR_MIN_SHARED} shared raw keyword/director/cast (or 2 "
                               "shared genres)",
            "watched_next_rule": f"≥ {WATCHED_NEXT_MIN_USERS} users of the raw ratings.csv rated the movie after the "
                                 "source",
            "by_kind": {k: {"factors": n, "unsupported": failed_kinds[k]} for k, n in sorted(by_kind.items())},
            "unchecked_kinds": dict(unchecked), "failures": failures}


def near_miss_claims(samples: list[Sample], raw, store, seed: int, limit: int = 400) -> dict:
    """Plausible but false claims, the kind a careless explainer makes, fed to the ranker's verifier
    and to the raw checker; both must reject every one. Per sampled pick: a cast member of a related
    film (same director, or a title sharing its first word — sequels) who is not in this movie, a genre
    of the director's other film that this movie lacks, the decade ±10 years, the runtime ±2 minutes.
    Each plant is first confirmed false against the raw files (an accidentally true plant is skipped)."""
    import numpy as np

    from movierec.ranker.v1 import ranker_pb2
    from ranker_service.history import UserHistory
    from ranker_service.verify import Claim, verify_claims

    rng = np.random.default_rng(seed)
    chosen = [samples[i] for i in sorted(rng.choice(len(samples), min(limit, len(samples)), replace=False))]
    by_director: dict[str, list] = {}
    by_first_word: dict[str, list] = {}
    for movie in raw.movies.values():
        for director in movie.directors:
            by_director.setdefault(director, []).append(movie)
        for title in movie.titles:
            if title.split():
                by_first_word.setdefault(title.split()[0].lower(), []).append(movie)
    planted, caught_verifier, caught_raw, by_kind, escaped = 0, 0, 0, Counter(), []
    for sample in chosen:
        movie = raw.get(sample.movie_id)
        facts = store.get(sample.movie_id)
        if movie is None or facts is None:
            continue
        history = UserHistory(ratings=sample.ratings, picked=sample.picked, query=sample.query)
        for kind, value in _plants(movie, by_director, by_first_word, rng):
            if raw_reason(kind, value, 0, sample, raw, store, 1.0) is None:
                continue  # accidentally true
            planted += 1
            by_kind[kind] += 1
            caught_raw += 1
            kept = verify_claims([Claim(ranker_pb2.FactorKind.Value(kind), value, 0)], facts, history, store,
                                 origin="eval-near-miss")
            if kept:
                escaped.append({"movie_id": sample.movie_id, "kind": kind, "value": value})
            else:
                caught_verifier += 1
    return {"picks": len(chosen), "planted": planted, "by_kind": dict(sorted(by_kind.items())),
            "caught_by_verifier": caught_verifier, "caught_by_raw_checker": caught_raw,
            "escaped_verifier": escaped}


def _plants(movie, by_director, by_first_word, rng) -> list[tuple[str, str]]:
    plants = []
    related = [m for d in movie.directors for m in by_director.get(d, []) if m.movie_id != movie.movie_id]
    sequels = [m for t in movie.titles if t.split() for m in by_first_word.get(t.split()[0].lower(), [])
               if m.movie_id != movie.movie_id and len(t.split()[0]) > 3]
    cast = sorted({c for m in sequels + related for c in m.cast} - movie.cast)
    if cast:
        plants.append(("FACTOR_KIND_CAST", str(rng.choice(cast)).title()))
    genres = sorted({g for m in related for g in m.genres} - movie.genres)
    if genres:
        plants.append(("FACTOR_KIND_GENRE", str(rng.choice(genres)).title()))
    if movie.years:
        decade = min(movie.decades) + int(rng.choice((-10, 10)))
        plants.append(("FACTOR_KIND_DECADE", f"{decade}s"))
    if movie.runtimes:
        plants.append(("FACTOR_KIND_RUNTIME", f"{min(movie.runtimes) + int(rng.choice((-2, 2)))} min"))
    return plants


def check_samples(samples: list[Sample], catalog, store, raw, seed: int) -> dict:
    """Every measure of this section on any set of recommendations — the hook for other explainers (the
    LLM path's evaluation builds :class:`Sample` objects from its outputs and calls this): catalog
    consistency (the ranker's verifier + the catalog-based checker), the raw-data check with the
    similarity rule, the injected false claims and the near-miss plants."""
    out = {"catalog_consistency": evaluate(samples, catalog, store, proposed_claim_counts(samples, store)),
           "raw_data": raw_check(samples, raw, store, seed)}
    out["catalog_consistency"]["injected_false_claims"] = injected_false_claims(samples, catalog, store, seed)
    out["near_miss_claims"] = near_miss_claims(samples, raw, store, seed)
    return out
