"""Fixtures of the chat-understanding tests: the real catalog's linker and franchise index, built once."""

from __future__ import annotations

import pytest

from gateway_service.dialogue.understand import DialogueContext, UnderstandingResources, understand
from gateway_service.dialogue.understanding import Understanding
from movierec_catalog import load_catalog


@pytest.fixture(scope="session")
def resources(catalog_dir) -> UnderstandingResources:
    return UnderstandingResources.from_catalog(load_catalog(catalog_dir))


@pytest.fixture(scope="session")
def read(resources):
    """``read(message, picks=(movie ids...), active=None)`` → Understanding."""

    def _read(message: str, picks: tuple[int, ...] = (), active=None) -> Understanding:
        movies = [resources.catalog.get(i) for i in picks]
        return understand(message, DialogueContext(resources=resources, picks=movies, active=active))

    return _read
