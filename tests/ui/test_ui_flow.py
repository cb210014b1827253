"""The whole product in a real browser: Debian's Chromium, driven by Playwright, against every real
process (Redis, the four gRPC tiers, a Celery worker, the gateway) on a real subset of the catalog.

One person's journey, in order: sign up → onboard (search, pick, vibes, free text) → watch the
Personalizing stages → carousels → rate a movie → the taste vector (profile version) and the picks
change → mark a movie watched → "chat about this" → chat with a constraint → every pick respects it
(checked against the catalog) → remove a constraint chip (the turn re-runs without it) → Taste
Wrapped → small screen → a wrong password → the ranker goes
down (picks flagged "simplified") → retrieval goes down (a 503 in words). And a second person who skips
onboarding and chats first ("something like Toy Story"), then asks "why the second one?". A screenshot of
each page lands in .run/ui-screenshots/ (reports/ui/ with `make ui-screenshots`).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from pathlib import Path

import numpy as np
import pytest
from ui_helpers import ONBOARDING_PICKS, open_page, screenshot, submit_credentials

pytestmark = pytest.mark.slow

CERTIFICATION_ORDER = ["G", "PG", "PG-13", "R", "NC-17"]
CHAT_MESSAGE = "something from the 90s, nothing too scary"
TIMEOUT_MS = 60_000


# ---- helpers ------------------------------------------------------------------------------------

def api(page, method: str, path: str, body=None):
    """Call the gateway from inside the page with the signed-in user's token: (status, json)."""
    return page.evaluate("""async ([method, path, body]) => {
        const session = JSON.parse(localStorage.getItem("movierec.session"));
        const response = await fetch(path, {method, headers: {"Content-Type": "application/json",
            Authorization: `Bearer ${session.token}`}, body: body === null ? undefined : JSON.stringify(body)});
        return [response.status, await response.json().catch(() => null)];
    }""", [method, path, body])


def signed_in_user_id(page) -> str:
    return page.evaluate('JSON.parse(localStorage.getItem("movierec.session")).userId')


def profile(page) -> dict:
    status, body = api(page, "GET", f"/api/users/{signed_in_user_id(page)}/profile")
    assert status == 200, body
    return body


def card_ids(page) -> list[int]:
    ids = page.eval_on_selector_all("[data-testid=movie-card]", "cards => cards.map(c => c.dataset.movieId)")
    return [int(x) for x in ids]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def refresh_home(page) -> None:
    """Click Refresh and wait until the home view has shown the new answer (or its error)."""
    loads = int(page.get_attribute("[data-testid=home-status]", "data-loads") or 0)
    page.click("[data-testid=refresh]")
    page.wait_for_function("(before) => +document.querySelector('[data-testid=home-status]').dataset.loads > before",
                           arg=loads, timeout=TIMEOUT_MS)


def wait_home_status(page, pattern: str) -> None:
    page.wait_for_function("""(pattern) => new RegExp(pattern).test(
        document.querySelector('[data-testid=home-status]')?.textContent || '')""", arg=pattern, timeout=TIMEOUT_MS)


def violations(movie, constraints: dict) -> list[str]:
    """Why a catalog movie breaks the chat's active constraints (empty when it respects them)."""
    problems = []
    if constraints.get("minYear") and (movie.year is None or movie.year < constraints["minYear"]):
        problems.append(f"year {movie.year} < {constraints['minYear']}")
    if constraints.get("maxYear") and (movie.year is None or movie.year > constraints["maxYear"]):
        problems.append(f"year {movie.year} > {constraints['maxYear']}")
    excluded = set(constraints.get("excludeGenres") or [])
    if excluded & set(movie.genres):
        problems.append(f"genres {sorted(excluded & set(movie.genres))} excluded")
    limit = constraints.get("maxCertification")
    if limit:
        # unknown is not safe (docs/architecture.md §3): a maturity limit never admits an unknown certification
        if movie.certification not in CERTIFICATION_ORDER:
            problems.append(f"certification {movie.certification!r} unknown under a {limit} limit")
        elif CERTIFICATION_ORDER.index(movie.certification) > CERTIFICATION_ORDER.index(limit):
            problems.append(f"certification {movie.certification} above {limit}")
    runtime = constraints.get("maxRuntimeMin")
    if runtime and movie.runtime_min is not None and movie.runtime_min > runtime:
        problems.append(f"runtime {movie.runtime_min} > {runtime}")
    if runtime and movie.runtime_min is None and not constraints.get("lenientRuntime"):
        problems.append("runtime unknown under a strict runtime limit")
    return problems


