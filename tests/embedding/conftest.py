"""Fixtures of the embedding tests: the real packaged model, loaded in-process once."""

from __future__ import annotations

import pytest
from embedding_helpers import default_settings

from embedding_service.backends import SentenceTransformerBackend


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerBackend:
    """The packaged all-MiniLM-L6-v2 with the service's default settings (one torch thread)."""
    return SentenceTransformerBackend(default_settings())
