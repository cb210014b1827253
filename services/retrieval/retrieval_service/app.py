"""Wires the retrieval tier's servicer into the shared gRPC runtime."""

from __future__ import annotations

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.server import serve

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name
DEFAULT_PORT = 50052


class RetrievalService(retrieval_pb2_grpc.RetrievalServiceServicer):
    """RPCs not built yet answer UNIMPLEMENTED (inherited), never placeholder data."""


async def main() -> None:
    settings = GrpcServerSettings.from_env("retrieval", DEFAULT_PORT)
    servicer = RetrievalService()
    await serve(settings, [(retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server, servicer, SERVICE_NAME)])
