// Home: the recommendation carousels. Reloads itself when a rating moves your taste and marks
// the picks that are new since the previous load.

import { getProfile, getRecommendations, getWatchlist, searchByText } from "../api.js";
import { carousel, degradedNote } from "../components.js";
import { errorBox, fill, h, spinner } from "../dom.js";
import { getSession } from "../session.js";
import { noteProfileVersion, noteWatchlist, store } from "../store.js";
import { openMovieModal } from "./modal.js";

function movieIdsOf(answer) {
  return new Set((answer.carousels || []).flatMap((c) => (c.recommendations || []).map((r) => r.movieId)));
}

/** "Search by mood": POST /api/search, results as a row of cards showing what each one matched. */
function textSearch(navigate) {
  const input = h("input", { type: "search", class: "input", name: "mood-search", maxlength: 500,
    placeholder: "Search by mood: something cozy set in a small town…", "aria-label": "Search by mood or theme",
    "data-testid": "mood-search-input" });
  const results = h("div", { "data-testid": "mood-search-results", "aria-live": "polite" });
  async function run(event) {
    event.preventDefault();
    const query = input.value.trim();
    if (!query) return;
    results.replaceChildren(spinner("Searching…"));
    try {
      const answer = await searchByText(query);
      // The search score is a similarity, not a calibrated match: no "% match" badge on these cards.
      const movies = (answer.movies || []).map(({ score, ...movie }) => movie);
      results.replaceChildren(movies.length
        ? carousel(`Matches for “${query}”`, movies, (movie) => openMovieModal(movie, { navigate }),
          { subtitle: answer.queryKeyphrases?.length ? `Your keyphrases: ${answer.queryKeyphrases.join(", ")}` : "" })
        : h("p", { class: "muted" }, "Nothing matched those words."));
    } catch (error) {
      results.replaceChildren(errorBox(error, () => run(event)));
    }
  }
  return h("form", { class: "mood-search", "data-testid": "mood-search", onsubmit: run },
    h("div", { class: "row" }, input, h("button", { class: "btn btn-small", type: "submit" }, "Search")), results);
}

export function renderHome(view, params, { navigate }) {
  const session = getSession();
  const body = h("div", { class: "carousels", "data-testid": "carousels" });
  // The watchlist row: its own request (no ranking), redrawn whenever the list changes.
  const watchlistRow = h("div", { "data-testid": "watchlist-row" });
  const status = h("p", { class: "home-status muted", "data-testid": "home-status", "aria-live": "polite" });
  const refresh = h("button", { class: "btn btn-ghost btn-small", type: "button", "data-testid": "refresh" }, "Refresh");
  let previousIds = null;
  let loading = false;
  let loads = 0; // exposed as data-loads so tests (and curious people) can tell a reload happened

  view.append(h("section", { class: "home" },
    h("header", { class: "page-head row" },
      h("div", {},
        h("p", { class: "eyebrow" }, session.username ? `For ${session.username}` : "For you"),
        h("h1", {}, "Tonight's picks"), status),
      h("div", { class: "head-actions" },
        refresh,
        h("a", { class: "btn btn-small", href: "#/chat" }, "Ask for something specific"))),
    textSearch(navigate), body, watchlistRow));

  function showWatchlist(answer) {
    const items = answer.items || [];
    watchlistRow.replaceChildren(items.length
      ? carousel("Your watchlist", items, (movie) => openMovieModal(movie, { navigate }),
        { subtitle: "Saved for later: kept out of your picks until you remove them" })
      : h("p", { class: "muted small" }, "Your watchlist is empty: save a movie from its details to find it here."));
    watchlistRow.dataset.count = String(items.length);
  }
  const onWatchlistChanged = (event) => showWatchlist(event.detail || {});
  window.addEventListener("movierec:watchlist-changed", onWatchlistChanged);
  getWatchlist(session.userId).then(noteWatchlist).catch(() => {});

  function show(answer, reason) {
    noteProfileVersion(answer);
    const ids = movieIdsOf(answer);
    const fresh = previousIds ? [...ids].filter((id) => !previousIds.has(id)) : [];
    body.replaceChildren();
    const carousels = (answer.carousels || []).filter((c) => (c.recommendations || []).length);
    if (answer.coldStart) {
      body.append(h("div", { class: "panel cold-start", "data-testid": "cold-start" },
        h("p", {}, "These are popular picks to start with. Tell movierec what you love to make them yours."),
        h("a", { class: "btn btn-primary btn-small", href: "#/onboarding" }, "Personalize"), " ",
        h("a", { class: "btn btn-small", href: "#/chat", "data-testid": "chat-first" }, "Or just chat")));
    }
    if (!carousels.length) {
      body.append(h("div", { class: "empty panel" },
        h("h2", {}, "No picks yet"),
        h("p", { class: "muted" }, "movierec needs a few movies you love to start."),
        h("a", { class: "btn btn-primary", href: "#/onboarding" }, "Set up my taste")));
    }
    for (const section of carousels) {
      const row = carousel(section.title, section.recommendations, (movie) => openMovieModal(movie, { navigate }), {
        degraded: section.degraded ?? answer.degraded, degradedReason: section.degradedReason ?? answer.degradedReason,
        subtitle: section.subtitle || "" });
      row.dataset.kind = section.kind || "";
      if (section.kind === "theme") row.dataset.themeId = String(section.themeId);
      for (const card of row.querySelectorAll("[data-movie-id]")) {
        if (fresh.includes(Number(card.dataset.movieId)) || fresh.includes(card.dataset.movieId)) {
          card.classList.add("is-new");
          card.querySelector(".card-poster").append(h("span", { class: "new-badge" }, "new"));
        }
      }
      body.append(row);
    }
    const parts = [];
    if (reason) parts.push(reason);
    if (previousIds) parts.push(fresh.length ? `${fresh.length} new pick${fresh.length > 1 ? "s" : ""}` : "same picks as before");
    fill(status, parts.join(" · "), degradedNote(answer.degraded, "answer", answer.degradedReason));
    previousIds = ids;
    status.dataset.loads = String(++loads);
  }

  async function load(reason = "") {
    if (loading) return;
    loading = true;
    refresh.disabled = true;
    if (!previousIds) body.replaceChildren(spinner("Finding your picks…"));
    try {
      const answer = await getRecommendations(session.userId, { numResults: 10 });
      show(answer, reason);
    } catch (error) {
      const box = errorBox(error, () => load(reason));
      if (error.status === 404 || error.status === 409) {
        box.append(h("a", { class: "btn btn-primary btn-small", href: "#/onboarding" }, "Set up my taste"));
      }
      body.replaceChildren(box);
      status.replaceChildren("Could not load your picks");
      status.dataset.loads = String(++loads);
    } finally {
      loading = false;
      refresh.disabled = false;
    }
  }

  // The profile's version is the "taste version" badge: it rises as reviews and chats land.
  getProfile(session.userId).then(noteProfileVersion).catch(() => {});

  refresh.addEventListener("click", () => load("Refreshed"));
  const onTasteChanged = (event) => {
    const version = event.detail && event.detail.version;
    load(version !== null && version !== undefined ? `Updated for taste v${version}` : "Updated after your rating");
  };
  window.addEventListener("movierec:taste-changed", onTasteChanged);

  if (store.firstRecommendations) {
    const first = store.firstRecommendations;
    store.firstRecommendations = null;
    show(first, "Fresh from onboarding");
  } else {
    load();
  }
  return () => {
    window.removeEventListener("movierec:taste-changed", onTasteChanged);
    window.removeEventListener("movierec:watchlist-changed", onWatchlistChanged);
  };
}
