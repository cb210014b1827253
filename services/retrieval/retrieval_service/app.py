"""Wires the retrieval tier: settings, the index holder (load + hot swap), the serving servicer and the
admin endpoint (ReloadIndex, admin.py)."""

from __future__ import annotations

import faiss

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.server import serve
from retrieval_service.admin import AdminSettings, ServingRetrievalServicer, start_admin_server
from retrieval_service.holder import IndexHolder
from retrieval_service.keyphrases import KeyphraseHolder
from retrieval_service.servicer import RetrievalServicer
from retrieval_service.settings import RetrievalSettings

SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name
DEFAULT_PORT = 50052


async def main() -> None:
    server_settings = GrpcServerSettings.from_env("retrieval", DEFAULT_PORT)
    settings = RetrievalSettings.from_env()
    admin_settings = AdminSettings.from_env()
    # One search is far below the cost of waking a thread pool; scale with processes instead.
    faiss.omp_set_num_threads(settings.faiss_threads)
    holder = IndexHolder(settings)
    keyphrases = KeyphraseHolder(settings.keyphrase_dir, settings.catalog_dir,
                                 verify_checksums=settings.verify_checksums,
                                 watch_interval_s=settings.watch_interval_s, mode=settings.keyphrase_search,
                                 catalogs=holder.catalogs)
    servicer = ServingRetrievalServicer(holder, settings, keyphrases)
    admin = await start_admin_server(admin_settings, RetrievalServicer(holder, settings, keyphrases))

    async def load() -> None:
        await holder.start()
        await keyphrases.start()  # optional: its absence never keeps the tier from SERVING

    try:
        await serve(server_settings,
                    [(retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server, servicer, SERVICE_NAME)],
                    load=load)
    finally:
        if admin is not None:
            await admin.stop(server_settings.grace_s)
