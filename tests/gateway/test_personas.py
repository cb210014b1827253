"""Personas through the real system: each signs up, onboards with picked movies, vibes and words (some
rate movies too), then reads the home page and asks the chat. Adult-dark personas must see no
children's or G-rated film, young-children personas no R/NC-17 and no horror, in every carousel and
in the chat's picks; the "Because you loved X" carousel is explained by X; the home page costs one
ranker call. Checked against the catalog's own fields, not through the ranker's audience code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from gateway_helpers import User, catalog, onboard, signup, wait_for


@dataclass(frozen=True)
class Persona:
    name: str
    movies: tuple[int, ...]
    vibes: tuple[str, ...]
    free_text: str
    chat: str
    ratings: dict[int, float] = field(default_factory=dict)


def _childish(movie) -> str | None:
    if "Children" in movie.genres:
        return "Children"
    return "G" if movie.certification == "G" else None


def _mature(movie) -> str | None:
    if "Horror" in movie.genres:
        return "Horror"
    official = movie.certification
    estimate = getattr(movie, "certification_estimate", None) if official is None else None
    rating = official or estimate
    return f"rated {rating}" if rating in ("R", "NC-17") else None


ADULT_DARK = (
    Persona("dark-adult", (593, 2959, 47, 296), ("dark", "violent"), "bleak crime and serial killers",
            "something to watch tonight", {1089: 5.0}),
    Persona("dark-superhero", (58559, 91529, 33794, 2571), ("dark", "gritty"), "dark, serious superhero films",
            "an action movie for tonight"),
    Persona("horror-fan", (1258, 1214, 1219, 1407, 2710), ("scary", "gore"), "horror that keeps me up at night",
            "something fun to watch", {253: 4.5}),
    Persona("arthouse", (4973, 6711, 2997), ("quirky", "melancholic"), "odd, beautiful films about lonely people",
            "something different for tonight"),
)
# Adult animation (South Park, Persepolis, The Triplets of Belleville): an adult band, but a soft one (not
# every pick is dark). Where in-band candidates abound (top picks) no children's film is shown; the
# "For fans of Animation" carousel may fill with family animation, as a soft prior allows (see the ranker README).
ADULT_ANIMATION = Persona("adult-animation", (2700, 55442, 6773), ("animated", "satire"),
                          "animation made for grown-ups", "something to watch tonight")
YOUNG_CHILDREN = (
    Persona("pixar-parent", (1, 6377, 4886, 68954), ("funny", "heartwarming"),
            "gentle, funny movies for my 6 year old", "something funny to watch", {2355: 5.0}),
    Persona("disney-classics", (364, 588, 595, 2081), ("musical", "magical"), "movies for the kids",
            "an adventure for tonight"),
)
OTHERS = (
    Persona("teens", (4896, 1270, 6539, 260), ("adventure", "fun"), "exciting adventures for my teenagers",
            "an exciting adventure"),
    Persona("mixed-family", (1, 858), ("funny", "crime"), "I watch with my kids and alone", "something good"),
)


def _home(client: httpx.Client, user: User) -> dict:
    response = client.post("/api/recommendations", headers=user.headers,
                           json={"userId": user.user_id, "numResults": 8})
    assert response.status_code == 200, response.text
    return response.json()


def _chat(client: httpx.Client, user: User, message: str) -> dict:
    response = client.post("/api/chat", headers=user.headers, json={"userId": user.user_id, "message": message})
    assert response.status_code == 200, response.text
    return response.json()


def _rate(client: httpx.Client, user: User, ratings: dict[int, float]) -> None:
    if not ratings:
        return
    before = client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).json()["version"]
    for movie_id, rating in ratings.items():
        response = client.post("/api/reviews", headers={**user.headers, "Idempotency-Key": f"{movie_id}-{rating}"},
                               json={"movieId": movie_id, "rating": rating})
        assert response.status_code == 202, response.text
    wait_for(lambda: client.get(f"/api/users/{user.user_id}/profile",
                                headers=user.headers).json()["version"] >= before + len(ratings), timeout_s=30)


def _persona_user(client: httpx.Client, persona: Persona) -> User:
    user = signup(client, persona.name.replace("-", "_"))
    onboard(client, user, movies=persona.movies, vibes=persona.vibes, free_text=persona.free_text)
    _rate(client, user, persona.ratings)
    return user


def _all_cards(home: dict, chat: dict) -> list[tuple[str, dict]]:
    cards = [(carousel["title"], card) for carousel in home["carousels"] for card in carousel["recommendations"]]
    return cards + [("chat", card) for card in chat["recommendations"]]


def _violations(cards: list[tuple[str, dict]], rule) -> list[str]:
    movies = catalog()
    found = []
    for where, card in cards:
        why = rule(movies.get(card["movieId"]))
        if why:
            found.append(f"{where}: {card['title']} ({why})")
    return found


@pytest.mark.parametrize("persona", ADULT_DARK, ids=lambda p: p.name)
def test_adult_dark_personas_see_no_childrens_or_g_titles(client, persona):
    user = _persona_user(client, persona)
    home, chat = _home(client, user), _chat(client, user, persona.chat)
    assert len(home["carousels"]) >= 2 and chat["recommendations"]
    assert _violations(_all_cards(home, chat), _childish) == []


def test_adult_animation_lover_gets_no_childrens_top_picks(client):
    user = _persona_user(client, ADULT_ANIMATION)
    home = _home(client, user)
    top = [("Top picks", card) for c in home["carousels"] if c["kind"] == "top_picks" for card in c["recommendations"]]
    assert top and _violations(top, _childish) == []


@pytest.mark.parametrize("persona", YOUNG_CHILDREN, ids=lambda p: p.name)
def test_young_children_personas_see_no_r_nc17_or_horror(client, persona):
    user = _persona_user(client, persona)
    home, chat = _home(client, user), _chat(client, user, persona.chat)
    assert len(home["carousels"]) >= 2 and chat["recommendations"]
    assert _violations(_all_cards(home, chat), _mature) == []


@pytest.mark.parametrize("persona", OTHERS, ids=lambda p: p.name)
def test_other_personas_get_full_pages_without_a_forced_band(client, persona):
    """Mixed or teen tastes show no band: nothing is said to have been kept to one."""
    user = _persona_user(client, persona)
    home, chat = _home(client, user), _chat(client, user, persona.chat)
    assert len(home["carousels"]) >= 2 and chat["recommendations"]
    notes = [card["title"] for _, card in _all_cards(home, chat) if "as your picks are" in card["explanation"]]
    assert notes == []


def test_audience_note_appears_when_the_prior_kept_something_out(client):
    """The Pixar parent's candidates include mature films near their picks: the cards say they were kept out."""
    user = _persona_user(client, YOUNG_CHILDREN[0])
    home = _home(client, user)
    explanations = [card["explanation"] for c in home["carousels"] for card in c["recommendations"]]
    assert any("Kept to family films, as your picks are." in text for text in explanations)


