"""Fine-tuning data for an LLM rating predictor: ``python -m ranker_service.finetune_data [--submit]``.

Builds OpenAI chat-format JSONL ("user profile + candidate movie → rating 1–5") from the catalog's
ml-latest-small ratings. Each example's target rating is masked from its profile: the profile holds
other ratings of the same user only, preferring those made before the target (what the person had
said by then). Users are split 90/10 into ``train.jsonl`` and ``validation.jsonl`` so no person is
in both. Output: ``artifacts/finetune/{train,validation}.jsonl`` + ``manifest.json``.

``--submit`` uploads both files and creates the fine-tuning job with the ``openai`` package
(needs ``OPENAI_API_KEY`` and network access to the API; base model ``--base-model``). Without a
key or network it stops with a clear message and exit status 2 or 3; the JSONL is still written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_core.paths import artifacts_dir
from ranker_service.movies import MovieFacts, facts_from_frame

SYSTEM = ("You predict how a person will rate a movie on MovieLens, from 1 (hated it) to 5 (loved it), "
          "given the ratings they gave other movies. Answer with the single digit only.")
PROFILE_SIZE = 15
DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"


def target_stars(rating: float) -> int:
    """0.5–5.0 half stars → 1–5 (half stars round up: 3.5 → 4)."""
    return int(min(5, max(1, math.floor(rating + 0.5))))


def describe(movie: MovieFacts) -> str:
    parts = [movie.label]
    if movie.genres:
        parts.append(", ".join(movie.genres))
    if movie.director:
        parts.append(f"dir. {movie.director}")
    return " | ".join(parts)


def profile_lines(history: pd.DataFrame, target_time: int, facts: dict[int, MovieFacts]) -> list[str]:
    """Up to PROFILE_SIZE other ratings: the latest ones before the target, topped up with later ones."""
    before = history[history.timestamp <= target_time].sort_values("timestamp", ascending=False)
    after = history[history.timestamp > target_time].sort_values("timestamp")
    chosen = pd.concat([before, after]).head(PROFILE_SIZE)
    return [f"- {describe(facts[m])}: {r:g}/5" for m, r in zip(chosen.movie_id, chosen.rating, strict=True)
            if m in facts]


def candidate_text(movie: MovieFacts) -> str:
    lines = [describe(movie)]
    if movie.cast:
        lines.append("Cast: " + ", ".join(movie.cast[:4]))
    if movie.keywords:
        lines.append("Keywords: " + ", ".join(movie.keywords[:8]))
    if movie.overview:
        lines.append("Plot: " + movie.overview[:400])
    return "\n".join(lines)


def examples(ratings: pd.DataFrame, facts: dict[int, MovieFacts], users: np.ndarray, per_user: int,
             rng: np.random.Generator) -> Iterator[dict]:
    by_user = dict(tuple(ratings[ratings.user_id.isin(users)].groupby("user_id")))
    for user_id in users:
        rows = by_user.get(user_id)
        if rows is None or len(rows) < 6:
            continue
        picks = rng.choice(len(rows), size=min(per_user, len(rows)), replace=False)
        for i in sorted(picks):
            target = rows.iloc[i]
            if int(target.movie_id) not in facts:
                continue
            others = rows.drop(rows.index[i])  # the target is masked from its own profile
            profile = "\n".join(profile_lines(others, int(target.timestamp), facts))
            user_text = (f"Ratings this person gave:\n{profile}\n\nCandidate movie:\n"
                         f"{candidate_text(facts[int(target.movie_id)])}\n\nTheir rating (1-5)?")
            yield {"messages": [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": user_text},
                                {"role": "assistant", "content": str(target_stars(float(target.rating)))}]}


def write_jsonl(path: Path, rows: Iterator[dict], limit: int) -> int:
    count = 0
    with path.open("w") as handle:
        for row in rows:
            if count >= limit:
                break
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def build(out_dir: Path, max_examples: int, per_user: int, seed: int, catalog_dir: Path | None = None) -> dict:
    from movierec_catalog import load_catalog, load_ratings

    facts = facts_from_frame(load_catalog(catalog_dir).movies)
    ratings = load_ratings(catalog_dir)
    rng = np.random.default_rng(seed)
    users = rng.permutation(ratings.user_id.unique())
    cut = max(1, len(users) // 10)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        "validation": write_jsonl(out_dir / "validation.jsonl", examples(ratings, facts, users[:cut], per_user, rng),
                                  max(10, max_examples // 10)),
        "train": write_jsonl(out_dir / "train.jsonl", examples(ratings, facts, users[cut:], per_user, rng),
                             max_examples),
    }
    manifest = {"format": "openai-chat-jsonl", "task": "profile + candidate -> rating 1-5", "seed": seed,
                "per_user": per_user, "profile_size": PROFILE_SIZE, "examples": counts,
                "users": {"validation": int(cut), "train": int(len(users) - cut)}}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


class SubmitError(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def submit(out_dir: Path, base_model: str) -> str:
    """Upload the files and create the fine-tuning job; returns the job id."""
    if not os.environ.get("OPENAI_API_KEY"):
        raise SubmitError("OPENAI_API_KEY is not set: --submit needs an OpenAI API key (the JSONL files are "
                          f"written in {out_dir}; upload them later with --submit)", 2)
    import openai

    client = openai.OpenAI(max_retries=1, timeout=60)
    try:
        with (out_dir / "train.jsonl").open("rb") as train, (out_dir / "validation.jsonl").open("rb") as valid:
            train_file = client.files.create(file=train, purpose="fine-tune")
            valid_file = client.files.create(file=valid, purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=base_model, training_file=train_file.id,
                                             validation_file=valid_file.id, suffix="movierec-rating")
    except openai.APIConnectionError as error:
        raise SubmitError(f"cannot reach the OpenAI API ({error}); check network access and OPENAI_BASE_URL", 3) \
            from None
    except openai.APIStatusError as error:
        raise SubmitError(f"the OpenAI API refused the fine-tuning request: HTTP {error.status_code} "
                          f"{error.message}", 3) from None
    return job.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI fine-tuning JSONL from ratings (target masked).")
    parser.add_argument("--out", type=Path, default=artifacts_dir() / "finetune")
    parser.add_argument("--catalog", type=Path, default=None)
    parser.add_argument("--max-examples", type=int, default=10_000, help="training examples (validation: 10%%)")
    parser.add_argument("--per-user", type=int, default=40, help="examples drawn per user")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--submit", action="store_true", help="upload and create the fine-tuning job")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.max_examples, args.per_user, args.seed, args.catalog)
    print(f"wrote {args.out}/train.jsonl ({manifest['examples']['train']} examples) and validation.jsonl "
          f"({manifest['examples']['validation']})")
    if args.submit:
        try:
            job_id = submit(args.out, args.base_model)
        except SubmitError as error:
            print(f"finetune_data: --submit failed: {error}", file=sys.stderr)
            return error.status
        print(f"created fine-tuning job {job_id} on {args.base_model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
