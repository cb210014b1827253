"""The OpenAI backend through the real `openai` package, against a local /v1/embeddings server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from embedding_helpers import default_settings, embedding_stub, wait_for_health
from fake_openai_embeddings import DEFAULT_DIM, FAIL_TEXT, FakeOpenAIServer, fake_vector

from embedding_service.backends import BackendUnavailable, EmbedKind, ModelLoadError, OpenAIBackend
from embedding_service.settings import OpenAISettings
from movierec.embedding.v1 import embedding_pb2 as pb
from movierec_core.devstack import free_port
from movierec_core.errors import describe_rpc_error


@pytest.fixture
def fake_openai():
    with FakeOpenAIServer() as server:
        yield server


def openai_settings(base_url: str, dimensions: int | None = None):
    return default_settings(backend="openai", model="text-embedding-3-large",
                            openai=OpenAISettings(base_url=base_url, api_key="sk-test", dimensions=dimensions,
                                                  timeout_s=5.0, max_retries=0))


def expected(text: str, dim: int) -> np.ndarray:
    vector = fake_vector(text, dim)
    return vector / np.linalg.norm(vector)


def test_backend_sorts_by_index_normalizes_and_passes_dimensions(fake_openai):
    backend = OpenAIBackend(openai_settings(fake_openai.base_url, dimensions=256))
    assert (backend.backend_name, backend.model_name, backend.dim) == ("openai", "text-embedding-3-large", 256)
    texts = ["first", "second", "third"]
    vectors = backend.encode(texts, EmbedKind.DOCUMENT)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 256)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(vectors[row], expected(text, 256), atol=1e-6)
    last = fake_openai.requests[-1]
    assert (last["path"], last["model"], last["dimensions"], last["input"]) == (
        "/v1/embeddings", "text-embedding-3-large", 256, texts)
    assert last["auth"] == "Bearer sk-test"


def test_backend_default_dimension_and_outage(fake_openai):
    backend = OpenAIBackend(openai_settings(fake_openai.base_url))
    assert backend.dim == DEFAULT_DIM
    assert "dimensions" not in fake_openai.requests[-1]
    with pytest.raises(BackendUnavailable, match="unavailable"):
        backend.encode(["fine", FAIL_TEXT], EmbedKind.QUERY)


def test_backend_load_fails_clearly_when_the_server_is_unreachable():
    dead_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(ModelLoadError, match=r"'text-embedding-3-large' at http://127\.0\.0\.1:\d+/v1 is not usable"):
        OpenAIBackend(openai_settings(dead_url))


async def test_service_embeds_through_openai_backend(start_tier, fake_openai):
    address, _proc = start_tier("embedding", {
        "EMBEDDING_BACKEND": "openai", "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-test",
        "OPENAI_EMBEDDING_DIMENSIONS": "64", "OPENAI_MAX_RETRIES": "0"})
    assert await wait_for_health(address) == "SERVING"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = embedding_stub(channel)
        info = await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        assert (info.backend, info.model, info.dim) == ("openai", "text-embedding-3-large", 64)
        response = await stub.Embed(pb.EmbedRequest(texts=["heist thriller", "family comedy"],
                                                    kind=pb.EMBED_KIND_QUERY), timeout=10)
        vectors = np.array([list(v.values) for v in response.vectors], dtype=np.float32)
        np.testing.assert_allclose(vectors[0], expected("heist thriller", 64), atol=1e-6)
        np.testing.assert_allclose(vectors[1], expected("family comedy", 64), atol=1e-6)

        with pytest.raises(grpc.RpcError) as caught:
            await stub.Embed(pb.EmbedRequest(texts=[FAIL_TEXT]), timeout=10)
        assert describe_rpc_error(caught.value).code == grpc.StatusCode.UNAVAILABLE


async def test_service_refuses_to_start_without_an_api_key(start_tier):
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY is required"):
        start_tier("embedding", {"EMBEDDING_BACKEND": "openai", "OPENAI_API_KEY": ""}, timeout_s=30)
