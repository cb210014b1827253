"""Section 5: conversational recommendation on INSPIRED (Hayati et al., EMNLP 2020), dev and test.

Data format (``../shared/data/inspired/{dev,test}.tsv``): one utterance per row — ``dialog_id``, ``utt_id``,
``speaker`` (SEEKER/RECOMMENDER), ``text``, and ``movies`` ("Title (Year); Title (Year)") naming the
movies mentioned in that utterance. Titles are mapped to the catalog by exact folded title + year
(the catalog's own title search; the first hit must have that year and that title).

Targets: every RECOMMENDER utterance that names a catalog movie; each named movie is one target.
"New" targets are movies not mentioned earlier in the dialogue (the fair case: a recommendation, not
a repetition); for them the movies mentioned earlier are excluded from the ranking, as seen movies
are in the product. The ranking is over the whole catalog (9,741 movies), from the dialogue so far:

* ``chat path`` (the product's): the seeker starts at the profile tier's cold-start vector; each
  seeker message is embedded and moves the taste by the chat EMA step ``u = normalize(0.8·u + 0.2·e)``;
  the turn's query is ``blend(taste, last seeker message, 0.5)`` as the gateway's chat does;
* ``dialogue text``: one embedding of the seeker's messages so far (most recent 1,000 characters).

Recall@K = share of targets ranked in the top K. The dialogue-level figure is the share of dialogues
whose recommended movie (the last movie the recommender named that the seeker had not named before)
is in the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

KS = (1, 10, 50)
TEXT_WINDOW = 1000
_MOVIE_RE = re.compile(r"^(?P<title>.+?)\s*\((?P<year>\d{4})\)$")


@dataclass(frozen=True)
class Target:
    dialog: str
    turn: int
    movie_id: int
    new: bool
    earlier: tuple[int, ...]  # catalog movies mentioned before this utterance
    seeker_texts: tuple[str, ...]  # seeker messages before this utterance


def read_dialogues(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    missing = {"dialog_id", "utt_id", "speaker", "text", "movies"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    frame["utt_id"] = frame.utt_id.astype(int)
    frame["text"] = frame.text.str.replace("QUOTATION_MARK", '"', regex=False).str.strip()
    return frame.sort_values(["dialog_id", "utt_id"], kind="stable").reset_index(drop=True)


def title_matcher(catalog):
    """(title, year) → catalog movie id, or None."""
    from movierec_catalog.text import fold

    cache: dict[str, int | None] = {}

    def match(mention: str) -> int | None:
        mention = mention.strip()
        if mention in cache:
            return cache[mention]
        found = None
        parsed = _MOVIE_RE.match(mention)
        if parsed:
            title, year = parsed.group("title"), int(parsed.group("year"))
            wanted = fold(title)
            for movie in catalog.search_titles(f"{title} {year}", limit=5):
                if movie.year == year and wanted in {fold(movie.title), fold(movie.title.split(" (")[0])}:
                    found = movie.movie_id
                    break
        cache[mention] = found
        return found

    return match


def mentions(cell: str) -> list[str]:
    return [m.strip() for m in cell.split(";") if m.strip()]


def collect(frame: pd.DataFrame, match) -> tuple[list[Target], dict]:
    targets: list[Target] = []
    dialogues = with_recommendation = recommended_in_catalog = 0
    named = named_in_catalog = 0
    for dialog, rows in frame.groupby("dialog_id", sort=True):
        dialogues += 1
        earlier: list[int] = []
        seeker_named: set[str] = set()
        seeker_texts: list[str] = []
        recommended: tuple[str, int | None] | None = None
        for row in rows.itertuples():
            names = mentions(row.movies)
            ids = [match(n) for n in names]
            if row.speaker == "RECOMMENDER":
                for name, movie_id in zip(names, ids, strict=True):
                    named += 1
                    if name not in seeker_named:
                        recommended = (name, movie_id)
                    if movie_id is None:
                        continue
                    named_in_catalog += 1
                    targets.append(Target(dialog, row.utt_id, movie_id, movie_id not in earlier, tuple(earlier),
                                          tuple(seeker_texts)))
            else:
                seeker_named.update(names)
                if row.text:
                    seeker_texts.append(row.text)
            earlier.extend(m for m in ids if m is not None and m not in earlier)
        if recommended is not None:
            with_recommendation += 1
            recommended_in_catalog += recommended[1] is not None
    stats = {"dialogues": dialogues, "dialogues_with_a_recommended_movie": with_recommendation,
             "recommended_movie_in_catalog": recommended_in_catalog,
             "recommended_movie_in_catalog_share": round(recommended_in_catalog / max(1, with_recommendation), 4),
             "recommender_movie_mentions": named, "mentions_in_catalog": named_in_catalog,
             "mentions_in_catalog_share": round(named_in_catalog / max(1, named), 4)}
    return targets, stats


def chat_path_queries(targets: list[Target], encoder, cold_start: np.ndarray, alpha: float,
                      message_weight: float) -> np.ndarray:
    """The gateway's chat query after the seeker messages before each target."""
    from gateway_service.recommend import blend
    from profile_service.taste import ema_step

    texts = sorted({t for target in targets for t in target.seeker_texts})
    vectors = dict(zip(texts, encoder.encode(texts), strict=True)) if texts else {}
    queries = []
    for target in targets:
        taste = cold_start
        for text in target.seeker_texts:
            taste = ema_step(taste, vectors[text], alpha)
        if target.seeker_texts:
            queries.append(blend(taste.astype(np.float64), vectors[target.seeker_texts[-1]], message_weight))
        else:
            queries.append(np.asarray(cold_start, dtype=np.float64))
    return np.asarray(queries, dtype=np.float32)


