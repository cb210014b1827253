"""Request and response bodies of the REST API (camelCase on the wire, snake_case in Python)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

MAX_ID = 2**53 - 1  # movie ids are int64 in the contracts; keep them exact in JavaScript too

MovieId = Annotated[int, Field(ge=1, le=MAX_ID, description="A MovieLens movie id")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class ApiModel(BaseModel):
    """Responses: camelCase aliases; both spellings accepted when building one in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class RequestModel(ApiModel):
    """Requests accept only the camelCase spelling and reject unknown fields, so a misspelled field
    (``user_id`` for ``userId``) is a 422, never a second way to name the acting user."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, validate_by_name=False,
                              validate_by_alias=True, extra="forbid", serialize_by_alias=True)


# ---- errors ------------------------------------------------------------------------------

class FieldProblem(ApiModel):
    field: str
    message: str


class ErrorDetail(ApiModel):
    status: int
    code: str
    message: str
    fields: list[FieldProblem] = []
    request_id: str | None = Field(None, description="The request's X-Request-Id: quote it when reporting a "
                                                     "problem; the server logs the details under it")


class ErrorBody(ApiModel):
    error: ErrorDetail


# ---- operations --------------------------------------------------------------------------

class ProbeResponse(ApiModel):
    status: Literal["alive", "ready", "not_ready"]
    reason: str | None = None


# ---- accounts ----------------------------------------------------------------------------

class Credentials(RequestModel):
    username: Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
    password: Annotated[str, StringConstraints(min_length=8, max_length=128)]


class TokenResponse(ApiModel):
    user_id: str
    username: str
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MeResponse(ApiModel):
    user_id: str
    username: str
    created_at: datetime


# ---- movies ------------------------------------------------------------------------------

class MovieSummary(ApiModel):
    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    poster_url: str
    placeholder_url: str
    runtime_min: int | None
    certification: str | None
    # The maturity model's most likely rating when there is no official one: shown as "est. PG",
    # never as a rating (certificationConfidence is its calibrated probability).
    certification_estimate: str | None = None
    certification_confidence: float | None = None


class MovieDetail(MovieSummary):
    overview: str | None
    director: str | None
    cast: list[str]
    keywords: list[str]
    tags: list[str]
    original_language: str | None
    vote_average: float | None
    vote_count: int | None


class MovieSearchResponse(ApiModel):
    query: str
    movies: list[MovieSummary]


class Vibe(ApiModel):
    id: str
    label: str
    description: str


class VibesResponse(ApiModel):
    vibes: list[Vibe]


# ---- onboarding --------------------------------------------------------------------------

class GenerateRequest(RequestModel):
    user_id: UserId
    movies: Annotated[list[MovieId], Field(max_length=20)] = []
    vibes: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=40),
                                    AfterValidator(_not_blank)]], Field(max_length=10)] = []
    free_text: Annotated[str, StringConstraints(max_length=1000)] = ""


class Stage(ApiModel):
    name: str
    label: str
    ms: float


class GenerateResponse(ApiModel):
    user_id: str
    embedding: list[float]
    timestamp: datetime
    profile_version: int
    unknown_movies: list[int]
    stages: list[Stage]
    # The taste normalizer (taste_text.py): "llm" when the checked rewrite was embedded, "original" when the
    # person's words were; null without taste text. The fallback says why a rewrite was not used.
    taste_text_source: Literal["original", "llm"] | None = None
    taste_text_fallback: str | None = None


# ---- recommendations ---------------------------------------------------------------------

FactorKindName = Literal["genre", "keyword", "tag", "director", "cast", "decade", "runtime",
                         "certification", "query_term", "similar_to_liked", "watched_next", "audience",
                         "unspecified"]


class Factor(ApiModel):
    kind: FactorKindName
    value: str
    source_movie_id: int | None = None
    source_title: str | None = None


class Card(ApiModel):
    movie_id: int
    title: str
    year: int | None
    poster_url: str
    placeholder_url: str
    match_score: Annotated[float, Field(ge=0, le=1)]
    explanation: str
    factors: list[Factor]
    because_movie_ids: list[int] = []
    genres: list[str] = []
    runtime_min: int | None = None
    certification: str | None = None
    certification_estimate: str | None = None  # "est. PG": the maturity model's guess, never official
    # The movie's keyphrases that matched a mood request's own (chat): "matched: cozy small town".
    matched_keyphrases: list[str] = []


class Carousel(ApiModel):
    id: str
    kind: Literal["top_picks", "because_you_loved", "fans_of", "theme"]
    title: str
    seed_movie_id: int | None = None
    theme_id: int | None = None  # kind "theme": GET /api/themes/{themeId}
    genre: str | None = None
    degraded: bool = False
    recommendations: list[Card]


class RecommendationsRequest(RequestModel):
    user_id: UserId
    num_results: Annotated[int, Field(ge=1, le=20)] = 5
    exclude_movies: Annotated[list[MovieId], Field(max_length=500)] = []
    context: Annotated[str, StringConstraints(max_length=500)] | None = None


class RecommendationsResponse(ApiModel):
    user_id: str
    cold_start: bool
    degraded: bool
    degraded_reason: str | None
    ranker: str
    index_version: str
    carousels: list[Carousel]


# ---- chat --------------------------------------------------------------------------------

class TitleView(ApiModel):
    movie_id: int
    title: str
    year: int | None = None


class FranchiseView(ApiModel):
    name: str
    movie_ids: list[int]


class ConstraintsView(ApiModel):
    """The active constraints of a chat session after a turn (they persist until changed)."""

    include_genres: list[str] = []
    exclude_genres: list[str] = []
    min_certification: str | None = None
    max_certification: str | None = None
    use_certification_estimates: bool = False
    min_runtime_min: int | None = None
    max_runtime_min: int | None = None
    lenient_runtime: bool = False
    min_year: int | None = None
    max_year: int | None = None
    language: str | None = None
    exclude_titles: list[TitleView] = []
    exclude_franchises: list[FranchiseView] = []
    exclude_people: list[str] = []
    require_people: list[str] = []
    seed_titles: list[TitleView] = []
    descriptions: list[str] = []


RemovableSlot = Literal["genres", "exclude_genres", "min_certification", "max_certification", "certification",
                        "runtime", "years", "min_year", "max_year", "language", "exclude_titles",
                        "exclude_franchises", "people", "seed_titles", "all"]


class ConstraintChipView(ApiModel):
    """One active constraint as the person sees it; send ``{slot, value}`` back in ``removeConstraints``."""

    label: str
    slot: RemovableSlot
    value: str | None = None


class ConstraintRemoval(RequestModel):
    slot: RemovableSlot
    value: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ChatRequest(RequestModel):
    user_id: UserId
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                                 pattern=r"^[A-Za-z0-9_\-]+$")] | None = None
    message: Annotated[str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_not_blank)] | None = None
    # Constraints to drop before the turn runs (a chip's ✕): with no message, the last request re-runs without them.
    remove_constraints: Annotated[list[ConstraintRemoval], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _something_to_do(self) -> ChatRequest:
        if self.message is None and not self.remove_constraints:
            raise ValueError("send a message, or removeConstraints to re-run the last request without them")
        if self.message is None and self.session_id is None:
            raise ValueError("removeConstraints without a message needs the sessionId of the conversation")
        return self


class ChatDiagnostics(ApiModel):
    retrieved_movie_ids: list[int]
    ranked_movie_ids: list[int]  # what the ranker returned, before the gateway's last-line filter
    dropped_by_final_filter: list[int]


class ChatResponse(ApiModel):
    session_id: str
    reply: str
    recommendations: list[Card]
    constraints: ConstraintsView
    chips: list[ConstraintChipView] = []
    understanding: dict = Field(default_factory=dict, description="This message's Understanding (camelCase)")
    understood_by: Literal["rules", "rules+llm", "none"] = "rules"
    reply_source: Literal["template", "llm"] = "template"
    llm_fallback: str | None = None
    act: str = "recommend"
    taste_updated: bool
    onboarded: bool = False  # this turn created the taste profile (chat-first)
    profile_version: int
    degraded: bool
    degraded_reason: str | None
    diagnostics: ChatDiagnostics | None = None
    # The taste normalizer on the residual taste text: as in GenerateResponse.
    taste_text_source: Literal["original", "llm"] | None = None
    taste_text_fallback: str | None = None


class ChatTurnView(ApiModel):
    role: Literal["user", "assistant"]
    text: str
    movie_ids: list[int] = []
    at: datetime


class ChatSessionView(ApiModel):
    session_id: str
    user_id: str
    constraints: ConstraintsView
    chips: list[ConstraintChipView] = []
    turns: list[ChatTurnView]


# ---- users -------------------------------------------------------------------------------

class RatingView(ApiModel):
    movie_id: int
    rating: float
    rated_at: datetime | None


class ProfileView(ApiModel):
    user_id: str
    version: int
    ratings: list[RatingView]
    liked_movie_ids: list[int]
    message_count: int
    review_count: int
    updated_at: datetime | None
    vector: list[float]


class WatchedRequest(RequestModel):
    movie_id: MovieId


class WatchedResponse(ApiModel):
    movie_id: int
    watched: bool


class RadarPoint(ApiModel):
    genre: str
    affinity: float
    count: int


class TopMovie(ApiModel):
    movie_id: int
    title: str
    year: int | None
    rating: float | None


class MapPoint(ApiModel):
    kind: Literal["you", "average_viewer", "critic_consensus", "top_movie", "nearby"]
    label: str
    movie_id: int | None = None
    x: float
    y: float


class PathPoint(ApiModel):
    """One day of the taste history, projected with the same PCA as the user point."""

    day: date  # the UTC day the snapshot stands for (the day's last state of the taste vector)
    version: int
    x: float
    y: float


class AxisName(ApiModel):
    """A map axis named by the themes at its two ends (their members' mean coordinate along it)."""

    negative: str
    positive: str


class TasteMapView(ApiModel):
    method: str
    index_version: str
    explained_variance: list[float]
    points: list[MapPoint]
    # The taste through time, oldest first (the long-term vector; "you" is the scoring vector now).
    path: list[PathPoint] = []
    # [x axis, y axis] when the themes artifact is loaded and built on this index version.
    axis_names: list[AxisName] | None = None


class RadarSeries(ApiModel):
    kind: Literal["then", "now", "average_viewer", "critic_consensus"]
    label: str
    day: date | None = None  # "then": the day of the earliest snapshot
    values: list[float]  # one lean per axis, −1…1 (0 = the average movie)


class GenreRadarView(ApiModel):
    """The vector radar on fixed axes (the catalog's most frequent content genres): then vs now and the
    reference points, all measured the same way so they can be overlaid."""

    axes: list[str]
    measure: str
    series: list[RadarSeries]
    then_is_now: bool  # one snapshot only (or none): nothing to compare yet


class ThemeTerm(ApiModel):
    """Why a theme has its name: the share of its members the term is true of."""

    kind: Literal["genre", "decade", "descriptor"]
    term: str
    label: str
    members: int
    share: float
    share_of_all: float


class ThemeSummary(ApiModel):
    theme_id: int
    name: str
    size: int
    name_terms: list[ThemeTerm]
    distinctive_terms: list[ThemeTerm]
    sample: list[MovieSummary]  # the most central members


class ThemesResponse(ApiModel):
    k: int
    silhouette: float
    themes: list[ThemeSummary]


class ThemeDetail(ThemeSummary):
    ranked_for_user: bool  # with a token: members ordered for its user (else: most central first)
    recommendations: list[Card]  # with a token: the ranker's picks among the unseen members, explained
    members: list[MovieSummary]  # one page of the members (offset/limit)
    total: int
    offset: int


class UserTheme(ApiModel):
    theme_id: int
    name: str
    favourites_in_theme: int
    favourites: int
    movie_ids: list[int]
    shared_facts: list[str]  # true of most of those favourites
    pattern: str  # "4 of your 5 favourites are in *Psychological Dramas*: unreliable narrator, 1990s"


class TasteResponse(ApiModel):
    user_id: str
    ratings_count: int
    radar: list[RadarPoint]
    radar_source: Literal["ratings", "onboarding", "none"]
    top_movies: list[TopMovie]
    map: TasteMapView | None
    map_unavailable_reason: str | None
    summary: str
    # The themes most of the user's favourites fall in, each with a pattern line built from their facts.
    top_themes: list[UserTheme] = []
    # The genre radar then vs now (earliest snapshot vs the current taste vector) + the reference points.
    taste_radar: GenreRadarView | None = None
    taste_radar_unavailable_reason: str | None = None
    history_days: int = 0  # snapshots in the taste history (at most the profile tier's cap)


# ---- import ------------------------------------------------------------------------------

class UnmatchedRow(ApiModel):
    line: int
    title: str
    year: int | None
    reason: str


class ImportResponse(ApiModel):
    source: Literal["letterboxd", "imdb"]
    rows: int
    matched: int
    queued: int
    onboarded: bool
    unmatched: list[UnmatchedRow]
    summary: str


# ---- watchlist ---------------------------------------------------------------------------

class WatchlistRequest(ApiModel):
    movie_id: Annotated[int, Field(gt=0)]


class WatchlistItem(MovieSummary):
    added_at: datetime


class WatchlistResponse(ApiModel):
    user_id: str
    items: list[WatchlistItem]
    changed: bool | None = None  # POST: added (False: already there); DELETE: removed (False: was not there)
