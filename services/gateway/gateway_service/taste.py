"""Taste Wrapped: genre radar (the Affinity formula), the 2-D taste map and a summary of true facts.

Over time (services/gateway/README.md, "Taste Wrapped"): the profile tier's taste history
(``GetTasteHistory``, one snapshot per day) is drawn as a path on the map — each snapshot projected with
the same PCA as the user point — and as the vector radar "then vs now" on fixed genre axes, beside the
reference points (average viewer, critic consensus) measured the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from gateway_service.deps import Services, call
from gateway_service.errors import ApiError
from gateway_service.fallback import decade_of
from gateway_service.recommend import UserView, genre_affinity, load_user, normalize, search
from gateway_service.schemas import (
    AxisName,
    GenreRadarView,
    MapPoint,
    PathPoint,
    RadarPoint,
    RadarSeries,
    TasteMapView,
    TasteResponse,
    TopMovie,
    UserTheme,
)
from gateway_service.taste_map import TasteMap
from gateway_service.themes import ThemeIndex, user_themes
from movierec.profile.v1 import profile_pb2
from movierec_catalog import NON_CONTENT_GENRES
from movierec_catalog.filter import Filter

log = logging.getLogger("movierec.gateway.taste")

RADAR_GENRES = 8
TOP_MOVIES = 5
NEARBY = 6
ONBOARDING_PICK_RATING = 5.0  # picks made at sign-up count as loved (documented in the README)


def radar(services: Services, user: UserView) -> tuple[list[RadarPoint], str]:
    """Top genres by count with their affinity; onboarding picks stand in when nothing is rated yet."""
    ratings, source = user.ratings, "ratings"
    if not ratings:
        ratings = {m: ONBOARDING_PICK_RATING for m in user.liked_ids}
        source = "onboarding" if ratings else "none"
    affinity = {g: v for g, v in genre_affinity(services, ratings).items() if g not in NON_CONTENT_GENRES}
    ordered = sorted(affinity.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:RADAR_GENRES]
    return [RadarPoint(genre=g, affinity=round(a, 3), count=c) for g, (a, c) in ordered], source


def top_movies(services: Services, user: UserView) -> list[TopMovie]:
    out = []
    for movie_id, rating in sorted(user.ratings.items(), key=lambda kv: (-kv[1], kv[0])):
        movie = services.catalog.get(movie_id)
        if movie is not None and rating >= 3.5:
            out.append(TopMovie(movie_id=movie_id, title=movie.title, year=movie.year, rating=rating))
    for movie_id in user.liked_ids:
        movie = services.catalog.get(movie_id)
        if movie is not None and movie_id not in user.ratings:
            out.append(TopMovie(movie_id=movie_id, title=movie.title, year=movie.year, rating=None))
    return out[:TOP_MOVIES]


def map_view(taste_map: TasteMap, user: UserView, tops: list[TopMovie], nearby: list[tuple[int, str]],
             history: list[profile_pb2.TasteSnapshot] = (), themes: ThemeIndex | None = None) -> TasteMapView:
    you_x, you_y = taste_map.project(user.taste)
    points = [MapPoint(kind="you", label="You", x=you_x, y=you_y)]
    for kind, label in (("average_viewer", "Average viewer"), ("critic_consensus", "Critic consensus")):
        x, y = taste_map.project(taste_map.anchor(kind))
        points.append(MapPoint(kind=kind, label=label, x=x, y=y))
    for kind, items in (("top_movie", [(t.movie_id, t.title) for t in tops]), ("nearby", nearby)):
        for movie_id, title in items:
            if movie_id in taste_map.coords_by_id:
                x, y = taste_map.coords_by_id[movie_id]
                points.append(MapPoint(kind=kind, label=title, movie_id=movie_id, x=x, y=y))
    path = []
    for snapshot in history:
        if len(snapshot.vector) == len(taste_map.mean):  # a snapshot from another index dimension is skipped
            x, y = taste_map.project(np.asarray(snapshot.vector, dtype=np.float32))
            path.append(PathPoint(day=_day(snapshot.day), version=snapshot.version, x=x, y=y))
    return TasteMapView(method=taste_map.manifest["method"], index_version=taste_map.index_version,
                        explained_variance=taste_map.manifest["explained_variance"], points=points, path=path,
                        axis_names=axis_names(taste_map, themes))


def _day(stamp):
    return datetime.fromtimestamp(stamp.seconds, UTC).date()


AXIS_THEME_MIN_MEMBERS = 3


def axis_names(taste_map: TasteMap, themes: ThemeIndex | None) -> list[AxisName] | None:
    """Each map axis named by the themes at its ends: the theme whose members' mean coordinate along the
    axis is lowest names the negative end, the highest the positive end (themes with fewer than 3 members
    on the map do not count). None without a themes artifact or with fewer than 2 themes on the map."""
    if themes is None:
        return None
    centres = []
    for theme in themes.themes:
        coords = [taste_map.coords_by_id[m] for m in theme.movie_ids if m in taste_map.coords_by_id]
        if len(coords) >= AXIS_THEME_MIN_MEMBERS:
            centres.append((theme.name, np.mean(np.asarray(coords), axis=0)))
    if len(centres) < 2:
        return None
    names = []
    for axis in (0, 1):
        ordered = sorted(centres, key=lambda c: (float(c[1][axis]), c[0]))
        names.append(AxisName(negative=ordered[0][0], positive=ordered[-1][0]))
    return names


RADAR_MEASURE = ("lean toward each genre: cos(taste − the average movie, the genre's centroid − the average "
                 "movie), −1…1, 0 = no lean; axes are the catalog's most frequent content genres")


def vector_radar(taste_map: TasteMap, now: np.ndarray,
                 history: list[profile_pb2.TasteSnapshot]) -> tuple[GenreRadarView | None, str | None]:
    """Then (the earliest snapshot) vs now (the current taste vector) on the map's fixed genre axes, with the
    reference points' radars; (None, why) when the map has no axes."""
    if not taste_map.genre_names:
        return None, (f"the taste map of index {taste_map.index_version} has no genre axes (built before they were "
                      "added): rerun `python -m movierec_jobs.taste_map`")
    dim = len(taste_map.mean)
    usable = [s for s in history if len(s.vector) == dim]
    series = []
    then = usable[0] if usable else None
    if then is not None:
        series.append(RadarSeries(kind="then", label=f"You on {_day(then.day).isoformat()}", day=_day(then.day),
                                  values=_rounded(taste_map.genre_leans(np.asarray(then.vector, dtype=np.float32)))))
    series.append(RadarSeries(kind="now", label="You now", values=_rounded(taste_map.genre_leans(now))))
    for kind, label in (("average_viewer", "Average viewer"), ("critic_consensus", "Critic consensus")):
        leans = taste_map.genre_leans(taste_map.anchor(kind))
        series.append(RadarSeries(kind=kind, label=label, values=_rounded(leans)))
    then_is_now = then is None or series[0].values == series[1].values
    return GenreRadarView(axes=list(taste_map.genre_names), measure=RADAR_MEASURE, series=series,
                          then_is_now=then_is_now), None


