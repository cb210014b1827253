"""The embedding tier over real gRPC: a real `python -m embedding_service` process with the packaged model."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from embedding_helpers import embedding_stub, wait_for_health

from movierec.embedding.v1 import embedding_pb2 as pb
from movierec_core.errors import describe_rpc_error

QUERY, DOCUMENT = pb.EMBED_KIND_QUERY, pb.EMBED_KIND_DOCUMENT


def as_matrix(response: pb.EmbedResponse) -> np.ndarray:
    return np.array([list(vector.values) for vector in response.vectors], dtype=np.float32)


async def embed(stub, texts: list[str], kind=QUERY) -> np.ndarray:
    return as_matrix(await stub.Embed(pb.EmbedRequest(texts=texts, kind=kind), timeout=30))


async def rejection(stub, texts: list[str], kind=QUERY):
    with pytest.raises(grpc.RpcError) as caught:
        await stub.Embed(pb.EmbedRequest(texts=texts, kind=kind), timeout=30)
    return describe_rpc_error(caught.value)


async def test_embeds_end_to_end_over_grpc(start_tier):
    address, _proc = start_tier("embedding")
    assert await wait_for_health(address) == "SERVING"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = embedding_stub(channel)
        info = await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        assert (info.model, info.dim, info.backend) == ("sentence-transformers/all-MiniLM-L6-v2", 384,
                                                        "sentence-transformers")
        assert (info.max_texts_per_call, info.max_chars_per_text) == (256, 2000)

        texts = ["a cowboy doll is jealous of a new space ranger toy",
                 "toys come to life when nobody is watching",
                 "a tax accountant prepares quarterly filings"]
        response = await stub.Embed(pb.EmbedRequest(texts=texts, kind=QUERY), timeout=30)
        assert (response.model, response.dim) == ("sentence-transformers/all-MiniLM-L6-v2", 384)
        queries = as_matrix(response)
        assert queries.shape == (3, 384)
        np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
        # Meaning, not noise: the two toy sentences are closer to each other than to accounting.
        assert queries[0] @ queries[1] > queries[0] @ queries[2] + 0.2

        documents = await embed(stub, texts, DOCUMENT)
        np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
        # MiniLM has no query/document prefixes, so both kinds give the same vectors.
        np.testing.assert_allclose(documents, queries, atol=1e-5)
        unspecified = await embed(stub, texts[:1], pb.EMBED_KIND_UNSPECIFIED)
        np.testing.assert_allclose(unspecified, queries[:1], atol=1e-5)

        # Concurrent callers (merged by the micro-batcher) each get exactly their own rows.
        singles = await asyncio.gather(*(embed(stub, [text]) for text in texts * 3))
        for text_index, vectors in enumerate(singles):
            np.testing.assert_allclose(vectors[0], queries[text_index % 3], atol=1e-4)


async def test_limits_and_empty_inputs_are_invalid_argument(start_tier):
    address, _proc = start_tier("embedding", {"EMBEDDING_MAX_TEXTS_PER_CALL": "4",
                                              "EMBEDDING_MAX_CHARS_PER_TEXT": "50"})
    assert await wait_for_health(address) == "SERVING"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = embedding_stub(channel)
        info = await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        assert (info.max_texts_per_call, info.max_chars_per_text) == (4, 50)

        error = await rejection(stub, ["one", "two", "three", "four", "five"])
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "5 sent, the limit is 4 texts per call" in error.message

        error = await rejection(stub, ["fine", "x" * 51])
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.message == "texts[1] has 51 characters, over the limit of 50 characters per text"
        assert error.field_violations == [("texts[1]", "has 51 characters, over the limit of 50 characters "
                                                       "per text")]

        error = await rejection(stub, [])
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "texts is empty" in error.message

        error = await rejection(stub, ["fine", "also fine", "", " \t\n"])
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.message.startswith("texts[2] is empty or whitespace-only")
        assert [field for field, _ in error.field_violations] == ["texts[2]", "texts[3]"]

        error = await rejection(stub, ["fine"], kind=42)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "kind=42" in error.message

        # Exactly at the limits is accepted.
        vectors = await embed(stub, ["y" * 50, "b", "c", "d"])
        assert vectors.shape == (4, 384)


async def test_stays_not_serving_when_the_model_cannot_load(start_tier, tmp_path):
    missing = tmp_path / "no-such-model"
    address, proc = start_tier("embedding", {"EMBEDDING_MODEL": str(missing)})
    assert await wait_for_health(address, "NOT_SERVING", timeout_s=30) == "NOT_SERVING"
    for _ in range(300):  # the load fails in a thread; wait for its log line
        if "not ready" in proc.log_tail(50):
            break
        await asyncio.sleep(0.1)
    assert f"EMBEDDING_MODEL={str(missing)!r}" in proc.log_tail(50)
    assert "not a sentence-transformers model folder" in proc.log_tail(50)
    assert await wait_for_health(address, "SERVING", timeout_s=1) == "NOT_SERVING"
    async with grpc.aio.insecure_channel(address) as channel:
        error = await rejection(embedding_stub(channel), ["hello"])
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert "failed to load" in error.message and str(missing) in error.message
