"""The LLM path against a local OpenAI-compatible HTTP server: protocol, bad output, timeout, HTTP 500."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from conftest import FIXTURE_MOVIE_IDS
from prometheus_client import REGISTRY
from ranker_fake_llm import FakeChatServer
from ranker_helpers import make_ranker, rank_input

from movierec.ranker.v1 import ranker_pb2
from movierec_core.deadlines import deadline_var, set_deadline
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


def backend(base_url: str, timeout_s: float = 2.0) -> LlmBackend:
    return LlmBackend(LlmSettings(base_url=base_url, model="fake-model", timeout_s=timeout_s))


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
    pool = [c["movie_id"] for c in payload["CANDIDATES"]]
    assert [p.movie_id for p in output.picks] == list(reversed(pool))[:5]
    assert sent["model"] == "fake-model" and sent["response_format"] == {"type": "json_object"}
    assert payload["REQUEST"] == "a heist thriller from the 90s"
    assert payload["RECENT_TURNS"][0] == {"role": "user", "text": "I loved Heat"}
    assert {m["movie_id"] for m in payload["USER"]["liked"]} == set(FAN)
    assert len(pool) == 20 and not set(pool) & set(FAN)
    assert {"title", "genres", "score", "retrieval_score"} <= set(payload["CANDIDATES"][0])
    for pick in output.picks:  # explanations stay grounded on the LLM path
        assert pick.explanation and 0 <= pick.match_score <= 1


async def test_fenced_json_is_accepted(store, scoring_params, fake_llm):
    fake_llm.script.mode = "fenced"
    output = await make_ranker(store, scoring_params, llm=backend(fake_llm.base_url)).rank(request(store))
    assert output.ranker == "llm:fake-model" and not output.degraded


async def test_planted_llm_factor_is_dropped(store, scoring_params, fake_llm):
    fake_llm.script.planted_factor = {"kind": "director", "value": "Steven Spielberg", "source_movie_id": 0}
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
    ("duplicate", "invalid_output"), ("refusal", "refusal"),
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


async def test_taste_normalizer(fake_llm):
    llm = backend(fake_llm.base_url)
    text = "umm i want like, something w/ bank robberies, 90s-ish, not gory pls"
    assert await llm.normalize_taste(text, 1.0) == (fake_llm.script.taste, None)
    for mode, reason in (("malformed", "invalid_json"), ("http_500", "http_error")):
        fake_llm.script.mode = mode
        assert await llm.normalize_taste(text, 1.0) == (text, reason)
    fake_llm.script.mode, fake_llm.script.taste = "valid", "x" * 400
    assert await llm.normalize_taste(text, 1.0) == (text, "invalid_output")


@pytest.mark.llm
async def test_real_local_model(store, scoring_params):
    """Against a real OpenAI-compatible model server (e.g. llama.cpp's with the DESIGN §5 GGUF)."""
    url = os.environ.get("MOVIEREC_TEST_LLM_URL")
    if not url:
        pytest.skip("MOVIEREC_TEST_LLM_URL is not set: start an OpenAI-compatible server with a local model "
                    "(see services/ranker/README.md) and point this variable at its /v1 URL")
    model = os.environ.get("MOVIEREC_TEST_LLM_MODEL", "local")
    llm = LlmBackend(LlmSettings(base_url=url, model=model, timeout_s=120.0, max_candidates=8))
    ranker = make_ranker(store, scoring_params, llm=llm)
    req = request(store)
    output = await ranker.rank(req)
    print("ranker:", output.ranker, "degraded:", output.degraded_reason)
    for pick in output.picks:
        print(f"  {store.get(pick.movie_id).label}: {pick.explanation}")
    assert len(output.picks) == 5
    assert output.ranker == f"llm:{model}" or output.degraded_reason.startswith("llm ")
    for pick in output.picks:
        assert pick.movie_id not in FAN
        assert all(unsupported_reason(c, store.get(pick.movie_id), req.history, store) is None
                   for c in pick.factors)
    taste, reason = await llm.normalize_taste("i want something like heat but more recent, no gore", 120.0)
    print("taste:", taste, reason)
    assert taste