# ---- the steps ------------------------------------------------------------------------------------

def sign_up(page, username: str, password: str) -> None:
    page.goto("/")
    page.wait_for_selector("[data-testid=signup-form]")
    screenshot(page, "01-signup")
    submit_credentials(page, username, password)
    page.wait_for_url(re.compile(r"#/onboarding$"), timeout=TIMEOUT_MS)


def onboard(page) -> None:
    search = page.locator("[data-testid=movie-search]")
    for movie_id, query in ONBOARDING_PICKS.items():
        search.fill(query)
        result = page.locator(f"[data-testid=search-result][data-movie-id='{movie_id}']")
        result.wait_for(timeout=TIMEOUT_MS)
        result.click()
        assert result.get_attribute("aria-pressed") == "true"
    assert page.locator("[data-testid=picked-item]").count() == len(ONBOARDING_PICKS)
    vibes = page.locator("[data-testid=vibe]")
    vibes.first.wait_for(timeout=TIMEOUT_MS)
    vibes.first.click()
    assert vibes.first.get_attribute("aria-pressed") == "true"
    page.fill("[data-testid=free-text]", "warm, funny adventures with heart")
    screenshot(page, "02-onboarding", full_page=True)
    assert page.locator("[data-testid=onboard-submit]").is_enabled()
    with page.expect_response(lambda r: r.url.endswith("/api/embeddings/generate"), timeout=TIMEOUT_MS) as generated:
        page.click("[data-testid=onboard-submit]")
    # the stages arrive as server-sent events, one as each completes (not all at the end)
    assert generated.value.status == 200
    assert "text/event-stream" in generated.value.headers["content-type"]


def personalizing_shows_real_stages(page) -> None:
    page.wait_for_selector("[data-testid=see-picks]", timeout=TIMEOUT_MS)
    done = page.locator("[data-testid=stage][data-state=done]")
    assert done.count() >= 3, page.inner_text("[data-testid=stages]")
    assert page.locator("[data-testid=stage][data-state=failed]").count() == 0
    assert all(re.search(r"\d", t) for t in done.locator(".stage-time").all_inner_texts()), "each stage has its time"
    assert page.locator("[data-testid=vector-strip]").count() == 1
    screenshot(page, "03-personalizing")


