"""The taste normalizer as the gateway calls it (gateway_service/taste_text.py), against the scripted
OpenAI-compatible server of the ranker's fault tests: a rewrite used, an invalid answer, a timeout, an
unfaithful rewrite refused — the person's own words are embedded whenever the rewrite is not used —
and end to end through a real gateway process (onboarding and a chat turn)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from gateway_helpers import signup

from gateway_service import taste_text
from gateway_service.dialogue.understand import understand
from movierec_core.deadlines import deadline_var
from movierec_llm import LlmClient, LlmSettings

sys.path.insert(0, str(Path(__file__).parents[1] / "ranker"))  # the scripted LLM server lives with the ranker tests
from ranker_fake_llm import FakeChatServer


@pytest.fixture(scope="module")
def fake_llm():
    with FakeChatServer() as server:
        yield server


@pytest.fixture(autouse=True)
def reset(fake_llm):
    fake_llm.script.__init__()


def services(fake_llm, *, on: bool = True, timeout_s: float = 2.0):
    client = LlmClient(LlmSettings(base_url=fake_llm.base_url, model="fake", timeouts_s={"taste": timeout_s}))
    return SimpleNamespace(settings=SimpleNamespace(taste_normalizer=on), extras={"llm_client": client})


async def test_a_faithful_rewrite_is_embedded(fake_llm):
    fake_llm.script.taste = "slow-burn heist thrillers"
    taste = await taste_text.normalized(services(fake_llm), "umm something like a heist thriller but slow")
    assert (taste.text, taste.source, taste.fallback) == ("slow-burn heist thrillers", "llm", None)
    sent = fake_llm.script.requests[-1]
    assert sent["response_format"]["json_schema"]["name"] == "taste"
    assert sent["messages"][-1]["content"] == "umm something like a heist thriller but slow"


async def test_invalid_json_keeps_the_original(fake_llm):
    fake_llm.script.mode = "malformed"
    taste = await taste_text.normalized(services(fake_llm), "gritty gangster stories")
    assert (taste.text, taste.source) == ("gritty gangster stories", "original")
    assert taste.fallback.startswith("invalid_json")


async def test_a_timeout_keeps_the_original_within_the_timeout(fake_llm):
    fake_llm.script.delay_s = 2.0
    started = time.perf_counter()
    taste = await taste_text.normalized(services(fake_llm, timeout_s=0.3), "gritty gangster stories")
    assert time.perf_counter() - started < 1.5
    assert (taste.text, taste.source) == ("gritty gangster stories", "original")
    assert taste.fallback.startswith("timeout")


async def test_a_genre_the_person_did_not_say_is_refused(fake_llm):
    fake_llm.script.taste = "horror"  # the 0.5B model's real answer to this INSPIRED utterance
    taste = await taste_text.normalized(services(fake_llm), "Which movie genre are you interested in?")
    assert taste.source == "original" and taste.fallback.startswith("adds_genre") and "Horror" in taste.fallback


async def test_an_excluded_genre_turned_into_a_wish_is_refused(fake_llm):
    fake_llm.script.taste = "horror comedies"
    taste = await taste_text.normalized(services(fake_llm), "comedies, no horror")
    assert taste.source == "original" and taste.fallback.startswith("inverts_negation"), taste.fallback


async def test_a_ruled_out_tone_turned_into_a_wish_is_refused(fake_llm):
    fake_llm.script.taste = "slow moody crime dramas"
    taste = await taste_text.normalized(services(fake_llm), "crime dramas, nothing slow")
    assert taste.source == "original" and "slow" in taste.fallback, taste.fallback


async def test_a_dropped_negation_is_refused(fake_llm):
    fake_llm.script.taste = "crime dramas"  # "no gore" is gone: movierec_llm's validator refuses it
    taste = await taste_text.normalized(services(fake_llm), "crime dramas, no gore")
    assert taste.source == "original" and "negated" in taste.fallback, taste.fallback


async def test_a_kept_negation_passes(fake_llm):
    fake_llm.script.taste = "crime dramas, no gore"
    taste = await taste_text.normalized(services(fake_llm), "crime drama stuff but no gore pls")
    assert (taste.text, taste.source) == ("crime dramas, no gore", "llm")


async def test_off_means_no_call(fake_llm):
    taste = await taste_text.normalized(services(fake_llm, on=False), "gritty gangster stories")
    assert (taste.text, taste.source, taste.fallback) == ("gritty gangster stories", "original", None)
    assert fake_llm.script.requests == []


async def test_no_time_left_in_the_request_means_no_call(fake_llm):
    token = deadline_var.set(time.monotonic() + taste_text.RESERVE_S / 2)
    try:
        taste = await taste_text.normalized(services(fake_llm), "gritty gangster stories")
    finally:
        deadline_var.reset(token)
    assert taste.source == "original" and taste.fallback.startswith("deadline")
    assert fake_llm.script.requests == []


async def test_a_chat_turn_embeds_the_positive_part_of_the_rewrite(fake_llm):
    fake_llm.script.taste = "gritty heist thrillers, no gore"
    message = "heist thrillers that feel gritty, no gore"
    u = understand(message)
    rewritten, taste = await taste_text.for_turn(services(fake_llm), u, message)
    assert taste.source == "llm" and rewritten.residual_text == "gritty heist thrillers"
    assert u.residual_text == understand(message).residual_text, "the turn's own understanding is not changed"
    fake_llm.script.requests.clear()
    assert await taste_text.for_turn(services(fake_llm), understand("thanks!"), "thanks!") == (understand("thanks!"),
                                                                                               None)
    assert fake_llm.script.requests == [], "no taste text, no call"


# ---- end to end: a real gateway process with the normalizer on ------------------------------------------------

@pytest.mark.slow
def test_onboarding_and_chat_report_which_text_was_embedded(stack, start_gateway, fake_llm):
    import httpx

    gateway = start_gateway(LLM_BASE_URL=fake_llm.base_url, LLM_MODEL="fake", GATEWAY_TASTE_NORMALIZER="true",
                            LLM_TIMEOUT_UNDERSTAND_S="0.5", LLM_TIMEOUT_REPLY_S="0.5")
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        user = signup(client, "taste")
        fake_llm.script.taste = "gritty gangster crime stories"
        body = client.post("/api/embeddings/generate", headers=user.headers,
                           json={"userId": user.user_id, "freeText": "gritty gangster stories"}).json()
        assert (body["tasteTextSource"], body["tasteTextFallback"]) == ("llm", None), body
        assert [s["name"] for s in body["stages"]][:2] == ["validate", "normalize"]
        assert any(r.get("messages", [{}])[-1].get("content") == "gritty gangster stories"
                   for r in fake_llm.script.requests)

        fake_llm.script.mode = "malformed"
        chat = client.post("/api/chat", headers=user.headers,
                           json={"userId": user.user_id, "message": "something about lonely hitmen"}).json()
        assert chat["tasteTextSource"] == "original" and chat["tasteTextFallback"], chat
        assert chat["recommendations"], "the turn is answered with the person's own words"
