"""The ProfileService gRPC servicer, wired into the shared runtime.

Domain calls are synchronous (Redis round trips and the embedding RPC) and run in worker threads
so the event loop keeps serving; contextvars (request id, deadline) follow them.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import redis
from google.protobuf import timestamp_pb2

from movierec.common.v1 import common_pb2
from movierec.events.v1 import events_pb2
from movierec.profile.v1 import profile_pb2, profile_pb2_grpc
from movierec_core.config import GrpcServerSettings
from movierec_core.errors import failed_precondition, invalid_argument, not_found, unavailable
from movierec_core.logs import log_fields
from movierec_core.server import serve
from movierec_profile_contract import TASTE_HISTORY_MAX, review_fields
from profile_service.domain import InvalidEvent, ProfileNotFound, Profiles, ProfileView
from profile_service.embedder import Embedder, EmbeddingUnavailable
from profile_service.settings import ProfileSettings
from profile_service.store import InvalidUpdate, ProfileStore
from profile_service.vectors import MovieVectors, cold_start_vector, popular_movie_ids
from profile_service.watchlist import UnknownMovie, WatchlistFull, Watchlists

SERVICE_NAME = profile_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name
DEFAULT_PORT = 50053
INTERACTION_KINDS = {events_pb2.INTERACTION_KIND_WATCH: "watch", events_pb2.INTERACTION_KIND_CLICK: "click"}

log = logging.getLogger("movierec.profile")


def translate_errors(method):
    """Domain and dependency errors → the shared gRPC error types (the interceptor maps them)."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        if self.profiles is None:
            detail = f"failed to load: {self.load_error}" if self.load_error else "still loading its movie vectors"
            raise unavailable(f"the profile tier is {detail}", retry_after_s=1.0)
        try:
            return await method(self, request, context)
        except InvalidEvent as error:
            raise invalid_argument(error.message, reason=error.reason,
                                   field_violations=[(error.field, error.message)] if error.field else None) from None
        except ProfileNotFound as error:
            raise not_found(str(error), reason="PROFILE_NOT_FOUND") from None
        except UnknownMovie as error:
            raise not_found(str(error), reason="MOVIE_NOT_FOUND") from None
        except WatchlistFull as error:
            raise failed_precondition(str(error), reason="WATCHLIST_FULL") from None
        except InvalidUpdate as error:
            raise failed_precondition(str(error), reason="VECTOR_MISMATCH") from None
        except EmbeddingUnavailable as error:
            raise unavailable(str(error), reason="EMBEDDING_UNAVAILABLE", retry_after_s=0.5) from None
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise unavailable(f"profile store (Redis) unavailable: {error}", reason="STORE_UNAVAILABLE",
                              retry_after_s=0.5) from None

    return wrapper


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def millis(stamp: timestamp_pb2.Timestamp, present: bool) -> int | None:
    return stamp.ToMilliseconds() if present else None


def to_proto(view: ProfileView) -> profile_pb2.Profile:
    profile = profile_pb2.Profile(user_id=view.user_id, vector=view.vector.tolist(),
                                  scoring_vector=view.scoring_vector.tolist(), version=view.version,
                                  cold_start=view.cold_start, recent_weight=view.recent_weight)
    state = view.state
    if state is None:
        return profile
    for movie_id, record in sorted(state.ratings.items()):
        profile.ratings.append(common_pb2.MovieRating(movie_id=movie_id, rating=record["rating"],
                                                      rated_at=timestamp(int(record["at"]))))
    profile.liked_movie_ids.extend(view.liked_movie_ids)
    profile.message_count = state.counters["message_count"]
    profile.review_count = state.counters["review_count"]
    profile.watch_count = state.counters["watch_count"]
    profile.click_count = state.counters["click_count"]
    profile.updated_at.CopyFrom(timestamp(state.updated_at_ms))
    return profile