def home_shows_explained_carousels(page) -> list[int]:
    page.wait_for_url(re.compile(r"#/home$"), timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid=movie-card]", timeout=TIMEOUT_MS)
    assert page.locator("[data-testid=carousel]").count() >= 1
    cards = page.locator("[data-testid=movie-card]")
    assert cards.count() >= 3
    for index in range(3):
        card = cards.nth(index)
        assert re.fullmatch(r"\d{1,3}% match", card.locator("[data-testid=match]").inner_text())
        assert card.locator("[data-testid=explanation]").inner_text().strip()
        assert card.locator("[data-testid=factors] .chip").count() >= 1
    picks = card_ids(page)
    assert not set(picks) & set(ONBOARDING_PICKS), "onboarding picks are not recommended back"
    assert len(picks) == len(set(picks)), "a movie appears in at most one carousel"
    # every poster shows an image: the remote poster, else a generated or local placeholder
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=movie-card] img')]
        .slice(0, 6).every((img) => img.complete && img.naturalWidth > 0)""", timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid=taste-version]:not([hidden])", timeout=TIMEOUT_MS)
    assert page.locator("[data-testid=home-status] [data-testid=degraded]").count() == 0
    screenshot(page, "04-home")
    return picks


def rate_in_modal(page, catalog, movie_id: int) -> None:
    page.click(f"[data-testid=movie-card][data-movie-id='{movie_id}']")
    modal = page.locator("#movie-modal")
    modal.locator("[data-testid=why]").wait_for(timeout=TIMEOUT_MS)
    assert modal.locator("h2").inner_text() == catalog.get(movie_id).title
    # the catalog details (GET /api/movies/{id}) fill in the modal after it opens
    modal.locator("[data-testid=movie-facts] dt", has_text="Director").wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "05-movie-modal")
    modal.locator("[data-testid='star-5']").click()
    assert modal.locator("[data-testid=star-value]").inner_text() == "5.0 / 5"
    modal.locator("[data-testid=save-rating]").click()
    modal.locator("[data-testid=review-applied]").wait_for(timeout=TIMEOUT_MS)
    assert "your taste is now v" in modal.locator("[data-testid=review-applied]").inner_text()
    modal.locator("[data-testid=modal-close]").click()


def mark_watched(page, movie_id: int) -> None:
    page.click(f"[data-testid=movie-card][data-movie-id='{movie_id}']")
    modal = page.locator("#movie-modal")
    button = modal.locator("[data-testid=mark-watched]")
    button.click()
    page.wait_for_function("""() => document.querySelector('[data-testid=mark-watched]').textContent
        .includes('Watched')""", timeout=TIMEOUT_MS)
    modal.locator("[data-testid=modal-close]").click()
    refresh_home(page)
    assert movie_id not in card_ids(page), "a watched movie is not recommended again"


def pick_ids(page) -> list[int]:
    """The recommended cards (the carousels), not the watchlist row."""
    ids = page.eval_on_selector_all("[data-testid=carousels] [data-testid=movie-card]",
                                    "cards => cards.map(c => c.dataset.movieId)")
    return [int(x) for x in ids]


def theme_carousel_and_watchlist(page) -> None:
    """A "More <theme>" carousel; a pick saved from its modal moves to the watchlist row and out of the
    picks; removing it from the row's modal empties the row."""
    theme_rows = page.locator("[data-testid=carousels] [data-testid=carousel][data-kind=theme]")
    assert theme_rows.count() == 1
    assert theme_rows.first.locator("h2").inner_text().startswith("More ")
    saved = pick_ids(page)[0]
    page.click(f"[data-testid=carousels] [data-testid=movie-card][data-movie-id='{saved}']")
    modal = page.locator("#movie-modal")
    modal.locator("[data-testid=watchlist-toggle]").click()
    page.wait_for_function("""() => document.querySelector('[data-testid=watchlist-toggle]').dataset.saved === '1'""",
                           timeout=TIMEOUT_MS)
    modal.locator("[data-testid=modal-close]").click()
    page.wait_for_selector(f"[data-testid=watchlist-row] [data-movie-id='{saved}']", timeout=TIMEOUT_MS)
    refresh_home(page)
    assert saved not in pick_ids(page), "a watchlisted movie is not among the picks"
    screenshot(page, "06b-home-watchlist", full_page=True)
    page.click(f"[data-testid=watchlist-row] [data-movie-id='{saved}']")
    modal.locator("[data-testid=watchlist-toggle]").click()
    page.wait_for_function("""() => document.querySelector('[data-testid=watchlist-toggle]').dataset.saved === '0'""",
                           timeout=TIMEOUT_MS)
    modal.locator("[data-testid=modal-close]").click()
    page.wait_for_function("() => document.querySelector('[data-testid=watchlist-row]').dataset.count === '0'",
                           timeout=TIMEOUT_MS)


MOOD_QUERY = "a funny animated adventure about friendship"


def own_keyphrases(keyphrase_dir: Path) -> dict[int, set[str]]:
    """Each movie's keyphrases, read straight from the artifact's files (its documented layout)."""
    phrases = json.loads((keyphrase_dir / "phrases.json").read_text())
    movie_ids = np.load(keyphrase_dir / "movie_ids.npy")
    offsets = np.load(keyphrase_dir / "offsets.npy")
    entry_phrase = np.load(keyphrase_dir / "entry_phrase.npy")
    return {int(movie_id): {phrases[p] for p in entry_phrase[offsets[i]:offsets[i + 1]]}
            for i, movie_id in enumerate(movie_ids)}