def dialogue_text_queries(targets: list[Target], encoder, cold_start: np.ndarray) -> np.ndarray:
    texts = [" ".join(t.seeker_texts)[-TEXT_WINDOW:] for t in targets]
    present = [i for i, t in enumerate(texts) if t]
    out = np.tile(cold_start.astype(np.float32), (len(targets), 1))
    if present:
        out[present] = encoder.encode([texts[i] for i in present])
    return out


def recall(queries: np.ndarray, targets: list[Target], index, only_new: bool) -> dict:
    row_of = index.row_of()
    chosen = [i for i, t in enumerate(targets) if t.new or not only_new]
    scores = queries[chosen] @ index.vectors.T
    ranks = []
    for position, i in enumerate(chosen):
        target = targets[i]
        row_scores = scores[position]
        if only_new:
            row_scores[[row_of[m] for m in target.earlier if m in row_of]] = -np.inf
        ranks.append(int((row_scores > row_scores[row_of[target.movie_id]]).sum()))
    ranks = np.asarray(ranks)
    return {"targets": len(chosen), **{f"recall@{k}": round(float((ranks < k).mean()), 4) for k in KS},
            "median_rank": int(np.median(ranks)) + 1 if len(ranks) else None}


def evaluate(data_dir: Path, catalog, index, encoder, cold_start: np.ndarray, taste_constants,
             message_weight: float) -> dict:
    match = title_matcher(catalog)
    out = {"protocol": __doc__.split("\n\n", 1)[1].strip()}
    for split in ("dev", "test"):
        frame = read_dialogues(data_dir / "inspired" / f"{split}.tsv")
        targets, stats = collect(frame, match)
        rows = index.row_of()
        targets = [t for t in targets if t.movie_id in rows]
        chat = chat_path_queries(targets, encoder, cold_start, taste_constants.message_alpha, message_weight)
        text = dialogue_text_queries(targets, encoder, cold_start)
        popular = np.tile(cold_start, (len(targets), 1))
        out[split] = {**stats, "utterances": len(frame), "results": {
            name: {"new_mentions": recall(q, targets, index, True), "all_mentions": recall(q, targets, index, False)}
            for name, q in (("chat path", chat), ("dialogue text", text), ("cold-start vector only", popular))}}
    return out