DRIFT_MIN = 0.02  # a change of lean smaller than this is not called a move


def drift_sentence(view: GenreRadarView | None) -> str | None:
    """"Since <day> your taste has moved toward <g+> and away from <g−>." from the radar then vs now (the
    axes whose lean grew and shrank most), or None when there is no earlier day or nothing moved."""
    if view is None or view.then_is_now:
        return None
    series = {s.kind: s for s in view.series}
    then, now = series["then"], series["now"]
    deltas = [(n - t, axis) for axis, t, n in zip(view.axes, then.values, now.values, strict=True)]
    up, down = max(deltas), min(deltas)
    parts = []
    if up[0] >= DRIFT_MIN:
        parts.append(f"toward {up[1]}")
    if down[0] <= -DRIFT_MIN:
        parts.append(f"away from {down[1]}")
    if not parts:
        return None
    return f"Since {then.day.isoformat()} your taste has moved {' and '.join(parts)}."


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


async def taste_history(services: Services, user_id: str) -> tuple[list[profile_pb2.TasteSnapshot], str | None]:
    """The profile tier's daily snapshots (oldest first); an empty history and the reason when the tier cannot
    answer (Taste Wrapped still shows the rest)."""
    try:
        answer = await call("profile", services.profile.GetTasteHistory,
                            profile_pb2.GetTasteHistoryRequest(user_id=user_id))
    except ApiError as error:
        log.warning("taste history unavailable", extra={"user_id": user_id, "error": error.message})
        return [], f"the taste history is unavailable: {error.message}"
    return list(answer.snapshots), None


