"""Taste Wrapped: genre radar (the Affinity formula), the 2-D taste map and a summary of true facts."""

from __future__ import annotations

from collections import Counter

from gateway_service.deps import Services
from gateway_service.fallback import decade_of
from gateway_service.recommend import UserView, genre_affinity, load_user, normalize, search
from gateway_service.schemas import MapPoint, RadarPoint, TasteMapView, TasteResponse, TopMovie, UserTheme
from gateway_service.taste_map import TasteMap
from gateway_service.themes import user_themes
from movierec_catalog.filter import Filter

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
    affinity = genre_affinity(services, ratings)
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


def map_view(taste_map: TasteMap, user: UserView, tops: list[TopMovie], nearby: list[tuple[int, str]]) -> TasteMapView:
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
    return TasteMapView(method=taste_map.manifest["method"], index_version=taste_map.index_version,
                        explained_variance=taste_map.manifest["explained_variance"], points=points)


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
    candidates = await search(services, user.taste, NEARBY, Filter(exclude_movie_ids=user.seen))
    nearby = [(h.movie_id, m.title) for h in candidates.hits if (m := services.catalog.get(h.movie_id))]
    store = services.extras["taste_maps"]
    taste_map = store.get(candidates.index_version) if candidates.index_version else None
    reason = None
    if taste_map is None:
        reason = (f"the taste map for index version {candidates.index_version!r} has not been built: "
                  "run `python -m gateway_service.taste_map`")
    return TasteResponse(
        user_id=user_id, ratings_count=len(user.ratings), radar=points, radar_source=source, top_movies=tops,
        map=map_view(taste_map, user, tops, nearby) if taste_map else None, map_unavailable_reason=reason,
        summary=summary(services, user, points, source, tops, nearby, taste_map),
        top_themes=top_themes(services, tops))


def top_themes(services: Services, tops: list[TopMovie]) -> list[UserTheme]:
    """The themes of the favourites (the top movies), each with a pattern line from their own facts."""
    index = services.extras.get("themes")
    if index is None or not tops:
        return []
    found = user_themes(index, services.catalog, [t.movie_id for t in tops])
    return [UserTheme(theme_id=f.theme.theme_id, name=f.theme.name, favourites_in_theme=len(f.movie_ids),
                      favourites=f.favourites, movie_ids=list(f.movie_ids), shared_facts=list(f.shared_facts),
                      pattern=f.pattern) for f in found]