def mood_search_shows_matched_keyphrases(page, keyphrase_dir: Path) -> None:
    """Search by mood on the home page: result cards say which of the movie's own keyphrases matched."""
    page.fill("[data-testid=mood-search-input]", MOOD_QUERY)
    page.click("[data-testid=mood-search] button[type=submit]")
    cards = page.locator("[data-testid=mood-search-results] [data-testid=movie-card]")
    cards.first.wait_for(timeout=TIMEOUT_MS)
    own = own_keyphrases(keyphrase_dir)
    with_matches = 0
    for i in range(cards.count()):
        line = cards.nth(i).locator("[data-testid=matched-keyphrases]")
        if not line.count():
            continue
        movie_id = int(cards.nth(i).get_attribute("data-movie-id"))
        text = line.inner_text()
        assert text.startswith("matched: "), text
        shown = text.removeprefix("matched: ").split(", ")
        assert shown and set(shown) <= own[movie_id], (movie_id, shown, sorted(own[movie_id]))
        with_matches += 1
    assert with_matches >= 1, "no result card shows its matched keyphrases"
    cards.first.scroll_into_view_if_needed()
    screenshot(page, "06c-mood-search")


def chat_about(page, catalog, movie_id: int) -> None:
    """The modal's "Chat about this" opens the chat with the question prefilled."""
    page.click(f"[data-testid=movie-card][data-movie-id='{movie_id}']")
    page.locator("#movie-modal [data-testid=chat-about]").click()
    page.wait_for_url(re.compile(r"#/chat\?"), timeout=TIMEOUT_MS)
    assert page.input_value("[data-testid=chat-input]") == f"More like {catalog.get(movie_id).title}"


def sse_result(response) -> dict:
    """The ``result`` event of a POST /api/chat/stream answer (the same body as POST /api/chat)."""
    events = {}
    for block in response.text().strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events[fields["event"]] = json.loads(fields["data"])
    assert "picks" in events and "result" in events, list(events)
    return events["result"]


def send_chat(page, turn) -> dict:
    """Run one chat turn from the UI (``turn`` clicks or types) and return the streamed answer's result."""
    with page.expect_response(lambda r: r.url.endswith("/api/chat/stream") and r.request.method == "POST",
                              timeout=TIMEOUT_MS) as answer_info:
        turn()
    assert answer_info.value.status == 200, answer_info.value.text()
    answer = sse_result(answer_info.value)
    page.wait_for_function("() => !document.querySelector('[data-testid=typing], .msg-bot.streaming')",
                           timeout=TIMEOUT_MS)
    return answer


def shown_picks(page) -> list[int]:
    """The picks of the latest answer in the chat log."""
    return page.eval_on_selector_all("[data-testid=msg-bot]:last-of-type [data-testid=chat-rec]",
                                     "rows => rows.map(r => +r.dataset.movieId)")


def chat_respects_constraints(page, catalog, never: set[int]) -> None:
    page.fill("[data-testid=chat-input]", CHAT_MESSAGE)
    answer = send_chat(page, lambda: page.click("[data-testid=chat-send]"))
    constraints = answer["constraints"]
    # what the person asked for must be what the gateway understood …
    assert constraints["minYear"] == 1990 and constraints["maxYear"] == 1999, constraints
    assert "Horror" in (constraints.get("excludeGenres") or []) or constraints.get("maxCertification"), constraints
    chips = page.locator("[data-testid=msg-bot]:last-of-type [data-testid=constraint-chip]")
    assert chips.count() == len(answer["chips"]) >= 2, "understood constraints are shown back as chips"
    # … and every pick shown must respect it, by the catalog's own facts
    shown = shown_picks(page)
    assert 3 <= len(shown) <= 5, answer["reply"]
    assert shown == [r["movieId"] for r in answer["recommendations"]]
    for movie_id in shown:
        movie = catalog.get(movie_id)
        assert not violations(movie, constraints), f"{movie.title}: {violations(movie, constraints)}"
        assert movie_id not in never, f"{movie.title} was rated, watched or picked at onboarding"
    shown_reply = page.locator("[data-testid=msg-bot]:last-of-type .reply").inner_text()
    assert shown_reply.split() == answer["reply"].split(), "the streamed reply ends as the final one"
    assert len(shown_reply.strip().splitlines()) > len(shown), "one line per pick, after what was understood"
    assert page.locator("[data-testid=chat-rec] .card-why").count() == len(shown), "each pick has its reason"
    screenshot(page, "07-chat")


