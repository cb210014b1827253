"""Helpers shared by the embedding tests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import grpc

from embedding_service.settings import EmbeddingSettings
from movierec.embedding.v1 import embedding_pb2_grpc
from movierec_core.client import check_health


def default_settings(**changes) -> EmbeddingSettings:
    """The settings the service reads from an environment without EMBEDDING_* variables (+ ``changes``)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("EMBEDDING_")}
    try:
        settings = EmbeddingSettings.from_env()
    finally:
        os.environ.update(saved)
    return dataclasses.replace(settings, **changes)


async def wait_for_health(address: str, wanted: str = "SERVING", timeout_s: float = 90.0) -> str:
    """Poll the standard health service until it reports ``wanted``; returns the last status seen."""
    deadline = time.monotonic() + timeout_s
    status = "UNREACHABLE"
    while time.monotonic() < deadline:
        status = await check_health(address)
        if status == wanted:
            return status
        await asyncio.sleep(0.1)
    return status


def embedding_stub(channel: grpc.aio.Channel) -> embedding_pb2_grpc.EmbeddingServiceStub:
    return embedding_pb2_grpc.EmbeddingServiceStub(channel)