class ProfileService(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(self) -> None:
        self.profiles: Profiles | None = None
        self.watchlists: Watchlists | None = None
        self.load_error: str | None = None

    async def _view(self, user_id: str) -> profile_pb2.Profile:
        return to_proto(await asyncio.to_thread(self.profiles.get, user_id))

    @translate_errors
    async def GetProfile(self, request, context):
        view, saved, watched = await asyncio.gather(
            asyncio.to_thread(self.profiles.get, request.user_id, allow_cold_start=request.allow_cold_start),
            asyncio.to_thread(self.watchlists.movie_ids, request.user_id),
            asyncio.to_thread(self.profiles.store.watched_ids, request.user_id))
        profile = to_proto(view)
        profile.watchlist_movie_ids.extend(saved)
        profile.watched_movie_ids.extend(watched)
        return profile_pb2.GetProfileResponse(profile=profile)

    @translate_errors
    async def Onboard(self, request, context):
        result, unknown = await asyncio.to_thread(
            self.profiles.onboard, request.user_id, list(request.movie_ids), list(request.vibes),
            request.free_text, request.event_id)
        log.info("onboarded", extra=log_fields(user_id=request.user_id, version=result.version,
                                               applied=result.applied, unknown=len(unknown)))
        return profile_pb2.OnboardResponse(profile=await self._view(request.user_id), unknown_movie_ids=unknown)

    @translate_errors
    async def ApplyMessage(self, request, context):
        result = await asyncio.to_thread(self.profiles.apply_message, request.user_id, request.text,
                                         request.event_id)
        return profile_pb2.ApplyMessageResponse(profile=await self._view(request.user_id), applied=result.applied)

    @translate_errors
    async def ApplyReview(self, request, context):
        event = request.event
        result = await asyncio.to_thread(self.profiles.apply_review, review_fields(event))
        return profile_pb2.ApplyReviewResponse(profile=await self._view(event.user_id), applied=result.applied)

    @translate_errors
    async def RecordInteraction(self, request, context):
        kind = INTERACTION_KINDS.get(request.kind)
        if kind is None:
            raise InvalidEvent("kind must be INTERACTION_KIND_WATCH or INTERACTION_KIND_CLICK", "kind")
        result = await asyncio.to_thread(
            self.profiles.record_interaction, request.user_id, request.movie_id, kind, request.event_id,
            millis(request.created_at, request.HasField("created_at")))
        return profile_pb2.RecordInteractionResponse(profile=await self._view(request.user_id),
                                                     applied=result.applied)

    @translate_errors
    async def LogTurn(self, request, context):
        turn = request.turn
        entry_id = await asyncio.to_thread(
            self.profiles.log_turn, turn.user_id, turn.session_id, turn.message_index, turn.input_text,
            list(turn.retrieved_movie_ids), list(turn.retrieved_scores), list(turn.picked_movie_ids),
            millis(turn.created_at, turn.HasField("created_at")))
        return profile_pb2.LogTurnResponse(entry_id=entry_id)

    async def _entries(self, user_id: str) -> list[profile_pb2.WatchlistEntry]:
        entries = await asyncio.to_thread(self.watchlists.entries, user_id)
        return [profile_pb2.WatchlistEntry(movie_id=e.movie_id, added_at=timestamp(e.added_at_ms)) for e in entries]

    @translate_errors
    async def GetWatchlist(self, request, context):
        return profile_pb2.GetWatchlistResponse(entries=await self._entries(request.user_id))

    @translate_errors
    async def AddToWatchlist(self, request, context):
        added = await asyncio.to_thread(self.watchlists.add, request.user_id, request.movie_id)
        log.info("watchlist add", extra=log_fields(user_id=request.user_id, movie_id=request.movie_id, added=added))
        return profile_pb2.AddToWatchlistResponse(added=added, entries=await self._entries(request.user_id))

    @translate_errors
    async def RemoveFromWatchlist(self, request, context):
        removed = await asyncio.to_thread(self.watchlists.remove, request.user_id, request.movie_id)
        log.info("watchlist remove", extra=log_fields(user_id=request.user_id, movie_id=request.movie_id,
                                                      removed=removed))
        return profile_pb2.RemoveFromWatchlistResponse(removed=removed, entries=await self._entries(request.user_id))

    @translate_errors
    async def GetTasteHistory(self, request, context):
        snapshots = await asyncio.to_thread(self.profiles.taste_history, request.user_id)
        return profile_pb2.GetTasteHistoryResponse(max_snapshots=TASTE_HISTORY_MAX, snapshots=[
            profile_pb2.TasteSnapshot(day=timestamp(s.day_start_ms), version=s.version, changed_at=timestamp(s.at_ms),
                                      vector=s.vector.tolist()) for s in snapshots])


def build_profiles(settings: ProfileSettings) -> Profiles:
    """Load the movie vectors and the cold-start centroid; connect the store and the embedding client."""
    movies = MovieVectors.load(settings.index_dir)
    popular = popular_movie_ids(settings.catalog_dir, movies, settings.cold_start_top_n)
    embedder = (Embedder(settings.embedding_addr, settings.embed_timeout_s, movies.dim)
                if settings.embedding_addr else None)
    store = ProfileStore(settings.store)
    store.client.ping()
    log.info("profiles loaded", extra=log_fields(index_version=movies.version, movies=len(movies.rows),
                                                 dim=movies.dim, cold_start_movies=len(popular)))
    return Profiles(store, movies, settings.taste, embedder, cold_start_vector(movies, popular))


async def main() -> None:
    grpc_settings = GrpcServerSettings.from_env("profile", DEFAULT_PORT)
    settings = ProfileSettings.from_env(require_embedding=True)
    servicer = ProfileService()

    async def load() -> None:
        try:
            profiles = await asyncio.to_thread(build_profiles, settings)
            servicer.watchlists = Watchlists(profiles.store.client, profiles.store.watchlist_key, profiles.movies)
            servicer.profiles = profiles
        except Exception as error:  # stays NOT_SERVING; RPCs say why
            servicer.load_error = str(error)
            raise

    await serve(grpc_settings, [(profile_pb2_grpc.add_ProfileServiceServicer_to_server, servicer, SERVICE_NAME)],
                load=load)
