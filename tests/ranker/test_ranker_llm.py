"""The ranker's LLM path against a scripted OpenAI-compatible HTTP server: protocol, faults (bad output,
timeout, HTTP 500, refusal, unreachable). The real model runs in tests/llm (make test-llm)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from conftest import FIXTURE_MOVIE_IDS
from prometheus_client import REGISTRY
from ranker_fake_llm import FakeChatServer
from ranker_helpers import make_ranker, rank_input

from movierec.ranker.v1 import ranker_pb2
from movierec_core.deadlines import deadline_var, set_deadline
from movierec_llm.settings import LlmSettings as SharedLlmSettings
from ranker_service.llm import LlmBackend
from ranker_service.settings import LlmSettings
from ranker_service.verify import unsupported_reason

K = ranker_pb2.FactorKind
FAN = {6: 5.0, 3006: 4.5, 1: 4.0}


@pytest.fixture(scope="module")
def fake_llm():
    with FakeChatServer() as server:
        yield server


@pytest.fixture(autouse=True)
def reset(fake_llm):
    fake_llm.script.__init__()


def backend(base_url: str, timeout_s: float = 2.0, explain: bool = False) -> LlmBackend:
    connection = SharedLlmSettings(base_url=base_url, model="fake-model",
                                   timeouts_s={"rerank": timeout_s, "explain": timeout_s})
    return LlmBackend(LlmSettings(connection=connection, explain=explain))


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("movierec_ranker_fallbacks_total", {"reason": reason}) or 0.0


def request(store, query="a heist thriller from the 90s"):
    return rank_input(store, FIXTURE_MOVIE_IDS, ratings=FAN, query=query, top_n=5,
                      turns=[("user", "I loved Heat"), ("assistant", "Noted!")])


async def numeric_ids(store, params):
    return [p.movie_id for p in (await make_ranker(store, params).rank(request(store))).picks]


async def test_valid_reply_orders_the_picks(store, scoring_params, fake_llm):
    ranker = make_ranker(store, scoring_params, llm=backend(fake_llm.base_url))
    output = await ranker.rank(request(store))
    assert output.ranker == "llm:fake-model" and not output.degraded
    sent = fake_llm.script.requests[-1]
    payload = json.loads(sent["messages"][-1]["content"])
    pool = [c["id"] for c in payload["CANDIDATES"]]
    assert [p.movie_id for p in output.picks] == list(reversed(pool))[:5]
    assert sent["model"] == "fake-model" and sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]["schema"]["properties"]["picks"]
    assert schema["items"]["properties"]["id"]["enum"] == pool and schema["minItems"] == 5
    assert payload["REQUEST"] == "a heist thriller from the 90s"
    assert payload["RECENT_TURNS"][0] == {"role": "user", "text": "I loved Heat"}
    assert set(payload["USER"]["liked"]) == {store.get(m).label for m in FAN}
    assert len(pool) == 20 and not set(pool) & set(FAN)
    assert {"title", "genres", "score"} <= set(payload["CANDIDATES"][0])
    for pick in output.picks:  # explanations stay grounded on the LLM path
        assert pick.explanation and 0 <= pick.match_score <= 1


async def test_repeated_ids_are_dropped_and_the_list_completed_in_numeric_order(store, scoring_params, fake_llm):
    fake_llm.script.mode = "duplicate"
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url)).rank(request(store))
    ids = [p.movie_id for p in output.picks]
    pool = fake_llm.script.requests[-1]["response_format"]["json_schema"]["schema"]["properties"]["picks"][
        "items"]["properties"]["id"]["enum"]
    assert output.ranker == "llm:fake-model" and not output.degraded
    assert len(ids) == len(set(ids)) == 5
    assert ids[:4] == [pool[-1], *pool[1:4]]  # the model's distinct picks first, in its order
    assert ids[4] in await numeric_ids(store, scoring_params)


async def test_llm_prose_replaces_the_template_only_when_its_facts_verify(store, scoring_params, fake_llm):
    fake_llm.script.explanation = "A tense pick you will enjoy."
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url, explain=True)).rank(
        request(store))
    assert all(p.explanation == "A tense pick you will enjoy." for p in output.picks)
    fake_llm.script.explanation = "Stars Tom Hanks, a 1962 classic."  # facts the catalog does not support
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url, explain=True)).rank(
        request(store))
    assert all(p.explanation and "Tom Hanks" not in p.explanation for p in output.picks)


async def test_planted_llm_factor_is_dropped(store, scoring_params, fake_llm):
    fake_llm.script.planted_factor = {"kind": "director", "value": "Steven Spielberg"}
    labels = {"origin": "llm", "kind": "FACTOR_KIND_DIRECTOR"}
    before = REGISTRY.get_sample_value("movierec_ranker_unsupported_factors_total", labels) or 0
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url)).rank(request(store))
    spielberg = [p.movie_id for p in output.picks if store.get(p.movie_id).director == "Steven Spielberg"]
    dropped = REGISTRY.get_sample_value("movierec_ranker_unsupported_factors_total", labels) - before
    assert dropped == len(output.picks) - len(spielberg)
    for pick in output.picks:
        movie = store.get(pick.movie_id)
        assert all(unsupported_reason(c, movie, request(store).history, store) is None for c in pick.factors)
        if pick.movie_id not in spielberg:
            assert "Spielberg" not in pick.explanation
            assert all(c.value != "Steven Spielberg" for c in pick.factors)


@pytest.mark.parametrize(("mode", "reason"), [
    ("malformed", "invalid_json"), ("http_500", "http_error"), ("unknown_id", "invalid_output"),
    ("refusal", "refusal"),
])
async def test_bad_replies_fall_back_to_numeric(store, scoring_params, fake_llm, mode, reason):
    fake_llm.script.mode = mode
    before = fallbacks(reason)
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url)).rank(request(store))
    assert output.degraded and output.ranker == "numeric-content"
    assert output.degraded_reason.startswith(f"llm {reason}")
    assert [p.movie_id for p in output.picks] == await numeric_ids(store, scoring_params)
    assert all(p.explanation for p in output.picks)
    assert fallbacks(reason) == before + 1


async def test_timeout_falls_back_within_the_callers_deadline(store, scoring_params, fake_llm):
    fake_llm.script.delay_s = 3.0
    ranker = make_ranker(store, scoring_params, llm=backend(fake_llm.base_url, timeout_s=5.0))
    before = fallbacks("timeout")
    set_deadline(0.4)
    started = time.perf_counter()
    output = await ranker.rank(request(store))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.4, f"answered after {elapsed:.3f}s, past the 0.4 s deadline"
    assert output.degraded and output.degraded_reason.startswith("llm timeout")
    assert len(output.picks) == 5 and fallbacks("timeout") == before + 1


async def test_configured_timeout_applies_without_a_caller_deadline(store, scoring_params, fake_llm):
    fake_llm.script.delay_s = 3.0
    ranker = make_ranker(store, scoring_params, llm=backend(fake_llm.base_url, timeout_s=0.3))
    started = time.perf_counter()
    output = await ranker.rank(request(store))
    assert time.perf_counter() - started < 0.6
    assert output.degraded and "timeout" in output.degraded_reason


async def test_expired_deadline_skips_the_llm(store, scoring_params, fake_llm):
    deadline_var.set(time.monotonic() - 0.01)
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url)).rank(request(store))
    assert output.degraded and output.degraded_reason.startswith("llm deadline")
    assert not fake_llm.script.requests


async def test_unreachable_server_falls_back(store, scoring_params):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = await make_ranker(store, scoring_params, llm=backend(f"http://127.0.0.1:{port}/v1")).rank(request(store))
    assert output.degraded and output.degraded_reason.startswith("llm connection_error")
