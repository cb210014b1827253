"""Fine-tuning JSONL in exactly the serving rerank format: same prompt builder, same schema, verified reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from movierec_jobs.finetune_data import InvalidExample, build, validate_example
from movierec_llm.prompts import rerank as rerank_prompt


def test_examples_are_serving_prompts_with_schema_valid_answers(tmp_path, store):
    manifest = build(tmp_path, max_examples=20, per_user=6, seed=1, store=store)
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["examples"]["train"] > 0
    assert manifest["prompt_version"] == rerank_prompt.VERSION
    for row in rows:
        system, user, assistant = row["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        n = len(json.loads(assistant["content"])["picks"])
        assert system["content"] == rerank_prompt.SYSTEM.replace("{n}", str(n))  # the served template
        payload = json.loads(user["content"])
        assert set(payload) == {"USER", "RECENT_TURNS", "REQUEST", "CANDIDATES"}
        data = validate_example(row)
        candidates = {c["id"] for c in payload["CANDIDATES"]}
        assert {p["id"] for p in data["picks"]} <= candidates
        for pick in data["picks"]:  # the target is never in its own profile
            assert store.get(pick["id"]).label not in payload["USER"]["liked"] + payload["USER"]["disliked"]


def test_a_reason_quoting_the_longest_liked_title_is_schema_valid(store):
    # similar_to_liked must quote a liked title exactly; MovieLens titles with alternates run past 150 chars.
    from ranker_service.history import UserHistory
    from ranker_service.llm import LlmCandidate, PromptContext, claim_of, rerank_messages

    longest = max(store.facts.values(), key=lambda movie: len(movie.label))
    assert len(longest.label) > rerank_prompt.VALUE_MAX_CHARS
    history = UserHistory(ratings={longest.movie_id: 5.0})
    target = next(store.get(m) for m in store.row_of if m != longest.movie_id)
    messages = rerank_messages(PromptContext(history, [], ""), store, [LlmCandidate(target, 0.5, 0.5)], 1)
    pick = rerank_prompt.RerankPick(target.movie_id, "similar_to_liked", longest.label)
    example = {"messages": [*messages, {"role": "assistant", "content": json.dumps(rerank_prompt.answer([pick]))}]}
    assert validate_example(example)["picks"][0]["value"] == longest.label
    assert claim_of(pick, history, store).source_movie_id == longest.movie_id
    too_long = rerank_prompt.RerankPick(target.movie_id, "keyword", "x" * (len(longest.label) + 1))
    example["messages"][2]["content"] = json.dumps(rerank_prompt.answer([too_long]))
    with pytest.raises(InvalidExample, match="too long"):
        validate_example(example)


def test_an_answer_outside_the_schema_is_rejected(tmp_path, store):
    build(tmp_path, max_examples=3, per_user=6, seed=2, store=store)
    row = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    answer = json.loads(row["messages"][2]["content"])
    answer["picks"][0]["id"] = 999_999_999
    row["messages"][2]["content"] = json.dumps(answer)
    with pytest.raises(InvalidExample, match="invalid_output"):
        validate_example(row)


def test_submit_without_a_key_fails_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "movierec_jobs.finetune_data", "--out", str(tmp_path),
                             "--max-examples", "20", "--submit"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 2
    assert "OPENAI_API_KEY is not set" in result.stderr
    assert (tmp_path / "train.jsonl").exists()


def test_submit_without_network_fails_clearly(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = subprocess.run([sys.executable, "-m", "movierec_jobs.finetune_data", "--out", str(tmp_path),
                             "--max-examples", "20", "--submit"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 3
    assert "cannot reach the OpenAI API" in result.stderr