def test_because_you_loved_carousel_is_explained_by_its_movie(client):
    user = _persona_user(client, ADULT_DARK[0])  # rated Reservoir Dogs 5★ last: the seed
    home = _home(client, user)
    because = [c for c in home["carousels"] if c["kind"] == "because_you_loved"]
    assert len(because) == 1 and because[0]["recommendations"]
    seed = because[0]["seedMovieId"]
    title = catalog().get(seed).title
    assert because[0]["title"] == f"Because you loved {title}"
    for card in because[0]["recommendations"]:
        assert card["becauseMovieIds"][:1] == [seed], card
        assert re.match(rf"Because you (loved|liked) {re.escape(title)}\b", card["explanation"]), card["explanation"]
        similar = [f for f in card["factors"] if f["kind"] == "similar_to_liked"]
        assert [f["sourceMovieId"] for f in similar] == [seed]


# ---- one ranker call per page ------------------------------------------------------------------

def _ranker_metrics_url(tmp_path_factory) -> str:
    """The session ranker's /metrics (its port file sits in the stack's directory)."""
    files = sorted(Path(tmp_path_factory.getbasetemp()).glob("stack*/ranker.port.json"))
    assert files, "the session stack's ranker port file is missing"
    return f"http://127.0.0.1:{json.loads(files[-1].read_text())['metrics_port']}/metrics"


def _started(metrics: str, method: str) -> float:
    pattern = re.compile(rf'^grpc_server_started_total\{{[^}}]*grpc_method="{method}"[^}}]*\}} (\S+)$', re.M)
    return sum(float(value) for value in pattern.findall(metrics))


def test_home_page_costs_one_rank_batch_call_and_no_rank_call(client, tmp_path_factory):
    user = _persona_user(client, ADULT_DARK[0])
    url = _ranker_metrics_url(tmp_path_factory)
    before = httpx.get(url).text
    home = _home(client, user)
    after = httpx.get(url).text
    assert len(home["carousels"]) == 4  # top picks, because you loved, fans of, more <theme>
    assert _started(after, "RankBatch") - _started(before, "RankBatch") == 1
    assert _started(after, "Rank") - _started(before, "Rank") == 0
