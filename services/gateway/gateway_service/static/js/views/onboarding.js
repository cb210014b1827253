// Onboarding: search the catalog, pick 3–5 movies, choose vibe tags, add optional free text.

import { getVibes, importRatings, searchMovies } from "../api.js";
import { posterImage } from "../components.js";
import { clear, debounce, errorBox, h, spinner } from "../dom.js";
import { normaliseMovie } from "../format.js";
import { store } from "../store.js";

const MIN_PICKS = 3;
const MAX_PICKS = 5;
const MAX_FREE_TEXT = 1000;

function normaliseVibes(answer) {
  const raw = Array.isArray(answer) ? answer : (answer && (answer.vibes || answer.items)) || [];
  return raw.map((v) => (typeof v === "string" ? { id: v, label: v } : {
    id: v.id ?? v.key ?? v.name ?? v.label, label: v.label ?? v.name ?? v.id, description: v.description,
  }));
}

function moviesOf(answer) {
  const raw = Array.isArray(answer) ? answer : (answer && (answer.movies || answer.results || answer.items)) || [];
  return raw.map(normaliseMovie);
}

export function renderOnboarding(view, params, { navigate }) {
  const picked = new Map((store.onboarding?.movies || []).map((m) => [m.movieId, m]));
  const chosenVibes = new Set(store.onboarding?.vibes || []);
  let searchSeq = 0;

  const results = h("div", { class: "search-results", "data-testid": "search-results" });
  const tray = h("div", { class: "picked-tray", "data-testid": "picked" });
  const counter = h("span", { class: "counter" });
  const vibeBox = h("div", { class: "chips vibe-chips", "data-testid": "vibes" });
  const freeText = h("textarea", { id: "free-text", rows: 3, maxlength: MAX_FREE_TEXT, "data-testid": "free-text",
    placeholder: "e.g. slow-burn thrillers with a twist, nothing too gory" });
  freeText.value = store.onboarding?.freeText || "";
  const submitError = h("div", {});
  const submit = h("button", { class: "btn btn-primary btn-wide", type: "button", "data-testid": "onboard-submit" },
    "Personalize my picks");
  const search = h("input", { id: "movie-search", type: "search", autocomplete: "off", "data-testid": "movie-search",
    placeholder: "Search a movie you love: The Matrix, Amélie, Heat…", maxlength: 100 });

  function refreshSelection() {
    clear(tray);
    for (const movie of picked.values()) {
      tray.append(h("div", { class: "picked-item", "data-testid": "picked-item", "data-movie-id": movie.movieId },
        posterImage(movie, { className: "poster-thumb" }),
        h("span", {}, movie.title, movie.year ? h("span", { class: "year" }, ` ${movie.year}`) : null),
        h("button", { class: "btn-x", type: "button", "aria-label": `Remove ${movie.title}`,
          onclick: () => { picked.delete(movie.movieId); refreshSelection(); } }, "×")));
    }
    if (!picked.size) tray.append(h("p", { class: "muted" }, "Your picks will appear here."));
    counter.textContent = `${picked.size} / ${MAX_PICKS} picked`;
    counter.classList.toggle("ok", picked.size >= MIN_PICKS);
    submit.disabled = picked.size < MIN_PICKS;
    submit.title = picked.size < MIN_PICKS ? `Pick at least ${MIN_PICKS} movies` : "";
    for (const tile of results.querySelectorAll(".result")) {
      const id = Number(tile.dataset.movieId);
      tile.classList.toggle("selected", picked.has(id));
      tile.setAttribute("aria-pressed", String(picked.has(id)));
    }
  }

  function toggle(movie) {
    if (picked.has(movie.movieId)) picked.delete(movie.movieId);
    else if (picked.size >= MAX_PICKS) {
      submitError.replaceChildren(errorBox({ title: "That's plenty", message: `Pick at most ${MAX_PICKS} movies: remove one first.` }));
      return;
    } else picked.set(movie.movieId, movie);
    submitError.replaceChildren();
    refreshSelection();
  }

  async function runSearch() {
    const query = search.value.trim();
    const seq = ++searchSeq;
    if (query.length < 2) {
      results.replaceChildren(h("p", { class: "muted" }, "Type at least 2 letters to search the catalog."));
      return;
    }
    results.replaceChildren(spinner("Searching…"));
    try {
      const movies = moviesOf(await searchMovies(query));
      if (seq !== searchSeq) return; // a newer search already started
      clear(results);
      if (!movies.length) results.append(h("p", { class: "muted" }, `No movie matches “${query}”.`));
      for (const movie of movies) {
        results.append(h("button", { class: "result", type: "button", "data-testid": "search-result",
          "data-movie-id": movie.movieId, "aria-pressed": "false", onclick: () => toggle(movie) },
          posterImage(movie, { className: "poster-thumb" }),
          h("span", { class: "result-title" }, movie.title),
          h("span", { class: "result-meta" }, [movie.year, movie.genres.slice(0, 2).join(" · ")].filter(Boolean).join(" · ")),
          h("span", { class: "tick", "aria-hidden": "true" }, "✓")));
      }
      refreshSelection();
    } catch (error) {
      if (seq === searchSeq) results.replaceChildren(errorBox(error, runSearch));
    }
  }

  async function loadVibes() {
    vibeBox.replaceChildren(spinner("Loading vibes…"));
    try {
      const vibes = normaliseVibes(await getVibes());
      clear(vibeBox);
      for (const vibe of vibes) {
        const button = h("button", { class: "chip chip-toggle", type: "button", "data-testid": "vibe",
          "data-vibe": vibe.id, title: vibe.description, "aria-pressed": String(chosenVibes.has(vibe.id)) }, vibe.label);
        button.addEventListener("click", () => {
          if (chosenVibes.has(vibe.id)) chosenVibes.delete(vibe.id);
          else chosenVibes.add(vibe.id);
          button.setAttribute("aria-pressed", String(chosenVibes.has(vibe.id)));
        });
        vibeBox.append(button);
      }
    } catch (error) {
      vibeBox.replaceChildren(errorBox(error, loadVibes));
    }
  }

  submit.addEventListener("click", () => {
    if (picked.size < MIN_PICKS || picked.size > MAX_PICKS) return;
    store.onboarding = { movies: [...picked.values()], vibes: [...chosenVibes], freeText: freeText.value.trim() };
    store.firstRecommendations = null;
    navigate("personalizing");
  });

  search.addEventListener("input", debounce(runSearch, 250));

  // Import: people who already rate elsewhere skip the picking.
  const importStatus = h("div", { class: "import-status", "data-testid": "import-status", "aria-live": "polite" });
  const importFile = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv", "data-testid": "import-file" });
  importFile.addEventListener("change", async () => {
    const file = importFile.files && importFile.files[0];
    if (!file) return;
    importStatus.replaceChildren(spinner(), h("span", {}, ` Importing ${file.name}…`));
    try {
      const result = await importRatings(await file.text());
      const missed = result.unmatched.slice(0, 5).map((row) => `${row.title}${row.year ? ` (${row.year})` : ""}`);
      importStatus.replaceChildren(
        h("p", { "data-testid": "import-summary" }, `${result.summary}. Your ratings are being applied.`),
        missed.length ? h("p", { class: "muted small" }, `Not found: ${missed.join(", ")}${result.unmatched.length > 5 ? ", …" : ""}`) : null,
        h("a", { class: "btn btn-primary", href: "#/home", "data-testid": "import-done" }, "See my recommendations →"));
    } catch (error) {
      importStatus.replaceChildren(errorBox(error));
    }
  });

  view.append(h("section", { class: "onboarding" },
    h("header", { class: "page-head" },
      h("p", { class: "eyebrow" }, "Step 1 of 2 · Tell us your taste"),
      h("h1", {}, "Pick 3 to 5 movies you love"),
      h("p", { class: "muted" }, "They anchor your taste vector; vibes and your own words fine-tune it."),
      h("p", { class: "chat-first" },
        h("a", { class: "btn btn-small", href: "#/chat", "data-testid": "chat-first" }, "Or just tell me in a chat →"),
        h("span", { class: "muted small" }, " “something like Hot Fuzz, nothing too long” is enough to start."))),
    h("div", { class: "onboarding-grid" },
      h("div", { class: "panel" },
        h("label", { for: "movie-search", class: "label" }, "Search the catalog"), search, results,
        h("details", { class: "import-box" },
          h("summary", {}, "Already rate movies on Letterboxd or IMDb? Import them"),
          h("p", { class: "muted small" }, "Letterboxd: Settings → Import & Export → Export your data (ratings.csv). "
            + "IMDb: Your ratings → Export."),
          importFile, importStatus)),
      h("aside", { class: "panel picked-panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Your picks"), counter), tray,
        h("h2", {}, "Vibes"), h("p", { class: "muted small" }, "Optional: choose any that fit your mood."), vibeBox,
        h("label", { for: "free-text", class: "label" }, "Anything else? ", h("span", { class: "muted" }, "(optional)")),
        freeText, submitError, submit))));
  results.append(h("p", { class: "muted" }, "Type at least 2 letters to search the catalog."));
  refreshSelection();
  loadVibes();
  search.focus();
}
