"""Wires the profile tier's servicer into the shared gRPC runtime."""

from __future__ import annotations

from movierec.profile.v1 import profile_pb2, profile_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.server import serve

SERVICE_NAME = profile_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name
DEFAULT_PORT = 50053


class ProfileService(profile_pb2_grpc.ProfileServiceServicer):
    """RPCs not built yet answer UNIMPLEMENTED (inherited), never placeholder data."""


async def main() -> None:
    settings = GrpcServerSettings.from_env("profile", DEFAULT_PORT)
    servicer = ProfileService()
    await serve(settings, [(profile_pb2_grpc.add_ProfileServiceServicer_to_server, servicer, SERVICE_NAME)])
