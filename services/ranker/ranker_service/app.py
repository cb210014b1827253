"""Wires the ranker tier: settings → catalog + vectors + collaborative models → gRPC runtime."""

from __future__ import annotations

import asyncio
import logging

from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.index_artifact import load_index_artifact
from movierec_core.logs import log_fields
from movierec_core.server import serve
from ranker_service.llm import LlmBackend
from ranker_service.movies import MovieStore, facts_from_frame
from ranker_service.pipeline import Ranker
from ranker_service.scoring import NumericScorer, ScoringParams
from ranker_service.servicer import RankerServicer
from ranker_service.settings import RankerSettings

SERVICE_NAME = ranker_pb2.DESCRIPTOR.services_by_name["RankerService"].full_name
DEFAULT_PORT = 50054

log = logging.getLogger("movierec.ranker")


def load_store(settings: RankerSettings) -> MovieStore:
    """Catalog facts + the index artifact's vectors (checksums verified)."""
    from movierec_catalog import load_catalog

    catalog = load_catalog(settings.catalog_dir)
    index = load_index_artifact(settings.index_dir)
    store = MovieStore(facts_from_frame(catalog.movies), index.movie_ids, index.vectors,
                       catalog_version=str(getattr(catalog, "version", "")), index_version=index.version)
    log.info("movies loaded", extra=log_fields(movies=len(store.facts), vectors=len(index.movie_ids),
                                               coverage=round(store.coverage(), 4), index=index.version))
    return store


def load_collab(settings: RankerSettings):
    """The collaborative model, or None (content-only ranking) when its artifact is absent."""
    if not settings.collab_dir.exists():
        if settings.require_collab:
            raise FileNotFoundError(f"no collaborative model at {settings.collab_dir}; run `make train`")
        log.warning("no collaborative model; ranking by content similarity only",
                    extra=log_fields(collab_dir=str(settings.collab_dir)))
        return None
    from ranker_service.collaborative import CollaborativeModel

    return CollaborativeModel.load(settings.collab_dir)


def load_sequence(settings: RankerSettings):
    """The SeqEASE model, or None (ŷ = the rating predictor, no hybrid candidates) when its artifact is absent."""
    if not settings.sequence_dir.exists():
        if settings.require_collab:
            raise FileNotFoundError(f"no SeqEASE model at {settings.sequence_dir}; run `make train`")
        log.warning("no SeqEASE model; ŷ is the rating predictor and no hybrid candidates are added",
                    extra=log_fields(sequence_dir=str(settings.sequence_dir)))
        return None
    from ranker_service.sequence_model import SequenceModel

    return SequenceModel.load(settings.sequence_dir)


def build_ranker(settings: RankerSettings) -> Ranker:
    store = load_store(settings)
    collab = load_collab(settings)
    sequence = load_sequence(settings)
    scorer = NumericScorer(store, ScoringParams.load(), collab, alpha=settings.alpha, sequence=sequence,
                           popularity_prior=settings.popularity_prior, quality_prior=settings.quality_prior)
    llm = LlmBackend(settings.llm) if settings.llm.enabled else None
    log.info("ranker ready", extra=log_fields(ranker=scorer.name, alpha=scorer.alpha,
                                              mmr_lambda=settings.mmr_lambda,
                                              collab_candidates=settings.added_candidates,
                                              sequence_items=sequence.n_items if sequence else 0,
                                              llm=llm.name if llm else "off"))
    return Ranker(store, scorer, settings.mmr_lambda, llm, settings.llm.max_candidates, settings.added_candidates)


async def main() -> None:
    server_settings = GrpcServerSettings.from_env("ranker", DEFAULT_PORT)
    settings = RankerSettings.from_env()
    servicer = RankerServicer(settings.max_candidates)

    async def load() -> None:
        servicer.attach(await asyncio.to_thread(build_ranker, settings))

    await serve(server_settings, [(ranker_pb2_grpc.add_RankerServiceServicer_to_server, servicer, SERVICE_NAME)],
                load=load)
