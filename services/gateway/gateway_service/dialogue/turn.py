"""One chat turn: understand → fold into the dialogue state → answer (follow-up, small talk or picks) → reply.

:func:`turn_events` yields the turn as events, so ``POST /api/chat/stream`` can send the understanding
and the picks first and the reply as it is written (an LLM reply takes seconds); ``POST /api/chat``
(:func:`chat_turn`) runs the same events and returns the final response.

Profile steps (what may move the taste vector):

* a recommending turn whose message has taste words (residual text, vibes) takes the profile tier's EMA
  step (ProfileService.ApplyMessage); one without them only reads the profile;
* **chat-first**: when the user has no profile yet (NOT_FOUND), the turn calls ProfileService.Onboard with
  the seed titles, the vibes and the residual text, then proceeds; with nothing to seed but constraints,
  it recommends from the cold-start profile; with nothing at all ("hi"), it asks what they'd like;
* a follow-up question or small talk never moves it (no ApplyMessage).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic.alias_generators import to_camel

from gateway_service import taste_text
from gateway_service.deps import Services, call
from gateway_service.dialogue import followup, llm_reply, reply
from gateway_service.dialogue.llm_understand import understand_with_llm
from gateway_service.dialogue.plan import (
    PeopleIndex,
    build_filter,
    gather_query_parts,
    likes_of,
    query_vector,
    resolve_relative,
    retrieve_and_rank,
)
from gateway_service.dialogue.state import (
    SESSION_KEY,
    DialogueState,
    Folded,
    PickFactor,
    ShownPick,
    fold,
    remove,
    remove_seed,
)
from gateway_service.dialogue.understand import DialogueContext, UnderstandingResources, understand
from gateway_service.dialogue.understanding import Act, Removal, Understanding
from gateway_service.errors import ApiError, forbidden, not_found
from gateway_service.keyphrase_search import chat_matches
from gateway_service.recommend import UserView, record_watched, watched_ids
from gateway_service.schemas import (
    Card,
    ChatDiagnostics,
    ChatRequest,
    ChatResponse,
    ChatSessionView,
    ChatTurnView,
    ConstraintChipView,
    ConstraintRemoval,
    ConstraintsView,
    FranchiseView,
    TitleView,
)
from gateway_service.timing import stage
from movierec.common.v1 import common_pb2
from movierec.events.v1 import events_pb2
from movierec.profile.v1 import profile_pb2
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.chat")

RANK_CONTEXT_TURNS = 6
_WORD = re.compile(r"[^\W\d_]{3,}")


# ---- the session ---------------------------------------------------------------------------------------

async def load_state(services: Services, session_id: str, user_id: str) -> DialogueState:
    raw = await services.redis.get(SESSION_KEY.format(session_id=session_id))
    state = DialogueState.from_json(raw) if raw is not None else None
    if state is None:
        raise not_found(f"no chat session {session_id!r} (unknown or expired); omit sessionId to start a new one")
    if state.user_id != user_id:
        raise forbidden("this chat session belongs to another user")
    return state


async def save_state(services: Services, state: DialogueState) -> None:
    await services.redis.set(SESSION_KEY.format(session_id=state.session_id), state.to_json(),
                             ex=services.settings.chat_session_ttl_s)


async def delete_state(services: Services, state: DialogueState) -> None:
    await services.redis.delete(SESSION_KEY.format(session_id=state.session_id))


def constraints_view(state: DialogueState) -> ConstraintsView:
    c = state.constraints
    return ConstraintsView(
        include_genres=c.include_genres, exclude_genres=c.exclude_genres, min_certification=c.min_certification,
        max_certification=c.max_certification, use_certification_estimates=c.use_certification_estimates,
        min_runtime_min=c.min_runtime_min, max_runtime_min=c.max_runtime_min, lenient_runtime=c.lenient_runtime,
        min_year=c.min_year, max_year=c.max_year, language=c.language,
        exclude_titles=[TitleView(movie_id=t.movie_id, title=t.title, year=t.year) for t in c.exclude_titles],
        exclude_franchises=[FranchiseView(name=f.name, movie_ids=f.movie_ids) for f in c.exclude_franchises],
        exclude_people=c.exclude_people, require_people=c.require_people,
        seed_titles=[TitleView(movie_id=t.movie_id, title=t.title, year=t.year) for t in state.seeds],
        descriptions=[chip.label for chip in reply.chips(state)])


def chip_views(state: DialogueState) -> list[ConstraintChipView]:
    return [ConstraintChipView(label=c.label, slot=c.slot, value=c.value) for c in reply.chips(state)]


def session_view(state: DialogueState) -> ChatSessionView:
    return ChatSessionView(session_id=state.session_id, user_id=state.user_id, constraints=constraints_view(state),
                           chips=chip_views(state),
                           turns=[ChatTurnView(role=t.role, text=t.text, movie_ids=t.movie_ids, at=t.at)
                                  for t in state.turns])


def apply_removals(state: DialogueState, removals: list[ConstraintRemoval]) -> None:
    """The chips the person removed (``removeConstraints``), before the turn runs."""
    for removal in removals:
        if removal.slot == "seed_titles":
            remove_seed(state, removal.value)
        else:
            remove(state, Removal(slot=removal.slot, value=removal.value))


def camel_keys(value):
    """An Understanding's JSON with camelCase keys (the REST convention)."""
    if isinstance(value, dict):
        return {to_camel(k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


# ---- understanding -------------------------------------------------------------------------------------

@dataclass
class Understood:
    understanding: Understanding
    by: str  # "rules" | "rules+llm" | "none"
    llm_fallback: str | None = None  # why the LLM's reading was not used (an LLM is configured)


async def understanding_resources(services: Services) -> UnderstandingResources:
    """The title linker and franchise index (built at start-up by app.py; here if a test app skipped it)."""
    resources = services.extras.get("understanding")
    if resources is None:
        resources = await asyncio.to_thread(UnderstandingResources.from_catalog, services.catalog)
        services.extras["understanding"] = resources
    return resources


async def understand_message(services: Services, state: DialogueState, message: str) -> Understood:
    """The message read in the context of the dialogue so far (dialogue/understand.py)."""
    picks = [m for p in state.last_picks if (m := services.catalog.get(p.movie_id)) is not None]
    context = DialogueContext(resources=await understanding_resources(services), picks=picks,
                              active=state.constraints,
                              history=[{"role": t.role, "text": t.text} for t in state.turns[-RANK_CONTEXT_TURNS:]])
    client = llm_reply.client_for(services)
    if client is None:
        return Understood(understand(message, context), "rules")
    understanding, by, fallback = await understand_with_llm(message, context, client)
    return Understood(understanding, by, fallback)


# ---- the turn -----------------------------------------------------------------------------------------

@dataclass
class TurnResult:
    """What the turn produced before its reply is written."""

    state: DialogueState
    understood: Understood
    folded: Folded
    cards: list[Card] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    filled: bool = True
    taste_updated: bool = False
    onboarded: bool = False
    profile_version: int = 0
    degraded: bool = False
    degraded_reason: str | None = None
    diagnostics: ChatDiagnostics | None = None
    hits: list = field(default_factory=list)
    logged: bool = False  # a recommending turn: logged with ProfileService.LogTurn
    history_titles: list[str] = field(default_factory=list)
    taste_text: taste_text.TasteText | None = None  # the residual taste text as embedded (taste_text.py)


def taste_words(u: Understanding) -> str:
    """The words that may move the taste (residual text and vibes); empty when they say nothing."""
    text = " ".join([u.residual_text.strip(), *u.seeds.vibes]).strip()
    return text if _WORD.search(text) else ""


def asks_something(u: Understanding) -> bool:
    """Small talk that still states a request ("hi! something like Heat") is answered with picks; "thanks"
    after an answer is not (it must not re-run the session's constraints)."""
    return bool(u.seeds.titles or taste_words(u) or u.relative or u.constraints != type(u.constraints)())


async def turn_events(services: Services, body: ChatRequest, *, diagnostics: bool = False) -> AsyncIterator[tuple]:
    """("picks", dict), ("reply", text chunk)…, ("result", ChatResponse) — see the module docstring."""
    with stage("session"):
        state = (await load_state(services, body.session_id, body.user_id) if body.session_id
                 else DialogueState.new(body.user_id))
    apply_removals(state, body.remove_constraints)
    if body.message is None:  # a chip removed: re-run the last request (its words: state.query_text) without it
        understood = Understood(Understanding(act=Act.REFINE), "none")
    else:
        with stage("understand"):
            understood = await understand_message(services, state, body.message)
    u, relative_notes = resolve_relative(understood.understanding, services.catalog)
    folded = fold(state, u)
    result = TurnResult(state, understood, folded, notes=[*folded.notes, *relative_notes])
    if u.act == Act.FOLLOW_UP:
        await _profile_read(services, body.user_id, result)
        text = followup.answer(folded.referenced, state.last_picks, _other_titles(u, state), services.catalog,
                               result.notes)
    elif u.act == Act.SAVE:
        text = await _save_picks(services, body.user_id, folded.referenced, result)
    elif u.act == Act.SMALLTALK and not asks_something(u):
        await _profile_read(services, body.user_id, result)
        text = reply.smalltalk_reply(state, u.unresolved_titles, result.notes)
    else:
        text = await _recommend(services, body, u, result, diagnostics)
    yield "picks", _picks_event(result)
    client = llm_reply.client_for(services) if result.cards else None
    written = WrittenReply(text)
    if client is None:
        async for chunk in _reply_chunks(text):
            yield "reply", chunk
    else:
        async for chunk in _llm_reply_chunks(services, client, body, result, written):
            yield "reply", chunk
    with stage("record"):
        await _record(services, body, result, written.text)
    yield "result", _response(result, written.text, written.source,
                              "; ".join(f for f in (understood.llm_fallback, written.fallback) if f) or None)


async def chat_turn(services: Services, body: ChatRequest, *, diagnostics: bool = False) -> ChatResponse:
    response = None
    async for kind, payload in turn_events(services, body, diagnostics=diagnostics):
        if kind == "result":
            response = payload
    return response


@dataclass
class WrittenReply:
    text: str  # the template until an LLM reply passes its check
    source: str = "template"
    fallback: str | None = None


async def _llm_reply_chunks(services: Services, client, body: ChatRequest, result: TurnResult,
                            written: WrittenReply) -> AsyncIterator[str]:
    """The deterministic header, then the LLM's checked sentences (llm_reply.py); on any failure the
    template stays the reply (the final event carries it, and the UI shows it in place of the stream)."""
    state, u = result.state, result.understood.understanding
    header = "\n".join(reply.reply_header(result.cards, state, filled=result.filled,
                                          unresolved=u.unresolved_titles, notes=result.notes))
    yield header + "\n"
    history = [*result.history_titles, *(t.title for t in state.seeds),
               *(t.title for t in state.constraints.exclude_titles)]
    checker = llm_reply.checker_for(result.cards, services.catalog, history)
    messages = llm_reply.messages_for(body.message or state.query_text, reply.understood_line(state), result.cards,
                                      services.catalog, result.history_titles)
    out = llm_reply.LlmReply()
    with stage("reply"):
        async for piece in llm_reply.stream_checked(client, messages, checker, out):
            yield piece
    if out.fallback is None:
        written.text, written.source = f"{header}\n{out.text}", "llm"
    else:
        written.fallback = out.fallback
        log.info("LLM reply not used", extra=log_fields(reason=out.fallback))


async def _reply_chunks(text: str) -> AsyncIterator[str]:
    """The template reply, line by line (an LLM reply streams sentence by sentence: llm_reply.py)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        yield line + ("\n" if i < len(lines) - 1 else "")


def _other_titles(u: Understanding, state: DialogueState):
    """Titles a follow-up names that are not picks of the last answer ("why not Heat?")."""
    shown = {p.movie_id for p in state.last_picks}
    titles = [*u.seeds.titles, *u.constraints.exclude_titles]
    return [t for t in {t.movie_id: t for t in titles}.values() if t.movie_id not in shown]


# ---- profile -----------------------------------------------------------------------------------------

# Set by POST /api/chat for a turn sent with an Idempotency-Key (routes_chat.py): the profile steps of the
# turn get event ids derived from it, so a retried turn is not applied twice by the (event-id idempotent)
# profile tier. Without a key every turn is new.
TURN_EVENT_SEED: ContextVar[str | None] = ContextVar("turn_event_seed", default=None)


def step_event_id(kind: str) -> str:
    seed = TURN_EVENT_SEED.get()
    return uuid.uuid4().hex if seed is None else hashlib.sha256(f"{seed}\n{kind}".encode()).hexdigest()[:32]


async def _save_picks(services: Services, user_id: str, referenced: list[ShownPick], result: TurnResult) -> str:
    """"Save the second one": the referenced picks go onto the watchlist (the profile tier's, as from the
    movie modal); no new picks, the taste stays where it is."""
    await _profile_read(services, user_id, result)
    state = result.state
    if not referenced:
        names = ", ".join(f"{i}. {p.title}" for i, p in enumerate(state.last_picks, start=1))
        return "\n".join([*result.notes, f"Which one should I save? My last picks were {names}." if names
                           else "I haven't shown you any picks yet, so there is nothing to save."])
    saved, already, refused = [], [], ""
    for pick in referenced:
        try:
            response = await call("profile", services.profile.AddToWatchlist,
                                  profile_pb2.AddToWatchlistRequest(user_id=user_id, movie_id=pick.movie_id))
        except ApiError as error:  # the watchlist is full (409) or the profile tier is down: say so, keep the rest
            refused = error.message
            break
        (saved if response.added else already).append(f"{pick.title} ({pick.year})" if pick.year else pick.title)
    lines = list(result.notes)
    if saved:
        lines.append(f"Saved to your watchlist: {', '.join(saved)}. I'll keep it out of my picks from now on.")
    if already:
        lines.append(f"Already on your watchlist: {', '.join(already)}.")
    if refused:
        lines.append(f"I couldn't save {'the rest' if saved or already else 'it'}: {refused}")
    return "\n".join(lines)


async def _profile_read(services: Services, user_id: str, result: TurnResult) -> None:
    """The profile version for the response, without changing anything (cold start when not onboarded)."""
    response = await call("profile", services.profile.GetProfile,
                          profile_pb2.GetProfileRequest(user_id=user_id, allow_cold_start=True))
    result.profile_version = response.profile.version


async def _profile_for_turn(services: Services, user_id: str, u: Understanding, state: DialogueState,
                            result: TurnResult):
    """The profile to recommend from (after the EMA step or chat-first onboarding), or None when a new user
    gave nothing to start from."""
    words = taste_words(u)
    try:
        if words:
            response = await call("profile", services.profile.ApplyMessage, profile_pb2.ApplyMessageRequest(
                user_id=user_id, text=words, event_id=step_event_id("message")))
            result.taste_updated = bool(response.applied)
            return response.profile
        response = await call("profile", services.profile.GetProfile, profile_pb2.GetProfileRequest(user_id=user_id))
        return response.profile
    except ApiError as error:
        if error.status != 404:
            raise
    return await _chat_first(services, user_id, u, state, result)


async def _chat_first(services: Services, user_id: str, u: Understanding, state: DialogueState,
                      result: TurnResult):
    """A user without a profile: onboard from the conversation's seeds and words (see the module docstring)."""
    words = taste_words(u)
    seeds = [t.movie_id for t in state.seeds]
    if seeds or words:
        try:
            response = await call("profile", services.profile.Onboard, profile_pb2.OnboardRequest(
                user_id=user_id, movie_ids=seeds, vibes=list(u.seeds.vibes), free_text=u.residual_text.strip(),
                event_id=step_event_id("onboard")))
        except ApiError as error:
            if error.status != 400:  # 400: nothing usable (e.g. seeds the index does not hold): start cold
                raise
            log.info("chat-first onboarding refused; cold start", extra=log_fields(user_id=user_id,
                                                                                  error=error.message))
        else:
            result.onboarded = result.taste_updated = True
            log.info("chat-first onboarding", extra=log_fields(user_id=user_id, seeds=len(seeds),
                                                               unknown=len(response.unknown_movie_ids)))
            return response.profile
    if seeds or words or state.constraints != type(state.constraints)():
        response = await call("profile", services.profile.GetProfile,
                              profile_pb2.GetProfileRequest(user_id=user_id, allow_cold_start=True))
        result.notes.append("Tell me a movie you loved and I'll tailor these to your taste.")
        return response.profile
    return None


# ---- recommending -------------------------------------------------------------------------------------

def people_index(services: Services) -> PeopleIndex:
    index = services.extras.get("people_index")
    if index is None:
        index = services.extras["people_index"] = PeopleIndex(services.catalog)
    return index


async def _recommend(services: Services, body: ChatRequest, u: Understanding, result: TurnResult,
                     diagnostics: bool) -> str:
    state = result.state
    u, result.taste_text = await taste_text.for_turn(services, u, body.message)  # LLM rewrite when enabled
    words = taste_words(u) or (state.query_text if body.message is None else "")
    with stage("profile"):  # the EMA step, the words' embedding, the seeds' vectors and the watched set
        seen_now = [record_watched(services, body.user_id, p.movie_id) for p in result.folded.newly_seen]
        profile, (text_vec, seed_vecs), watched, *_ = await asyncio.gather(
            _profile_for_turn(services, body.user_id, u, state, result),
            gather_query_parts(services, words, [t.movie_id for t in state.seeds]),
            watched_ids(services, body.user_id), *seen_now)
    if profile is None:
        return reply.smalltalk_reply(state, u.unresolved_titles, result.notes)
    result.profile_version = profile.version
    if body.message is not None:
        state.query_text = words
    user = UserView(body.user_id, profile, watched | {p.movie_id for p in result.folded.newly_seen})
    result.history_titles = [m.movie.title for m in user.loved(services)]
    hard = build_filter(state, user.seen, people_index(services))
    query = query_vector(user.taste, text_vec, seed_vecs)
    # The ranker's request words are the taste words, not the whole message: a title or a constraint
    # the message names ("like Toy Story", "nothing scary") is no query term ("has 'story' in its title").
    outcome = await retrieve_and_rank(services, user, hard, query, words, _recent_turns(state),
                                      seed_id=state.seeds[0].movie_id if state.seeds else 0,
                                      likes=likes_of(state, people_index(services)))
    # The taste words, as for the ranker: a title the message names ("like Casino") is no keyphrase to match.
    result.cards = await _with_keyphrase_matches(services, words, outcome.ranked.cards())
    result.filled = outcome.filled
    result.degraded, result.degraded_reason = outcome.ranked.degraded, outcome.ranked.degraded_reason
    result.hits, result.logged = outcome.hits, True
    if diagnostics:
        considered = list(dict.fromkeys([*outcome.retrieved_ids, *outcome.ranked_ids]))
        dropped = [i for i in considered if (m := services.catalog.get(i)) is None or not hard.admits(m)]
        result.diagnostics = ChatDiagnostics(retrieved_movie_ids=outcome.retrieved_ids,
                                             ranked_movie_ids=outcome.ranked_ids, dropped_by_final_filter=dropped)
    state.last_picks = [_shown(card) for card in result.cards]
    return reply.template_reply(result.cards, state, filled=result.filled, unresolved=u.unresolved_titles,
                                notes=result.notes)


async def _with_keyphrase_matches(services: Services, text: str, cards: list[Card]) -> list[Card]:
    """A mood request's picks say which of their keyphrases matched it (keyphrase_search.chat_matches)."""
    matches = await chat_matches(services, text, [card.movie_id for card in cards])
    return [card.model_copy(update={"matched_keyphrases": matches[card.movie_id]}) if card.movie_id in matches
            else card for card in cards]


def _shown(card: Card) -> ShownPick:
    return ShownPick(movie_id=card.movie_id, title=card.title, year=card.year, explanation=card.explanation,
                     match_score=card.match_score,
                     factors=[PickFactor(kind=f.kind, value=f.value, source_movie_id=f.source_movie_id,
                                         source_title=f.source_title) for f in card.factors])


def _recent_turns(state: DialogueState) -> list[common_pb2.ConversationTurn]:
    roles = {"user": common_pb2.ConversationTurn.ROLE_USER, "assistant": common_pb2.ConversationTurn.ROLE_ASSISTANT}
    return [common_pb2.ConversationTurn(role=roles[t.role], text=t.text) for t in state.turns[-RANK_CONTEXT_TURNS:]]


# ---- the answer -----------------------------------------------------------------------------------------

def _picks_event(result: TurnResult) -> dict:
    """The first streamed event: what was understood and the picks (before the reply is written)."""
    return {"sessionId": result.state.session_id, "act": result.understood.understanding.act.value,
            "understanding": camel_keys(result.understood.understanding.model_dump(mode="json")),
            "understoodBy": result.understood.by,
            "constraints": constraints_view(result.state).model_dump(mode="json", by_alias=True),
            "chips": [c.model_dump(mode="json", by_alias=True) for c in chip_views(result.state)],
            "recommendations": [c.model_dump(mode="json", by_alias=True) for c in result.cards]}


def _response(result: TurnResult, text: str, source: str, fallback: str | None) -> ChatResponse:
    return ChatResponse(
        session_id=result.state.session_id, reply=text, recommendations=result.cards,
        constraints=constraints_view(result.state), chips=chip_views(result.state),
        understanding=camel_keys(result.understood.understanding.model_dump(mode="json")),
        understood_by=result.understood.by, reply_source=source, llm_fallback=fallback,
        act=result.understood.understanding.act.value, taste_updated=result.taste_updated,
        onboarded=result.onboarded, profile_version=result.profile_version, degraded=result.degraded,
        degraded_reason=result.degraded_reason, diagnostics=result.diagnostics,
        **taste_text.response_fields(result.taste_text))


async def _record(services: Services, body: ChatRequest, result: TurnResult, text: str) -> None:
    state = result.state
    shown = [c.movie_id for c in result.cards] or [p.movie_id for p in result.folded.referenced]
    state.add_turns(body.message or "(removed a filter)", text, shown, services.settings.chat_history_max)
    writes = [save_state(services, state)]
    if result.logged:
        writes.append(log_turn(services, state, body.message or "", result.hits, result.cards))
    await asyncio.gather(*writes)  # independent writes: the Redis session and the profile tier's turn log


async def log_turn(services: Services, state: DialogueState, message: str, hits, cards: list[Card]) -> None:
    """ProfileService.LogTurn. The turn log is the profile tier's (its keys, its byte budget): when the tier
    cannot take it the entry is lost with a warning, and the answer the person already has stands."""
    created = Timestamp()
    created.GetCurrentTime()
    turn = events_pb2.RecommendationTurn(
        user_id=state.user_id, session_id=state.session_id, message_index=state.message_index,
        input_text=message, retrieved_movie_ids=[h.movie_id for h in hits],
        retrieved_scores=[h.score for h in hits], picked_movie_ids=[c.movie_id for c in cards], created_at=created)
    try:
        await call("profile", services.profile.LogTurn, profile_pb2.LogTurnRequest(turn=turn))
    except ApiError as error:
        log.warning("LogTurn failed; the turn is not logged",
                    extra=log_fields(status=error.status, error=error.message))
