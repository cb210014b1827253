"""Fine-tuning JSONL: chat format, 1–5 targets, the target masked from its own profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ranker_service.finetune_data import build, describe, target_stars
from ranker_service.movies import facts_from_frame


def test_jsonl_examples_mask_their_target(tmp_path, catalog):
    manifest = build(tmp_path, max_examples=60, per_user=5, seed=1)
    facts = facts_from_frame(catalog.movies)
    described = {describe(movie): movie_id for movie_id, movie in facts.items()}
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["examples"]["train"] == 60
    for row in rows:
        system, user, assistant = row["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        assert assistant["content"] in {"1", "2", "3", "4", "5"}
        profile, candidate = user["content"].split("\n\nCandidate movie:\n")
        target_line = candidate.splitlines()[0]
        assert target_line in described, target_line
        profile_movies = [line[2:].rsplit(": ", 1)[0] for line in profile.splitlines()[1:]]
        assert target_line not in profile_movies, "the target must be masked from its own profile"
        assert 1 <= len(profile_movies) <= 15
    assert (tmp_path / "validation.jsonl").stat().st_size > 0


def test_half_stars_round_up():
    assert [target_stars(r) for r in (0.5, 1.0, 2.5, 3.5, 4.0, 4.5, 5.0)] == [1, 1, 3, 4, 4, 5, 5]


def test_submit_without_a_key_fails_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "ranker_service.finetune_data", "--out", str(tmp_path),
                             "--max-examples", "20", "--submit"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 2
    assert "OPENAI_API_KEY is not set" in result.stderr
    assert (tmp_path / "train.jsonl").exists()


def test_submit_without_network_fails_clearly(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    result = subprocess.run([sys.executable, "-m", "ranker_service.finetune_data", "--out", str(tmp_path),
                             "--max-examples", "20", "--submit"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 3
    assert "cannot reach the OpenAI API" in result.stderr