def removing_a_chip_reruns_without_it(page, catalog) -> None:
    """The ✕ of the years chip re-runs the request without it; the other constraints stay."""
    years = page.locator("[data-testid=msg-bot]:last-of-type [data-testid=constraint-chip]", has_text="1990")
    assert years.count() == 1
    answer = send_chat(page, lambda: years.locator("[data-testid=chip-remove]").click())
    constraints = answer["constraints"]
    assert constraints["minYear"] is None and constraints["maxYear"] is None, constraints
    assert "Horror" in constraints["excludeGenres"], "the other constraints stay"
    labels = page.eval_on_selector_all("[data-testid=msg-bot]:last-of-type [data-testid=constraint-chip]",
                                       "chips => chips.map(c => c.textContent)")
    assert not any("1990" in label for label in labels) and labels
    shown = shown_picks(page)
    assert shown and all(not violations(catalog.get(i), constraints) for i in shown)
    screenshot(page, "07b-chat-chip-removed")


def chat_first(browser, base_url: str, catalog) -> None:
    """A brand-new user skips onboarding and chats: the conversation starts their taste profile."""
    with open_page(browser, base_url, "/", ready="signup-form") as (page, watch):
        submit_credentials(page, f"ui_first_{secrets.token_hex(4)}", secrets.token_urlsafe(12))
        page.wait_for_url(re.compile(r"#/onboarding$"), timeout=TIMEOUT_MS)
        status, _ = api(page, "GET", f"/api/users/{signed_in_user_id(page)}/profile")
        assert status == 404, "not onboarded yet"
        page.click("[data-testid=chat-first]")
        page.wait_for_url(re.compile(r"#/chat$"), timeout=TIMEOUT_MS)
        page.fill("[data-testid=chat-input]", "Hi, I am after something like Toy Story")
        answer = send_chat(page, lambda: page.click("[data-testid=chat-send]"))
        assert answer["onboarded"] is True, answer["reply"]
        assert [t["movieId"] for t in answer["constraints"]["seedTitles"]] == [1]
        shown = shown_picks(page)
        assert 3 <= len(shown) <= 5 and 1 not in shown
        assert profile(page)["likedMovieIds"] == [1], "the chat created the taste profile"
        # a follow-up question is answered about the pick, with no new picks
        second = catalog.get(shown[1])
        answer = send_chat(page, lambda: (page.fill("[data-testid=chat-input]", "why the second one?"),
                                          page.click("[data-testid=chat-send]")))
        assert answer["act"] == "follow_up" and answer["recommendations"] == []
        assert second.title in page.locator("[data-testid=msg-bot]:last-of-type .reply").inner_text()
        screenshot(page, "13-chat-first")
        assert not watch.page_errors, watch.page_errors


