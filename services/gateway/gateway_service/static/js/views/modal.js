// The movie modal: "Why we recommended this", factors, metadata, rate (0.5–5 stars),
// mark watched, chat about this.

import { addToWatchlist, getMovie, getProfile, getWatchlist, markWatched, postReview, removeFromWatchlist } from "../api.js";
import { chip, degradedNote, factorChips, matchBadge, posterImage } from "../components.js";
import { errorBox, h, sleep, toast } from "../dom.js";
import { factorLabel, normaliseMovie, runtimeText } from "../format.js";
import { getSession } from "../session.js";
import { noteProfileVersion, noteWatchlist, profileVersionOf, store } from "../store.js";

const MAX_REVIEW_TEXT = 2000;

function dialog() {
  const d = document.getElementById("movie-modal");
  if (!d.dataset.ready) {
    d.dataset.ready = "1";
    // A click on the backdrop (the dialog element itself, outside its content) closes it.
    d.addEventListener("click", (event) => { if (event.target === d) d.close(); });
  }
  return d;
}

export function closeMovieModal() {
  const d = dialog();
  if (d && d.open) d.close();
}

/** Ten half-star buttons (0.5 … 5.0); keyboard: each is a focusable button with its value. */
function starPicker(initial, onChange) {
  let value = initial || 0;
  const out = h("output", { class: "star-value", "data-testid": "star-value" });
  const halves = [];
  const paint = (shown) => {
    halves.forEach((b) => b.classList.toggle("on", Number(b.dataset.value) <= shown));
    out.textContent = shown ? `${shown.toFixed(1)} / 5` : "Not rated";
  };
  const row = h("div", { class: "stars", role: "group", "aria-label": "Your rating" });
  for (let i = 1; i <= 10; i += 1) {
    const v = i / 2;
    const half = h("button", { class: `star-half ${i % 2 ? "left" : "right"}`, type: "button",
      "data-value": v, "data-testid": `star-${v}`, "aria-label": `Rate ${v} star${v === 1 ? "" : "s"}`,
      title: `${v} / 5` }, h("span", { "aria-hidden": "true" }, "★"));
    half.addEventListener("mouseenter", () => paint(v));
    half.addEventListener("focus", () => paint(v));
    half.addEventListener("click", () => { value = v; paint(v); onChange(v); });
    halves.push(half);
    row.append(half);
  }
  row.addEventListener("mouseleave", () => paint(value));
  paint(value);
  return h("div", { class: "star-picker" }, row, out);
}

function metaLine(movie) {
  const bits = [
    movie.year,
    movie.certification ? `Rated ${movie.certification}`
      : movie.certificationEstimate ? `est. ${movie.certificationEstimate}` : null,
    runtimeText(movie.runtimeMin),
    movie.originalLanguage ? movie.originalLanguage.toUpperCase() : null,
  ].filter(Boolean);
  return h("p", { class: "meta-line" }, bits.join(" · "));
}

