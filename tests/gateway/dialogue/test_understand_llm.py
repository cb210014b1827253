"""LLM understanding against a real local LLM server (skipped unless MOVIEREC_TEST_LLM_URL is set)."""

import asyncio
import os

import pytest

from gateway_service.dialogue.llm_understand import understand_with_llm
from gateway_service.dialogue.understand import DialogueContext
from movierec_llm import LlmClient, LlmSettings, parse_and_validate
from movierec_llm.prompts import understand as prompt


@pytest.fixture(scope="module")
def llm_client():
    url = os.environ.get("MOVIEREC_TEST_LLM_URL")
    if not url:
        pytest.skip("MOVIEREC_TEST_LLM_URL is not set")
    return LlmClient(LlmSettings(base_url=url))


@pytest.mark.llm
def test_real_llm_answer_is_valid_and_merged_never_looser(llm_client, resources):
    ctx = DialogueContext(resources=resources)
    u, by, fallback = asyncio.run(understand_with_llm("no horror or zombies, something like Hot Fuzz", ctx,
                                                      llm_client, timeout_s=60))
    assert by == "rules+llm", fallback
    assert "Horror" in u.constraints.exclude_genres  # the rules' exclusion survives whatever the LLM says
    assert 51255 in [t.movie_id for t in u.seeds.titles]


def test_schema_accepts_an_empty_reading():
    empty = ('{"act":"recommend","include_genres":[],"exclude_genres":[],"max_certification":"",'
             '"min_certification":"","max_runtime_min":0,"min_runtime_min":0,"min_year":0,"max_year":0,'
             '"language":"","exclude_titles":[],"seed_titles":[],"exclude_franchises":[],"pick_refs":[],'
             '"taste_text":"","avoid_text":""}')
    data, error, _ = parse_and_validate(empty, prompt.SCHEMA)
    assert error is None and data["act"] == "recommend"
    _, error, _ = parse_and_validate(empty.replace('"recommend"', '"dance"'), prompt.SCHEMA)
    assert error is not None
