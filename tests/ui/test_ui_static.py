"""The web UI on its own, in a real Chromium: it boots, every asset is local, guards and validation
work, errors are shown, and the chart and wording helpers draw what they are given.

The static folder is served by a real HTTP server with no API behind it, so any API call the UI
makes here fails for real (http.server answers 501), which is what the error test relies on.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from ui_helpers import STATIC_DIR, evaluate_module, open_page, submit_credentials

pytestmark = pytest.mark.usefixtures("browser")

ALLOWED_URLS = {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a download


def test_every_asset_is_local():
    """No CDN, no web font, no remote script: the UI works offline and behind any firewall."""
    offenders = []
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in {".html", ".js", ".css", ".svg"}:
            continue
        for url in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text()):
            if url not in ALLOWED_URLS:
                offenders.append(f"{path.relative_to(STATIC_DIR)}: {url}")
    assert not offenders, "remote URLs in the UI:\n" + "\n".join(offenders)


def test_boots_to_sign_up_with_no_errors_and_only_same_origin_requests(browser, static_server):
    with open_page(browser, static_server, "/", ready="signup-form") as (page, watch):
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("#/signup")
        assert page.locator("#topbar").is_hidden()  # no navigation before signing in
        assert not watch.page_errors, watch.page_errors
        assert not watch.console_errors, watch.console_errors
        foreign = [url for url, _ in watch.requests if urlparse(url).netloc != urlparse(static_server).netloc]
        assert not foreign, foreign
        loaded = {urlparse(url).path for url, _ in watch.requests}
        assert {"/app.js", "/styles.css", "/js/api.js", "/js/views/home.js"} <= loaded


def test_signed_out_visitor_is_sent_to_login(browser, static_server):
    with open_page(browser, static_server) as (page, _):
        for route in ("home", "chat", "taste", "onboarding", "personalizing"):
            page.goto(f"/#/{route}")
            page.wait_for_selector("[data-testid=login-form]")
            assert page.url.endswith("#/login"), route


def test_invalid_input_is_explained_before_anything_is_sent(browser, static_server):
    with open_page(browser, static_server, "/#/signup") as (page, watch):
        submit_credentials(page, "a b", "short")
        box = page.locator("[data-testid=error-box]")
        box.wait_for()
        text = box.inner_text()
        assert "username: 3–32 characters" in text
        assert "password: 8–128 characters" in text
        assert not [url for url, _ in watch.requests if "/api/" in url]


def test_a_failing_server_answer_is_shown_in_words(browser, static_server):
    """http.server refuses POST with 501: the UI must say so, not hang or fail silently."""
    with open_page(browser, static_server, "/#/signup") as (page, _):
        submit_credentials(page, "static_user", "long enough password")
        box = page.locator("[data-testid=error-box]")
        box.wait_for()
        assert "Server error" in box.inner_text()
        assert "try again" in box.inner_text().lower()
        assert page.locator("[data-testid=auth-submit]").is_enabled()  # the person can retry


def test_small_screens_do_not_scroll_sideways(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form", viewport=(390, 844)) as (page, _):
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0



def test_genre_radar_draws_one_vertex_per_genre(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form") as (page, _):
        result = evaluate_module(page, "/js/charts.js", """
            const axes = [["Crime", 1], ["Drama", .8], ["Comedy", .2], ["Sci-Fi", .5], ["War", .05]]
              .map(([label, value]) => ({label, value, display: value.toFixed(1)}));
            const svg = m.radarChart(axes);
            document.body.append(svg);
            const area = svg.querySelector(".radar-area").getAttribute("points").trim().split(/\\s+/);
            const labels = [...svg.querySelectorAll(".radar-label")].map((t) => t.textContent);
            const box = svg.viewBox.baseVal;
            const inside = area.map((p) => p.split(",").map(Number))
              .every(([x, y]) => x >= 0 && y >= 0 && x <= box.width && y <= box.height);
            return {vertices: area.length, labels, inside, rings: svg.querySelectorAll(".radar-grid polygon").length};
        """)
        assert result["vertices"] == 5
        assert result["labels"][0].startswith("Crime") and result["labels"][4].startswith("War")
        assert result["inside"]
        assert result["rings"] == 4


def test_taste_map_places_every_point_inside_the_chart(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form") as (page, _):
        result = evaluate_module(page, "/js/charts.js", """
            const points = [
              {kind: "you", label: "You", x: 0.1, y: -0.4},
              {kind: "average", label: "Average viewer", x: -0.9, y: 0.3},
              {kind: "critic", label: "Critic consensus", x: 0.7, y: 0.8},
              {kind: "top", label: "The Godfather", movieId: 858, x: 0.2, y: -0.5},
              {kind: "nearby", label: "Heat", movieId: 6, x: 12, y: -7},
            ];
            const svg = m.tasteMap(points, {width: 600, height: 400});
            document.body.append(svg);
            const circles = [...svg.querySelectorAll(".map-point")].map((g) => {
              const c = g.querySelector("circle:last-of-type");
              return {kind: g.dataset.kind, x: +c.getAttribute("cx"), y: +c.getAttribute("cy")};
            });
            const labels = [...svg.querySelectorAll(".map-label")].map((t) => t.textContent);
            return {circles, labels};
        """)
        kinds = sorted(c["kind"] for c in result["circles"])
        assert kinds == ["average", "critic", "nearby", "top", "you"]
        assert all(0 < c["x"] < 600 and 0 < c["y"] < 400 for c in result["circles"])
        assert {"You", "Average viewer", "Critic consensus", "The Godfather"} <= set(result["labels"])
        assert "Heat" not in result["labels"]  # nearby titles are labelled on hover only


def test_factors_are_worded_for_people(browser, static_server):
    with open_page(browser, static_server, "/#/login", ready="login-form") as (page, _):
        result = evaluate_module(page, "/js/format.js", """
            const factors = [{kind: "genre", value: "Crime"}, {kind: "director", value: "Martin Scorsese"},
              {kind: "decade", value: 1990}, {kind: "similar_to_liked", value: null, sourceTitle: "Heat"},
              "plain words"].map(m.factorLabel);
            return {factors, pct: [m.matchPercent(0.873), m.matchPercent(null)]};
        """)
        assert result["factors"] == ["Crime", "Dir. Martin Scorsese", "1990s", "Like Heat", "plain words"]
        assert result["pct"] == [87, None]


def test_a_poster_that_fails_or_hangs_falls_back_to_a_placeholder(browser, static_server):
    """A broken poster URL steps down the chain at once; one that never answers, after the watchdog."""
    with open_page(browser, static_server) as (page, _):
        page.route("**/hangs.jpg", lambda route: None)  # never fulfilled: the remote host that never answers
        page.goto("/#/login")
        page.wait_for_selector("[data-testid=login-form]")
        result = evaluate_module(page, "/js/components.js", """
            const settle = (img) => new Promise((done) => {
              const check = () => (img.complete && img.naturalWidth > 0 && img.src.endsWith(".svg")
                ? done({src: img.src, width: img.naturalWidth, step: +img.dataset.posterStep})
                : setTimeout(check, 100));
              check();
            });
            const broken = m.posterImage({movieId: 7, title: "Broken", posterUrl: "/missing.jpg"}, {eager: true});
            const hung = m.posterImage({movieId: 8, title: "Hung", posterUrl: "/hangs.jpg"}, {eager: true});
            document.body.append(broken, hung);
            const started = performance.now();
            const [a, b] = await Promise.all([settle(broken), settle(hung)]);
            return {a, b, waited: performance.now() - started};
        """)
        # No gateway behind the static server: /api/posters/{id}.svg is missing too, so both end on the
        # placeholder bundled with the UI.
        for settled in (result["a"], result["b"]):
            assert settled["src"].endswith("/img/poster-placeholder.svg") and settled["width"] > 0
        assert 3500 <= result["waited"] < 15000, "the hung poster is replaced after the watchdog, not never"