function facts(movie) {
  const rows = [
    ["Genres", movie.genres.join(", ")],
    ["Director", movie.director],
    ["Cast", movie.cast.slice(0, 5).join(", ")],
    ["Audience", movie.voteAverage ? `${Number(movie.voteAverage).toFixed(1)} / 10 (${movie.voteCount ?? "?"} votes)` : null],
    ["MovieLens", movie.mlRatingMean ? `${Number(movie.mlRatingMean).toFixed(2)} / 5 (${movie.mlRatingCount} ratings)` : null],
    ["Keywords", (movie.keywords || []).slice(0, 8).join(", ")],
  ].filter(([, v]) => v);
  return h("dl", { class: "facts", "data-testid": "movie-facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** "Because you liked X": becauseMovieIds, named through the factors that cite them. */
function becauseLine(movie) {
  const titles = new Map();
  for (const f of movie.factors || []) {
    if (f && typeof f === "object" && f.sourceMovieId !== null && f.sourceMovieId !== undefined && f.sourceTitle) {
      titles.set(f.sourceMovieId, f.sourceTitle);
    }
  }
  const ids = movie.becauseMovieIds || [...titles.keys()];
  const names = ids.map((id) => titles.get(id)).filter(Boolean);
  if (!names.length) return null;
  return h("p", { class: "because", "data-testid": "because" }, "Because you liked ", h("strong", {}, names.join(", ")));
}

/** After a review is accepted (202), wait briefly for the worker to move the taste vector. */
async function waitForTasteChange(userId, before) {
  for (let attempt = 0; attempt < 12; attempt += 1) {
    await sleep(attempt < 4 ? 250 : 500);
    try {
      const profile = await getProfile(userId);
      const version = profileVersionOf(profile);
      if (version !== null && version !== before) return noteProfileVersion(profile);
      if (version === null) return null;
    } catch {
      return null; // the review itself was accepted; a failed check must not look like a failed rating
    }
  }
  return before;
}

export async function openMovieModal(recommendation, { navigate }) {
  const session = getSession();
  let movie = normaliseMovie(recommendation);
  const d = dialog();
  const details = h("div", { class: "modal-details" });
  const actionsFeedback = h("div", { class: "modal-feedback" });
  let rating = movie.yourRating || 0;

  const reviewText = h("textarea", { rows: 2, maxlength: MAX_REVIEW_TEXT, placeholder: "A few words (optional)",
    "data-testid": "review-text", "aria-label": "Review text" });
  const rateButton = h("button", { class: "btn btn-primary", type: "button", disabled: !rating, "data-testid": "save-rating" }, "Save rating");
  const watchedButton = h("button", { class: "btn", type: "button", "data-testid": "mark-watched" }, "Mark watched");
  const chatButton = h("button", { class: "btn btn-ghost", type: "button", "data-testid": "chat-about" }, "Chat about this");
  const watchlistButton = h("button", { class: "btn", type: "button", "data-testid": "watchlist-toggle" }, "Save to watchlist");
  const paintWatchlist = () => {
    const saved = Boolean(store.watchlist && store.watchlist.has(movie.movieId));
    watchlistButton.textContent = saved ? "On your watchlist ✓ (remove)" : "Save to watchlist";
    watchlistButton.dataset.saved = saved ? "1" : "0";
  };
  if (store.watchlist === null) {
    getWatchlist(session.userId).then((answer) => { noteWatchlist(answer); paintWatchlist(); }).catch(() => {});
  }
  paintWatchlist();
  const picker = starPicker(rating, (v) => { rating = v; rateButton.disabled = false; });

  rateButton.addEventListener("click", async () => {
    rateButton.disabled = true;
    actionsFeedback.replaceChildren();
    let before = store.profileVersion;
    if (before === null) before = await getProfile(session.userId).then(profileVersionOf, () => null);
    try {
      const accepted = await postReview(session.userId, movie.movieId, rating, reviewText.value.trim());
      actionsFeedback.replaceChildren(h("p", { class: "ok-note", "data-testid": "review-accepted" },
        `Rated ${rating.toFixed(1)}★ — updating your taste…`));
      d.dataset.lastEventId = accepted && accepted.eventId ? accepted.eventId : "";
      const version = await waitForTasteChange(session.userId, before);
      const moved = version !== null && version !== before;
      actionsFeedback.replaceChildren(h("p", { class: "ok-note", "data-testid": "review-applied" },
        moved ? `Rated ${rating.toFixed(1)}★ — your taste is now v${version}.` : `Rated ${rating.toFixed(1)}★ — saved.`));
      toast(moved ? `Taste updated (v${version}). Your picks are refreshing.` : "Rating saved.", "success");
      window.dispatchEvent(new CustomEvent("movierec:taste-changed", { detail: { version, movieId: movie.movieId } }));
    } catch (error) {
      actionsFeedback.replaceChildren(errorBox(error));
    } finally {
      rateButton.disabled = false;
    }
  });

  watchedButton.addEventListener("click", async () => {
    watchedButton.disabled = true;
    try {
      await markWatched(session.userId, movie.movieId);
      watchedButton.textContent = "Watched ✓";
      toast(`${movie.title} marked as watched: it won't be recommended again.`, "success");
    } catch (error) {
      actionsFeedback.replaceChildren(errorBox(error));
      watchedButton.disabled = false;
    }
  });

  watchlistButton.addEventListener("click", async () => {
    watchlistButton.disabled = true;
    const saved = watchlistButton.dataset.saved === "1";
    try {
      const answer = saved ? await removeFromWatchlist(session.userId, movie.movieId)
        : await addToWatchlist(session.userId, movie.movieId);
      noteWatchlist(answer);
      paintWatchlist();
      toast(saved ? `${movie.title} removed from your watchlist.`
        : `${movie.title} saved to your watchlist: it stays out of your picks until you remove it.`, "success");
    } catch (error) {
      actionsFeedback.replaceChildren(errorBox(error));
    } finally {
      watchlistButton.disabled = false;
    }
  });

  chatButton.addEventListener("click", () => {
    d.close();
    navigate("chat", { about: movie.movieId, title: movie.title || "" });
  });

  function paintDetails() {
    const factors = movie.factors || [];
    details.replaceChildren(
      h("div", { class: "modal-poster" }, posterImage(movie, { eager: true })),
      h("div", { class: "modal-info" },
        h("h2", { id: "modal-title" }, movie.title || `Movie ${movie.movieId}`),
        metaLine(movie),
        h("div", { class: "modal-badges" }, matchBadge(movie.matchScore), degradedNote(movie.degraded)),
        movie.explanation || factors.length
          ? h("section", { class: "why", "data-testid": "why" },
            h("h3", {}, "Why we recommended this"),
            movie.explanation ? h("p", {}, movie.explanation) : null,
            becauseLine(movie),
            factors.length ? factorChips(factors, 12) : null,
            factors.some((f) => typeof f === "object" && f.evidence)
              ? h("ul", { class: "evidence" }, factors.filter((f) => f.evidence).map((f) => h("li", {}, `${factorLabel(f)}: ${f.evidence}`)))
              : null)
          : null,
        movie.overview ? h("p", { class: "overview" }, movie.overview) : null,
        facts(movie),
        movie.tags && movie.tags.length ? h("div", { class: "chips" }, movie.tags.slice(0, 8).map((t) => chip(t))) : null,
        h("section", { class: "rate", "data-testid": "rate" },
          h("h3", {}, "Your rating"), picker, reviewText,
          h("div", { class: "modal-actions" }, rateButton, watchedButton, watchlistButton, chatButton), actionsFeedback)));
  }

  d.replaceChildren(
    h("button", { class: "modal-close btn-x", type: "button", "aria-label": "Close", "data-testid": "modal-close",
      onclick: () => d.close() }, "×"),
    details);
  d.dataset.movieId = movie.movieId;
  paintDetails();
  if (!d.open) d.showModal();

  // The card carries the recommendation; the catalog adds overview, cast, runtime, certification.
  try {
    const full = normaliseMovie(await getMovie(movie.movieId));
    if (d.dataset.movieId === String(movie.movieId)) {
      movie = { ...full, ...stripEmpty(movie), overview: full.overview ?? movie.overview,
                genres: full.genres.length ? full.genres : movie.genres, cast: full.cast };
      paintDetails();
    }
  } catch (error) {
    if (error.status !== 404) details.append(h("p", { class: "muted small" }, `Details unavailable: ${error.message}`));
  }
}

function stripEmpty(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== null &&
    !(Array.isArray(v) && !v.length)));
}