def taste_wrapped(page) -> None:
    page.click("nav a[data-route=taste]")
    page.wait_for_selector("[data-testid=genre-radar]", timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid=taste-map]")
    kinds = set(page.eval_on_selector_all("[data-testid=taste-map] .map-point",
                                          "points => points.map(p => p.dataset.kind)"))
    assert {"you", "average", "critic", "top", "nearby"} <= kinds, kinds
    assert page.inner_text("[data-testid=taste-summary]").strip()
    assert page.locator("[data-testid=genre-radar] .radar-label").count() >= 3
    assert re.match(r"\d+ of your \d+ favourites? (are|is) in ", page.inner_text("[data-testid=taste-themes] li"))
    screenshot(page, "08-taste-wrapped", full_page=True)
    # Over time: the path on the map (one day so far: one dot), the radar "now" on fixed content-genre axes,
    # and a click on a reference point overlays its radar.
    assert page.locator("[data-testid=taste-path] .path-dot").count() >= 1
    radar = "[data-testid=taste-radar]"
    axes = page.eval_on_selector_all(f"{radar} .radar-label", "labels => labels.map(l => l.textContent)")
    assert len(axes) >= 3 and "IMAX" not in axes, axes
    assert page.locator(f"{radar} polygon[data-series=now]").count() == 1
    assert page.locator(f"{radar} polygon[data-series=average_viewer]").count() == 0
    page.click("[data-testid=taste-map] .map-point[data-kind=average]")
    page.wait_for_selector(f"{radar} polygon[data-series=average_viewer]")
    page.click("[data-testid=taste-map] .map-point[data-kind=critic]")
    page.wait_for_selector(f"{radar} polygon[data-series=critic_consensus]")
    assert page.locator(f"{radar} polygon[data-series=average_viewer]").count() == 0  # one overlay at a time
    page.locator("[data-testid=taste-drift]").scroll_into_view_if_needed()
    screenshot(page, "08b-taste-then-now-critics")


def small_screen(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.click("a.brand")
    page.wait_for_selector("[data-testid=movie-card]", timeout=TIMEOUT_MS)
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "09-home-mobile")
    page.set_viewport_size({"width": 1366, "height": 900})


def wrong_password_is_explained(page, username: str, password: str) -> None:
    page.click("#logout")
    page.wait_for_selector("[data-testid=login-form]")
    submit_credentials(page, username, password + "x")
    error = page.locator("[data-testid=error-box]")
    error.wait_for(timeout=TIMEOUT_MS)
    assert error.inner_text().strip()
    screenshot(page, "10-login-error")
    page.fill("[data-testid=password]", password)
    page.click("[data-testid=auth-submit]")
    page.wait_for_url(re.compile(r"#/home$"), timeout=TIMEOUT_MS)  # an onboarded user lands home
    page.wait_for_selector("[data-testid=movie-card]", timeout=TIMEOUT_MS)


def tier_faults_are_shown(page, stack) -> None:
    """Stop real processes: ranker down → picks flagged "simplified"; retrieval down → a 503 in words."""
    stack.procs["ranker"].stop()
    refresh_home(page)
    page.locator("[data-testid=home-status] [data-testid=degraded]").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("[data-testid=carousel] [data-testid=degraded]").count() >= 1
    assert page.locator("[data-testid=movie-card] [data-testid=explanation]").count() >= 3, "grounded reasons remain"
    screenshot(page, "11-home-degraded")
    stack.procs["retrieval"].stop()
    refresh_home(page)
    error = page.locator("[data-testid=error-box]")
    error.wait_for(timeout=TIMEOUT_MS)
    assert "unavailable" in error.inner_text().lower() or "took too long" in error.inner_text().lower()
    assert error.locator("button", has_text="Try again").count() == 1
    screenshot(page, "12-home-error")


def letterboxd_export(catalog, movie_ids: list[int], missing: list[tuple[str, int]]) -> str:
    """A Letterboxd ratings.csv as its export writes it: the given catalog movies at 4.5 stars, plus rows
    for films the catalog does not have."""
    lines = ["Date,Name,Year,Letterboxd URI,Rating"]
    for movie_id in movie_ids:
        movie = catalog.get(movie_id)
        name = movie.title.replace('"', '""')
        lines.append(f'2024-03-0{len(lines)},"{name}",{movie.year},https://boxd.it/x{movie_id},4.5')
    lines += [f'2024-04-01,"{title}",{year},https://boxd.it/none{i},3' for i, (title, year) in enumerate(missing)]
    return "\n".join(lines) + "\n"


