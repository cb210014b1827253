"""Wires the ranker tier's servicer into the shared gRPC runtime."""

from __future__ import annotations

from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.server import serve

SERVICE_NAME = ranker_pb2.DESCRIPTOR.services_by_name["RankerService"].full_name
DEFAULT_PORT = 50054


class RankerService(ranker_pb2_grpc.RankerServiceServicer):
    """RPCs not built yet answer UNIMPLEMENTED (inherited), never placeholder data."""


async def main() -> None:
    settings = GrpcServerSettings.from_env("ranker", DEFAULT_PORT)
    servicer = RankerService()
    await serve(settings, [(ranker_pb2_grpc.add_RankerServiceServicer_to_server, servicer, SERVICE_NAME)])
