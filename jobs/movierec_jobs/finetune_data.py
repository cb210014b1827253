"""Fine-tuning data for the ranker's LLM rerank: ``python -m movierec_jobs.finetune_data [--submit]``.

Every example is exactly what the ranker sends and expects at serving time: the messages come from
the same builder (``ranker_service.llm.rerank_messages`` → ``movierec_llm.prompts.rerank``), and the
assistant answer is the rerank JSON, validated with the same schema (``rerank.schema``) before it is
written. From ml-latest-small, per example: a cut-off time in one person's history; USER = their
liked/disliked movies *before* the cut-off; CANDIDATES = the movies they rated ≥ 4 in their next
ratings (the positives, at most ``n``) mixed with movies they never rated, shuffled, each with the
numeric score's content part (cosine to the mean liked vector) as ``score``; the answer = the
positives in the order they were watched, each with the first reason the ranker's own explainer
proposes *and its verifier accepts*. Users are split 90/10 into ``train.jsonl`` / ``validation.jsonl``.

``--submit`` uploads both files and creates an OpenAI fine-tuning job (needs ``OPENAI_API_KEY`` and
network; exit 2 without a key, 3 when the API is unreachable or refuses). See the ranker README for
serving the resulting ``ft:`` model or a LoRA-tuned local GGUF.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_core.paths import artifacts_dir
from movierec_llm import parse_and_validate
from movierec_llm.prompts import rerank as rerank_prompt
from ranker_service.explain import liked_neighbours, propose_claims
from ranker_service.history import UserHistory
from ranker_service.llm import KIND_OF_REASON, LlmCandidate, PromptContext, rerank_messages
from ranker_service.movies import MovieStore
from ranker_service.verify import KIND_NAMES, verify_claims

DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
POOL = 20
PICKS = 5
HISTORY_MIN = 8


class InvalidExample(ValueError):
    """An example whose answer the serving schema rejects (never written)."""


def validate_example(example: dict) -> dict:
    """The answer of ``example`` parsed and checked with the serving schema for its own candidates."""
    system, user, assistant = example["messages"]
    payload = json.loads(user["content"])
    ids = [c["id"] for c in payload["CANDIDATES"]]
    n = int(system["content"].split("Pick the ")[1].split()[0])
    schema = rerank_prompt.schema(ids, n, payload["USER"]["liked"])
    data, error, detail = parse_and_validate(assistant["content"], schema)
    if error:
        raise InvalidExample(f"{error}: {detail}")
    _picks, duplicates = rerank_prompt.picks_of(data)
    if duplicates:
        raise InvalidExample(f"{duplicates} repeated ids")
    return data


def reason_of(movie_id: int, history: UserHistory, store: MovieStore) -> rerank_prompt.RerankPick | None:
    movie = store.get(movie_id)
    near = liked_neighbours(store, [movie_id], history.liked_ids())[0]
    for claim in verify_claims(propose_claims(movie, history, store, near), movie, history, store, origin="grounded"):
        kind = KIND_NAMES[claim.kind].removeprefix("FACTOR_KIND_").lower()
        if kind in rerank_prompt.REASON_KINDS and KIND_OF_REASON.get(kind) == claim.kind:
            return rerank_prompt.RerankPick(movie_id, kind, claim.value)
    return None


def example_for(rows: pd.DataFrame, cut: int, store: MovieStore, unseen_pool: np.ndarray,
                rng: np.random.Generator) -> dict | None:
    before, after = rows.iloc[:cut], rows.iloc[cut:cut + 15]
    history = UserHistory(ratings=dict(zip(before.movie_id.astype(int), before.rating.astype(float), strict=True)))
    positives = [int(m) for m, r in zip(after.movie_id, after.rating, strict=True)
                 if r >= 4.0 and m in store.row_of and store.get(int(m)) is not None][:PICKS]
    liked = [m for m in history.liked_ids() if m in store.row_of]
    if len(positives) < 2 or not liked:
        return None
    seen = set(rows.movie_id.astype(int))
    negatives = [int(m) for m in rng.choice(unseen_pool, size=POOL * 3, replace=False) if int(m) not in seen]
    pool = positives + negatives[:POOL - len(positives)]
    rng.shuffle(pool)
    taste = store.vectors_of(liked).mean(axis=0)
    taste /= np.linalg.norm(taste) or 1.0
    scores = store.vectors_of(pool) @ taste
    candidates = [LlmCandidate(store.get(m), float(s), float(s)) for m, s in zip(pool, scores, strict=True)]
    picks = [reason_of(m, history, store) for m in positives]
    if any(p is None for p in picks):
        return None
    context = PromptContext(history, [], "")
    messages = rerank_messages(context, store, candidates, len(positives))
    answer = json.dumps(rerank_prompt.answer(picks), ensure_ascii=False, separators=(",", ":"))
    example = {"messages": [*messages, {"role": "assistant", "content": answer}]}
    validate_example(example)  # the serving schema: an answer it rejects is a bug here, never written
    return example


def examples(ratings: pd.DataFrame, store: MovieStore, users: np.ndarray, per_user: int, rng: np.random.Generator):
    unseen_pool = np.array([m for m in store.row_of if store.get(m) is not None])
    by_user = dict(tuple(ratings[ratings.user_id.isin(users)].groupby("user_id")))
    for user_id in users:
        rows = by_user.get(user_id)
        if rows is None or len(rows) < HISTORY_MIN + 5:
            continue
        rows = rows.sort_values(["timestamp", "movie_id"])
        for cut in sorted(rng.choice(np.arange(HISTORY_MIN, len(rows) - 4), size=min(per_user, len(rows) - 12),
                                     replace=False)):
            example = example_for(rows, int(cut), store, unseen_pool, rng)
            if example is not None:
                yield example


def write_jsonl(path: Path, rows, limit: int) -> int:
    count = 0
    with path.open("w") as handle:
        for row in rows:
            if count >= limit:
                break
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def build(out_dir: Path, max_examples: int, per_user: int, seed: int, store: MovieStore | None = None) -> dict:
    from movierec_catalog import load_ratings

    if store is None:
        from ranker_service.app import load_store
        from ranker_service.settings import RankerSettings

        store = load_store(RankerSettings.from_env())
    ratings = load_ratings()
    # Only movies the ranker can show (facts + a vector) can be candidates or appear in the prompt.
    ratings = ratings[ratings.movie_id.isin(list(store.row_of))]
    rng = np.random.default_rng(seed)
    users = rng.permutation(ratings.user_id.unique())
    cut = max(1, len(users) // 10)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        "validation": write_jsonl(out_dir / "validation.jsonl", examples(ratings, store, users[:cut], per_user, rng),
                                  max(5, max_examples // 10)),
        "train": write_jsonl(out_dir / "train.jsonl", examples(ratings, store, users[cut:], per_user, rng),
                             max_examples),
    }
    manifest = {"format": "openai-chat-jsonl", "task": "listwise rerank, the serving prompt and JSON answer",
                "prompt_version": rerank_prompt.VERSION, "pool": POOL, "max_picks": PICKS, "seed": seed,
                "per_user": per_user, "examples": counts,
                "score": "cosine to the mean liked vector (the content part of the numeric score)",
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
                                             validation_file=valid_file.id, suffix="movierec-rerank")
    except openai.APIConnectionError as error:
        raise SubmitError(f"cannot reach the OpenAI API ({error}); check network access and OPENAI_BASE_URL", 3) \
            from None
    except openai.APIStatusError as error:
        raise SubmitError(f"the OpenAI API refused the fine-tuning request: HTTP {error.status_code} "
                          f"{error.message}", 3) from None
    return job.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fine-tuning JSONL in the ranker's serving rerank format.")
    parser.add_argument("--out", type=Path, default=artifacts_dir() / "finetune")
    parser.add_argument("--max-examples", type=int, default=5_000, help="training examples (validation: 10%%)")
    parser.add_argument("--per-user", type=int, default=10, help="cut-off points drawn per user")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--submit", action="store_true", help="upload and create the fine-tuning job")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    args = parser.parse_args(argv)
    manifest = build(args.out, args.max_examples, args.per_user, args.seed)
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
