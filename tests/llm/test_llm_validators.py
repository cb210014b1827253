"""The validators on RECORDED REAL outputs of Qwen2.5-Coder-0.5B-Instruct (tests/llm/fixtures, captured by
``python -m movierec_eval.llm_eval --fixtures``): fast, no server needed."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from movierec_llm import parse_and_validate
from movierec_llm.prompts import rerank, taste

RECORDED = json.loads((FIXTURES / "qwen2.5-coder-0.5b.json").read_text())["records"]


def records(use: str) -> list[dict]:
    return [r for r in RECORDED if r["use"] == use and r["content"]]


def test_the_fixture_holds_real_answers_for_each_use():
    assert records("taste") and records("rerank")
    assert all(r["model"].startswith("qwen2.5-coder-0.5b") for r in RECORDED)


def test_a_real_rerank_answer_cut_at_the_token_limit_is_invalid_json_not_a_crash():
    truncated = [r for r in records("rerank") if r["error"] == "truncated"]
    assert truncated
    for record in truncated:
        data, error, detail = parse_and_validate(record["content"], record["schema"])
        assert data is None and error == "invalid_json" and detail
        ids = record["schema"]["properties"]["picks"]["items"]["properties"]["id"]["enum"]
        first_id = int(record["content"].split('"id":')[1].split(",")[0])
        assert first_id in ids  # the grammar kept even the partial answer inside the candidates


@pytest.mark.parametrize("record", records("taste"), ids=lambda r: r["content"][:30])
def test_real_taste_rewrites_are_schema_valid_and_judged_by_the_validator(record):
    data, error, _ = parse_and_validate(record["content"], record["schema"])
    assert error is None
    original = record["messages"][-1]["content"]
    description, why = taste.taste_of(data, original)
    if "romance, romance, romance" in record["content"]:
        assert description is None and "repeats" in why  # a real degenerate answer is refused
    else:
        assert description == " ".join(data["taste"].split())


def test_negations_must_survive_the_rewrite():
    assert taste.taste_of({"taste": "gritty heist thrillers"}, "heist movies, no gore")[0] is None
    kept = taste.taste_of({"taste": "heist thrillers, no gore"}, "heist movies, no gore")[0]
    assert kept == "heist thrillers, no gore"


def test_rerank_schema_rejects_ids_outside_the_candidates():
    schema = rerank.schema([1, 2, 3], 2)
    ok = json.dumps({"picks": [{"id": 1, "kind": "genre", "value": "Drama"}, {"id": 3, "kind": "genre", "value": "X"}]})
    assert parse_and_validate(ok, schema)[1] is None
    bad = ok.replace('"id": 3', '"id": 9')
    assert parse_and_validate(bad, schema)[1] == "invalid_output"