def summary(services: Services, user: UserView, points: list[RadarPoint], source: str, tops: list[TopMovie],
            nearby: list[tuple[int, str]], taste_map: TasteMap | None) -> str:
    sentences = []
    if source == "ratings":
        sentences.append(f"You have rated {len(user.ratings)} movie{'s' if len(user.ratings) != 1 else ''}.")
        strongest = max(points, key=lambda p: (p.affinity, p.count)) if points else None
        if strongest is not None:
            sentences.append(f"Your strongest genre is {strongest.genre} ({strongest.affinity:.1f}★ average over "
                             f"{strongest.count} movie{'s' if strongest.count != 1 else ''}).")
    elif source == "onboarding":
        sentences.append(f"Your profile comes from the {len(user.liked_ids)} movies you picked at sign-up.")
        if points:
            sentences.append(f"{points[0].genre} appears most among them ({points[0].count} of "
                             f"{len(user.liked_ids)}).")
    decades = Counter(decade_of(t.year) for t in tops if t.year)
    if decades:
        decade, count = decades.most_common(1)[0]
        if count >= 2:
            sentences.append(f"{count} of your top {len(tops)} movies are from the {decade}.")
    if taste_map is not None:
        taste = normalize(user.taste)
        to_average = float(taste @ taste_map.anchor("average_viewer"))
        to_critics = float(taste @ taste_map.anchor("critic_consensus"))
        closer = "critic consensus" if to_critics > to_average else "the average viewer"
        sentences.append(f"Your taste is closer to {closer} (similarity {max(to_critics, to_average):.2f} vs "
                         f"{min(to_critics, to_average):.2f}).")
    if nearby:
        sentences.append(f"The unseen movie closest to your taste right now is {nearby[0][1]}.")
    return " ".join(sentences)


async def taste(services: Services, user_id: str) -> TasteResponse:
    user = await load_user(services, user_id)
    points, source = radar(services, user)
    tops = top_movies(services, user)
    candidates, (history, history_reason) = await asyncio.gather(
        search(services, user.taste, NEARBY, Filter(exclude_movie_ids=user.seen)), taste_history(services, user_id))
    nearby = [(h.movie_id, m.title) for h in candidates.hits if (m := services.catalog.get(h.movie_id))]
    store = services.extras["taste_maps"]
    taste_map = store.get(candidates.index_version) if candidates.index_version else None
    reason = None
    radar_view, radar_reason = None, None
    if taste_map is None:
        reason = (f"the taste map for index version {candidates.index_version!r} has not been built: "
                  "run `python -m movierec_jobs.taste_map`")
        radar_reason = reason
    else:
        radar_view, radar_reason = vector_radar(taste_map, np.asarray(user.profile.vector, dtype=np.float32), history)
        if radar_view is not None and history_reason:
            radar_reason = history_reason  # the radar shows "now" and the reference points, without "then"
    themes = services.extras.get("themes")
    if themes is not None and taste_map is not None and themes.index_version != taste_map.index_version:
        themes = None  # themes of another index: their members may be placed differently
    return TasteResponse(
        user_id=user_id, ratings_count=len(user.ratings), radar=points, radar_source=source, top_movies=tops,
        map=map_view(taste_map, user, tops, nearby, history, themes) if taste_map else None,
        map_unavailable_reason=reason,
        summary=" ".join(filter(None, [summary(services, user, points, source, tops, nearby, taste_map),
                                       drift_sentence(radar_view)])),
        top_themes=top_themes(services, tops), taste_radar=radar_view, taste_radar_unavailable_reason=radar_reason,
        history_days=len(history))


def top_themes(services: Services, tops: list[TopMovie]) -> list[UserTheme]:
    """The themes of the favourites (the top movies), each with a pattern line from their own facts."""
    index = services.extras.get("themes")
    if index is None or not tops:
        return []
    found = user_themes(index, services.catalog, [t.movie_id for t in tops])
    return [UserTheme(theme_id=f.theme.theme_id, name=f.theme.name, favourites_in_theme=len(f.movie_ids),
                      favourites=f.favourites, movie_ids=list(f.movie_ids), shared_facts=list(f.shared_facts),
                      pattern=f.pattern) for f in found]
