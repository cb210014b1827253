// Shared building blocks: posters with a fallback chain, movie cards, carousels, chips.

import { posterFallbackUrl } from "./api.js";
import { h } from "./dom.js";
import { factorLabel, factorSource, matchPercent, normaliseMovie, yearText } from "./format.js";

const LOCAL_PLACEHOLDER = "img/poster-placeholder.svg";

/**
 * A poster <img>: the movie's posterUrl, else its placeholderUrl / the gateway's generated
 * placeholder (/api/posters/{id}.svg), else the placeholder shipped with the UI. Each load error
 * steps one place down the chain — and so does a poster that neither loads nor fails within
 * POSTER_TIMEOUT_MS (a remote host that never answers would otherwise leave the card blank), or one
 * that "loads" with no pixels — so a missing remote poster never leaves a broken or empty image.
 */
const POSTER_TIMEOUT_MS = 4000;

export function posterImage(movie, { className = "poster", eager = false } = {}) {
  const generated = movie.movieId !== undefined && movie.movieId !== null ? posterFallbackUrl(movie.movieId) : null;
  const chain = [...new Set([movie.posterUrl, movie.placeholderUrl, generated, LOCAL_PLACEHOLDER].filter(Boolean))];
  const img = h("img", {
    class: className, alt: `Poster of ${movie.title || "movie"}`, loading: eager ? "eager" : "lazy",
    decoding: "async", width: 200, height: 300, "data-testid": "poster",
  });
  let step = 0;
  let timer = null;
  const next = () => {
    clearTimeout(timer);
    step += 1;
    if (step < chain.length) load();
    else img.dataset.posterFailed = "true";
  };
  const watchdog = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (step === 0 && !img.complete) next(); }, POSTER_TIMEOUT_MS);
  };
  const load = () => {
    img.dataset.posterStep = String(step);
    img.src = chain[step];
    // Only the remote poster can hang (the placeholders are same-origin). A lazy image starts loading
    // when it nears the viewport, so its clock starts then.
    if (step !== 0 || chain.length < 2) return;
    if (eager || typeof IntersectionObserver === "undefined") {
      watchdog();
      return;
    }
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        seen.disconnect();
        watchdog();
      }
    }, { rootMargin: "200px" });
    seen.observe(img);
  };
  img.addEventListener("error", next);
  img.addEventListener("load", () => {
    clearTimeout(timer);
    if (!img.naturalWidth) next();
  });
  load();
  return img;
}

export function chip(label, { kind = "", title } = {}) {
  return h("span", { class: `chip ${kind ? `chip-${kind}` : ""}`, title }, label);
}

/** A chip with a ✕ button (an understood chat constraint the person can take back). */
export function removableChip(label, onRemove, { kind = "constraint" } = {}) {
  return h("span", { class: `chip chip-${kind} chip-removable`, "data-testid": "constraint-chip" },
    h("span", {}, label),
    h("button", { class: "chip-remove", type: "button", "aria-label": `Remove “${label}”`,
      "data-testid": "chip-remove", onclick: onRemove }, "✕"));
}

export function factorChips(factors, max = 4) {
  const shown = (factors || []).filter((f) => factorLabel(f)).slice(0, max);
  return h("div", { class: "chips", "data-testid": "factors" },
    shown.map((f) => chip(factorLabel(f), { kind: "factor", title: factorSource(f) })));
}

export function matchBadge(score) {
  const pct = matchPercent(score);
  if (pct === null) return null;
  return h("span", { class: "match", "data-testid": "match", title: "How well this fits your taste" }, `${pct}% match`);
}

/** A subtle marker for answers the gateway flags `degraded` (e.g. ranker down → retrieval order). */
export function degradedNote(degraded, what = "ranking", reason = "") {
  if (!degraded) return null;
  const why = reason ? ` (${reason})` : "";
  return h("span", {
    class: "degraded", "data-testid": "degraded",
    title: `Part of movierec was slow or unavailable${why}, so this ${what} used a simpler method. Reasons are still grounded in the movies' data.`,
  }, "simplified");
}

/** "matched: cozy small town, found family" — the movie's keyphrases that matched a free-text search. */
export function matchedKeyphrases(phrases, max = 4) {
  const shown = (Array.isArray(phrases) ? phrases : []).slice(0, max);
  if (!shown.length) return null;
  return h("p", { class: "card-matched", "data-testid": "matched-keyphrases",
    title: "Keyphrases of this movie that matched your words" }, `matched: ${shown.join(", ")}`);
}

/** A clickable recommendation card (poster, title, year, match %, explanation, factors). */
export function movieCard(raw, onOpen) {
  const movie = normaliseMovie(raw);
  const card = h("article", {
    class: "card", tabindex: 0, role: "button", "data-testid": "movie-card",
    "data-movie-id": movie.movieId, "aria-label": `${movie.title} ${yearText(movie)}`,
  },
  h("div", { class: "card-poster" }, posterImage(movie), matchBadge(movie.matchScore)),
  h("div", { class: "card-body" },
    h("h3", { class: "card-title" }, movie.title || `Movie ${movie.movieId}`,
      movie.year ? h("span", { class: "year" }, ` ${movie.year}`) : null),
    movie.explanation ? h("p", { class: "card-why", "data-testid": "explanation" }, movie.explanation) : null,
    matchedKeyphrases(movie.matchedKeyphrases),
    factorChips(movie.factors, 3)));
  const open = () => onOpen(movie);
  card.addEventListener("click", open);
  card.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open();
    }
  });
  return card;
}

/** A horizontally scrolling row of cards with previous/next buttons. */
export function carousel(title, recommendations, onOpen, { degraded = false, degradedReason = "", subtitle = "" } = {}) {
  const track = h("div", { class: "carousel-track", "data-testid": "carousel-track" },
    recommendations.map((rec) => movieCard(rec, onOpen)));
  const scrollBy = (direction) => track.scrollBy({ left: direction * track.clientWidth * 0.85, behavior: "smooth" });
  return h("section", { class: "carousel", "data-testid": "carousel" },
    h("header", { class: "carousel-head" },
      h("div", {},
        h("h2", {}, title, degradedNote(degraded, "carousel", degradedReason)),
        subtitle ? h("p", { class: "muted" }, subtitle) : null),
      h("div", { class: "carousel-nav" },
        h("button", { class: "btn btn-icon", type: "button", "aria-label": `Scroll ${title} left`, onclick: () => scrollBy(-1) }, "‹"),
        h("button", { class: "btn btn-icon", type: "button", "aria-label": `Scroll ${title} right`, onclick: () => scrollBy(1) }, "›"))),
    track);
}
