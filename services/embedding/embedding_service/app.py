"""Wires the embedding tier's servicer into the shared gRPC runtime."""

from __future__ import annotations

from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.server import serve

SERVICE_NAME = embedding_pb2.DESCRIPTOR.services_by_name["EmbeddingService"].full_name
DEFAULT_PORT = 50051


class EmbeddingService(embedding_pb2_grpc.EmbeddingServiceServicer):
    """RPCs not built yet answer UNIMPLEMENTED (inherited), never placeholder data."""


async def main() -> None:
    settings = GrpcServerSettings.from_env("embedding", DEFAULT_PORT)
    servicer = EmbeddingService()
    await serve(settings, [(embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server, servicer, SERVICE_NAME)])
