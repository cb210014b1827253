"""ProfileService over real gRPC: a real `python -m profile_service` process, real Redis, real embedding tier."""

from __future__ import annotations

import asyncio
import time

import grpc
import numpy as np
import pyarrow.parquet as pq
import pytest

from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec.events.v1 import events_pb2
from movierec.profile.v1 import profile_pb2 as pb
from movierec.profile.v1 import profile_pb2_grpc
from movierec_core.client import check_health
from movierec_core.errors import describe_rpc_error
from movierec_jobs.export_log import TURNS_SCHEMA, rows_of, write_parquet
from profile_service.settings import StoreSettings
from profile_service.store import ProfileStore
from profile_service.taste import ema_step, fuse_onboarding

TIMEOUT = 30


async def wait_serving(address: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    status = "UNREACHABLE"
    while time.monotonic() < deadline:
        status = await check_health(address)
        if status == "SERVING":
            break
        await asyncio.sleep(0.1)
    return status


async def rejected(call, request):
    with pytest.raises(grpc.RpcError) as caught:
        await call(request, timeout=TIMEOUT)
    return describe_rpc_error(caught.value)


async def embed(address: str, text: str) -> np.ndarray:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await embedding_pb2_grpc.EmbeddingServiceStub(channel).Embed(
            embedding_pb2.EmbedRequest(texts=[text], kind=embedding_pb2.EMBED_KIND_QUERY), timeout=TIMEOUT)
    return np.asarray(response.vectors[0].values, dtype=np.float32)


def expected_cold_start(catalog_dir, movies) -> np.ndarray:
    table = pq.read_table(catalog_dir / "movies.parquet", columns=["movie_id", "ml_rating_count"]).to_pandas()
    table = table[table.movie_id.isin(list(movies.rows))]
    top = table.sort_values(["ml_rating_count", "movie_id"], ascending=[False, True]).movie_id.head(200)
    mean = movies.stack([int(m) for m in top]).astype(np.float64).mean(axis=0)
    return mean / np.linalg.norm(mean)


async def test_profile_rpcs_end_to_end(start_tier, profile_env, embedding_addr, movies, catalog_dir, redis_url,
                                       tmp_path):
    address, _proc = start_tier("profile", {**profile_env, "EMBEDDING_ADDR": embedding_addr})
    assert await wait_serving(address) == "SERVING"
    assert await wait_serving(embedding_addr, 120) == "SERVING"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = profile_pb2_grpc.ProfileServiceStub(channel)

        # No profile: NOT_FOUND, or the cold-start profile (centroid of the 200 most-rated movies).
        missing = await rejected(stub.GetProfile, pb.GetProfileRequest(user_id="zoe"))
        assert missing.code == grpc.StatusCode.NOT_FOUND and "'zoe' has no profile" in missing.message
        cold_request = pb.GetProfileRequest(user_id="zoe", allow_cold_start=True)
        cold = (await stub.GetProfile(cold_request, timeout=TIMEOUT)).profile
        assert cold.cold_start and cold.version == 0
        np.testing.assert_allclose(cold.vector, expected_cold_start(catalog_dir, movies), atol=1e-6)

        # Onboarding fuses liked movies (0.7) with the embedded vibes + free text (0.3).
        onboard = await stub.Onboard(pb.OnboardRequest(user_id="zoe", movie_ids=[2571, 1196, 999999999],
                                                       vibes=["mind-bending", "space opera"],
                                                       free_text="smart science fiction"), timeout=TIMEOUT)
        assert list(onboard.unknown_movie_ids) == [999999999]
        text_vector = await embed(embedding_addr, "mind-bending; space opera. smart science fiction")
        expected = fuse_onboarding(movies.stack([2571, 1196]), text_vector, 0.7)
        np.testing.assert_allclose(onboard.profile.vector, expected, atol=1e-6)
        assert onboard.profile.version == 1 and list(onboard.profile.liked_movie_ids) == [2571, 1196]
        # With an event id, a retried onboarding changes nothing.
        keyed = pb.OnboardRequest(user_id="ivy", movie_ids=[260], event_id="onboard-ivy")
        assert (await stub.Onboard(keyed, timeout=TIMEOUT)).profile.version == 1
        assert (await stub.Onboard(keyed, timeout=TIMEOUT)).profile.version == 1

        no_signal = await rejected(stub.Onboard, pb.OnboardRequest(user_id="zoe", movie_ids=[999999999]))
        assert no_signal.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "at least one known liked movie" in no_signal.message and "999999999" in no_signal.message
        assert no_signal.field_violations and no_signal.field_violations[0][0] == "movie_ids"

        # A chat message: EMA step toward its embedding, once per event id.
        message = "something lighter, a comedy"
        applied = await stub.ApplyMessage(pb.ApplyMessageRequest(user_id="zoe", text=message, event_id="m1"),
                                          timeout=TIMEOUT)
        expected = ema_step(expected, await embed(embedding_addr, message), 0.8)
        np.testing.assert_allclose(applied.profile.vector, expected, atol=1e-6)
        assert applied.applied and applied.profile.version == 2 and applied.profile.message_count == 1
        again = await stub.ApplyMessage(pb.ApplyMessageRequest(user_id="zoe", text=message, event_id="m1"),
                                        timeout=TIMEOUT)
        assert not again.applied and again.profile.version == 2
        no_id = await rejected(stub.ApplyMessage, pb.ApplyMessageRequest(user_id="zoe", text=message))
        assert no_id.code == grpc.StatusCode.INVALID_ARGUMENT and "event_id is required" in no_id.message

        # A synchronous review.
        event = events_pb2.ReviewEvent(event_id="r1", user_id="zoe", movie_id=260, rating=4.5, text="classic")
        reviewed = await stub.ApplyReview(pb.ApplyReviewRequest(event=event), timeout=TIMEOUT)
        expected = ema_step(expected, movies.vector(260), 0.8)
        np.testing.assert_allclose(reviewed.profile.vector, expected, atol=1e-6)
        assert [(r.movie_id, r.rating) for r in reviewed.profile.ratings] == [(260, 4.5)]
        assert list(reviewed.profile.liked_movie_ids) == [2571, 1196, 260]
        bad = events_pb2.ReviewEvent(event_id="r2", user_id="zoe", movie_id=260, rating=7.3)
        out_of_range = await rejected(stub.ApplyReview, pb.ApplyReviewRequest(event=bad))
        assert out_of_range.code == grpc.StatusCode.INVALID_ARGUMENT
        assert out_of_range.reason == "RATING_OUT_OF_RANGE" and "0.5–5.0" in out_of_range.message
        nobody = events_pb2.ReviewEvent(event_id="r3", user_id="nobody", movie_id=260, rating=4.0)
        assert (await rejected(stub.ApplyReview, pb.ApplyReviewRequest(event=nobody))).code == grpc.StatusCode.NOT_FOUND

        # A watch feeds the recent interests: scoring = normalize(0.7·base + 0.3·recent).
        watched = await stub.RecordInteraction(pb.RecordInteractionRequest(
            user_id="zoe", movie_id=1210, kind=events_pb2.INTERACTION_KIND_WATCH, event_id="w1"), timeout=TIMEOUT)
        profile = watched.profile
        assert watched.applied and profile.watch_count == 1 and profile.vector == reviewed.profile.vector
        # Recent = the liked review (1.5, decayed since its time) + the watch (0.8).
        assert 2.2 < profile.recent_weight <= 2.3
        base = np.asarray(profile.vector, dtype=np.float64)
        scoring = np.asarray(profile.scoring_vector, dtype=np.float64)
        assert abs(np.linalg.norm(scoring) - 1) < 1e-5 and 0.9 < base @ scoring < 0.999
        wrong_kind = await rejected(stub.RecordInteraction, pb.RecordInteractionRequest(
            user_id="zoe", movie_id=1210, kind=events_pb2.INTERACTION_KIND_RATE, event_id="w2"))
        assert wrong_kind.code == grpc.StatusCode.INVALID_ARGUMENT and "WATCH or INTERACTION_KIND_CLICK" in \
            wrong_kind.message
        # The watch also marked the movie watched (one atomic step); without a profile the mark is kept
        # and the answer is NOT_FOUND, and the cold-start profile carries it.
        assert list((await stub.GetProfile(pb.GetProfileRequest(user_id="zoe"), timeout=TIMEOUT)).profile
                    .watched_movie_ids) == [1210]
        newbie = await rejected(stub.RecordInteraction, pb.RecordInteractionRequest(
            user_id="newbie", movie_id=2571, kind=events_pb2.INTERACTION_KIND_WATCH, event_id="w3"))
        assert newbie.code == grpc.StatusCode.NOT_FOUND
        newbie_profile = (await stub.GetProfile(pb.GetProfileRequest(user_id="newbie", allow_cold_start=True),
                                                timeout=TIMEOUT)).profile
        assert newbie_profile.cold_start and list(newbie_profile.watched_movie_ids) == [2571]

        # Turn log.
        turn = events_pb2.RecommendationTurn(user_id="zoe", session_id="s1", message_index=3,
                                             input_text="something lighter", retrieved_movie_ids=[1, 2, 3],
                                             retrieved_scores=[0.9, 0.8, 0.7], picked_movie_ids=[2])
        logged = await stub.LogTurn(pb.LogTurnRequest(turn=turn), timeout=TIMEOUT)
        assert logged.entry_id
        mismatched = events_pb2.RecommendationTurn(user_id="zoe", retrieved_movie_ids=[1, 2], retrieved_scores=[0.1])
        assert (await rejected(stub.LogTurn, pb.LogTurnRequest(turn=mismatched))).code == \
            grpc.StatusCode.INVALID_ARGUMENT

    out = tmp_path / "turns.parquet"
    store = ProfileStore(StoreSettings(redis_url))
    # The gateway's fallback when LogTurn fails: the serialized turn appended to the same stream.
    store.client.xadd(store.turns_key, {"turn": turn.SerializeToString(), "source": "gateway"})
    assert write_parquet(rows_of(store, "turns"), TURNS_SCHEMA, out) == 2
    rows = pq.read_table(out).to_pylist()
    assert rows[0]["stream_id"] == logged.entry_id
    for row in rows:
        assert (row["user_id"], row["session_id"], row["message_index"], row["input_text"]) == \
            ("zoe", "s1", 3, "something lighter")
        assert (row["retrieved_movie_ids"], row["picked_movie_ids"]) == ([1, 2, 3], [2])
        np.testing.assert_allclose(row["retrieved_scores"], [0.9, 0.8, 0.7], atol=1e-6)
    # The interaction log holds the onboarding's text embedding, so replay never needs the embedding tier.
    onboarding = next(rows_of(store, "interactions"))
    np.testing.assert_array_equal(np.asarray(onboarding["embedding"], dtype=np.float32), text_vector)


async def test_stays_not_serving_and_says_why_without_its_catalog(start_tier, profile_env, tmp_path):
    env = {**profile_env, "PROFILE_CATALOG_DIR": str(tmp_path / "no-catalog"), "EMBEDDING_ADDR": "127.0.0.1:9"}
    address, _proc = start_tier("profile", env)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = profile_pb2_grpc.ProfileServiceStub(channel)
        deadline = time.monotonic() + 30
        while True:  # loading is asynchronous: first "still loading", then the reason it failed
            error = await rejected(stub.GetProfile, pb.GetProfileRequest(user_id="zoe"))
            if "failed to load" in error.message or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert error.code == grpc.StatusCode.UNAVAILABLE and "no catalog table" in error.message
    assert await check_health(address) == "NOT_SERVING"