def import_on_onboarding(browser, base_url: str, catalog) -> None:
    """A new user uploads their Letterboxd ratings on the onboarding page: the summary says what matched and
    what did not, and their home page is personalised from the import (no picking)."""
    ids = sorted(ONBOARDING_PICKS)
    missing = [("A Film Nobody Made", 2031), ("Another Imaginary Picture", 1901)]
    with open_page(browser, base_url, "/", ready="signup-form") as (page, watch):
        submit_credentials(page, f"ui_import_{secrets.token_hex(4)}", secrets.token_urlsafe(12))
        page.wait_for_url(re.compile(r"#/onboarding$"), timeout=TIMEOUT_MS)
        page.click(".import-box summary")
        page.set_input_files("[data-testid=import-file]", files=[{
            "name": "ratings.csv", "mimeType": "text/csv",
            "buffer": letterboxd_export(catalog, ids, missing).encode()}])
        summary = page.locator("[data-testid=import-summary]")
        summary.wait_for(timeout=TIMEOUT_MS)
        assert summary.inner_text().startswith(f"{len(ids)} matched, {len(missing)} not matched"), summary.inner_text()
        assert "A Film Nobody Made (2031)" in page.locator("[data-testid=import-status]").inner_text()
        screenshot(page, "02b-import")
        page.click("[data-testid=import-done]")
        page.wait_for_url(re.compile(r"#/home$"), timeout=TIMEOUT_MS)
        page.wait_for_selector("[data-testid=movie-card]", timeout=TIMEOUT_MS)
        rated = wait_for_ratings(page, len(ids))
        assert rated == set(ids), "every matched row reached the profile through the review events"
        assert not set(card_ids(page)) & set(ids), "imported ratings are not recommended back"
        assert not watch.page_errors, watch.page_errors


def wait_for_ratings(page, count: int) -> set[int]:
    """The profile's rated movies once ``count`` of them are applied (the worker applies them asynchronously)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        rated = {r["movieId"] for r in profile(page).get("ratings", [])}
        if len(rated) >= count or time.monotonic() > deadline:
            return rated
        time.sleep(0.3)


def test_a_new_user_can_import_their_letterboxd_ratings(browser, system, ui_artifacts):
    import_on_onboarding(browser, system.url, ui_artifacts.catalog)


def test_a_new_user_can_chat_first(browser, system, ui_artifacts):
    # Before the journey: it ends by stopping the ranker and retrieval of the shared system.
    chat_first(browser, system.url, ui_artifacts.catalog)


def test_the_whole_journey(browser, system, ui_artifacts):
    catalog = ui_artifacts.catalog
    with open_page(browser, system.url) as (page, watch):
        username = f"ui_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        sign_up(page, username, password)
        onboard(page)
        personalizing_shows_real_stages(page)
        picks_before = home_shows_explained_carousels(page)

        before = profile(page)
        rated_id = picks_before[0]
        rate_in_modal(page, catalog, rated_id)
        wait_home_status(page, r"Updated for taste v\d+")
        page.wait_for_selector("[data-testid=movie-card]")
        picks_after = card_ids(page)
        after = profile(page)
        assert after["version"] > before["version"]
        assert cosine(after["vector"], before["vector"]) < 0.99999, "a 5★ rating moves the taste vector"
        assert any(r["movieId"] == rated_id and r["rating"] == 5.0 for r in after["ratings"])
        assert int(page.get_attribute("[data-testid=taste-version]", "data-version")) == after["version"]
        assert rated_id not in picks_after, "a rated movie is not recommended again"
        assert picks_after != picks_before
        screenshot(page, "06-home-after-rating")

        watched_id = picks_after[0]
        mark_watched(page, watched_id)
        theme_carousel_and_watchlist(page)
        mood_search_shows_matched_keyphrases(page, ui_artifacts.keyphrase_dir)
        chat_about(page, catalog, card_ids(page)[0])
        chat_respects_constraints(page, catalog, never={rated_id, watched_id, *ONBOARDING_PICKS})
        removing_a_chip_reruns_without_it(page, catalog)
        taste_wrapped(page)
        small_screen(page)
        wrong_password_is_explained(page, username, password)
        tier_faults_are_shown(page, system.stack)

        assert not watch.page_errors, watch.page_errors
        host = system.url.split("//")[1]
        foreign = [u for u, kind in watch.requests if kind in {"script", "stylesheet", "font"} and host not in u]
        assert not foreign, foreign
