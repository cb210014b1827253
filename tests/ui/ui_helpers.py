"""Helpers shared by the UI tests: where things are, how Chromium starts, and page utilities."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATIC_DIR = REPO / "services" / "gateway" / "gateway_service" / "static"
# `make test` must not rewrite committed files: screenshots go to the run directory unless
# MOVIEREC_UI_SCREENSHOTS names a place (`make ui-screenshots` points it at reports/ui).
SCREENSHOTS = Path(os.environ.get("MOVIEREC_UI_SCREENSHOTS") or REPO / ".run" / "ui-screenshots")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The index subset: the most-rated movies of the catalog (many 1990s titles with a known
# certification, so a "90s, nothing too scary" chat has real candidates) plus the onboarding picks.
SUBSET_MOST_RATED = 400
ONBOARDING_PICKS = {1: "toy story", 588: "aladdin", 364: "lion king", 356: "forrest gump"}


@dataclass
class PageWatch:
    """What a page did: uncaught errors, console errors and every request URL with its type."""

    page_errors: list[str]
    console_errors: list[str]
    requests: list[tuple[str, str]]


@contextmanager
def open_page(browser, base_url: str, route: str | None = None, *, ready: str | None = None,
              viewport=(1366, 900)) -> Iterator[tuple]:
    """(page, watch) in a fresh browser context, closed afterwards; ``route`` is opened first and, with
    ``ready``, the element ``[data-testid=<ready>]`` awaited."""
    context = browser.new_context(base_url=base_url, viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = context.new_page()
        watch = PageWatch([], [], [])
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda request: watch.requests.append((request.url, request.resource_type)))
        if route is not None:
            page.goto(route)
        if ready is not None:
            page.wait_for_selector(f"[data-testid={ready}]")
        yield page, watch
    finally:
        context.close()


def evaluate_module(page, module: str, body: str):
    """Run ``body`` (an async function body) with the UI module ``module`` imported as ``m``."""
    return page.evaluate(f"async () => {{ const m = await import('{module}'); {body} }}")


def submit_credentials(page, username: str, password: str) -> None:
    """Fill the sign-up / login form and submit it."""
    page.fill("[data-testid=username]", username)
    page.fill("[data-testid=password]", password)
    page.click("[data-testid=auth-submit]")


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
