// Taste Wrapped: summary, genre radar (Affinity formula), the 2-D taste map with the path of your taste
// through time, and the genre radar "then vs now" (click a reference point on the map to overlay its radar).

import { getProfile, getTaste } from "../api.js";
import { MAP_LEGEND, compareRadar, radarChart, tasteMap } from "../charts.js";
import { chip } from "../components.js";
import { errorBox, fill, h, spinner } from "../dom.js";
import { getSession } from "../session.js";
import { noteProfileVersion, profileVersionOf } from "../store.js";
import { openMovieModal } from "./modal.js";

const RADAR_AXES = 8;

/** [{genre, affinity, count}] from an object map or a list, strongest first. */
export function genreAffinities(taste) {
  const raw = taste.genreAffinity ?? taste.genreAffinities ?? taste.genres ?? taste.radar ?? [];
  const list = Array.isArray(raw)
    ? raw.map((g) => ({ genre: g.genre ?? g.name ?? g.label, affinity: Number(g.affinity ?? g.value ?? g.score),
      count: g.count ?? g.n ?? null }))
    : Object.entries(raw).map(([genre, v]) => (typeof v === "object"
      ? { genre, affinity: Number(v.affinity ?? v.value), count: v.count ?? null }
      : { genre, affinity: Number(v), count: null }));
  return list.filter((g) => g.genre && Number.isFinite(g.affinity)).sort((a, b) => b.affinity - a.affinity);
}

const KIND_ALIASES = {
  you: "you", user: "you", me: "you",
  average: "average", averageviewer: "average", average_viewer: "average", popular: "average",
  critic: "critic", criticconsensus: "critic", critic_consensus: "critic", critics: "critic",
  top: "top", topmovie: "top", topmovies: "top", top_movie: "top", favorite: "top", liked: "top",
  nearby: "nearby", near: "nearby", neighbor: "nearby", neighbour: "nearby", nearbymovie: "nearby",
};

function kindOf(value) {
  return KIND_ALIASES[String(value || "").toLowerCase().replace(/[\s-]/g, "")] || "nearby";
}

function pointOf(p, kind) {
  if (!p) return null;
  const [x, y] = Array.isArray(p) ? p : Array.isArray(p.xy) ? p.xy : [p.x, p.y];
  if (!Number.isFinite(Number(x)) || !Number.isFinite(Number(y))) return null;
  return { kind, x: Number(x), y: Number(y), label: p.label || p.title || null, movieId: p.movieId ?? null,
    year: p.year ?? null };
}

/** Every point of the map as {kind, x, y, label, movieId}, from a point list or named groups. */
export function mapPoints(taste) {
  const map = taste.map ?? taste.tasteMap ?? {};
  if (Array.isArray(map.points) || Array.isArray(map)) {
    return (Array.isArray(map) ? map : map.points).map((p) => pointOf(p, kindOf(p.kind ?? p.type))).filter(Boolean);
  }
  const points = [];
  const single = [["you", map.you ?? map.user], ["average", map.averageViewer ?? map.average],
    ["critic", map.criticConsensus ?? map.critic]];
  for (const [kind, p] of single) {
    const point = pointOf(p, kind);
    if (point) points.push({ ...point, label: point.label || MAP_LEGEND[kind].legend });
  }
  for (const p of map.topMovies ?? map.top ?? []) points.push(pointOf(p, "top"));
  for (const p of map.nearby ?? map.nearbyMovies ?? []) points.push(pointOf(p, "nearby"));
  return points.filter(Boolean);
}

function summaryText(taste) {
  const s = taste.summary;
  if (!s) return "";
  if (typeof s === "string") return s;
  return s.text || s.headline || "";
}

function radarSection(affinities, source) {
  if (affinities.length < 3) {
    return h("div", { class: "panel chart-panel" }, h("h2", {}, "Genre radar"),
      h("p", { class: "muted" }, "Rate a few more movies to draw your genre radar (it needs at least 3 genres)."),
      h("div", { class: "chips" }, affinities.map((g) => chip(`${g.genre} ${g.affinity.toFixed(1)}`))));
  }
  const axes = affinities.slice(0, RADAR_AXES);
  const onRatingScale = axes.some((g) => g.affinity > 1); // the Affinity formula averages 0.5–5 ratings
  const radar = radarChart(axes.map((g) => ({
    label: g.genre,
    value: onRatingScale ? g.affinity / 5 : g.affinity,
    display: onRatingScale ? `${g.affinity.toFixed(1)}★` : `${Math.round(g.affinity * 100)}%`,
  })));
  return h("div", { class: "panel chart-panel" },
    h("h2", {}, "Genre radar"),
    h("p", { class: "muted small" }, source === "onboarding"
      ? "From your onboarding picks (each counts as a 5★ rating) until you rate movies."
      : onRatingScale
        ? "Your average rating per genre, over the movies you rated (Affinity formula)."
        : "How strongly each genre shows up in your taste."),
    radar);
}

const SERIES_STYLE = {
  then: "series-then", now: "series-now", average_viewer: "series-average", critic_consensus: "series-critic",
};
const ANCHOR_SERIES = { average: "average_viewer", critic: "critic_consensus" };

/** The radar then vs now; `overlay` (a reference point's series kind, or null) is drawn on top. */
function driftSection(view, reason) {
  const panel = h("div", { class: "panel chart-panel", "data-testid": "taste-drift" }, h("h2", {}, "Your taste, then vs now"));
  if (!view) {
    panel.append(h("p", { class: "muted", "data-testid": "taste-radar-unavailable" }, reason || "Not available yet."));
    return { panel, setOverlay: () => {} };
  }
  const byKind = Object.fromEntries(view.series.map((x) => [x.kind, x]));
  const extent = Math.max(...view.series.flatMap((x) => x.values.map(Math.abs))) || 1;
  const holder = h("div", { class: "radar-holder" });
  const legend = h("ul", { class: "legend radar-legend" });
  const note = h("p", { class: "muted small" });
  let overlay = null;
  const draw = () => {
    const shown = [byKind.then && !view.thenIsNow ? byKind.then : null, byKind.now, overlay ? byKind[overlay] : null]
      .filter(Boolean).map((x) => ({ key: x.kind, label: x.label, cls: SERIES_STYLE[x.kind], values: x.values }));
    holder.replaceChildren(compareRadar(view.axes, shown, { extent }));
    legend.replaceChildren(...shown.map((x) => h("li", { "data-series": x.key }, h("span", { class: `swatch ${x.cls}` }), x.label)),
      ...["average_viewer", "critic_consensus"].filter((k) => byKind[k]).map((k) => h("li", {},
        h("button", { class: `link${overlay === k ? " active" : ""}`, type: "button", "data-overlay": k,
          onclick: () => setOverlay(overlay === k ? null : k) }, overlay === k ? `Hide ${byKind[k].label}` : `Compare with ${byKind[k].label}`))));
    note.textContent = view.thenIsNow
      ? "Your taste has one day of history so far: rate or chat on another day to see it move."
      : `Then (${byKind.then.day}) vs now. ${reason ? `${reason}. ` : ""}Middle ring = the average movie; outward = leaning toward the genre.`;
  };
  const setOverlay = (kind) => { overlay = kind; draw(); };
  draw();
  panel.append(h("p", { class: "muted small" }, "How far your taste leans toward each genre, compared with the average movie. "
    + "Click Average viewer or Critic consensus on the map to overlay theirs."), holder, legend, note);
  return { panel, setOverlay };
}

function mapSection(points, navigate, unavailableReason, { path = [], axisNames = null, onAnchor } = {}) {
  if (!points.length) {
    return h("div", { class: "panel chart-panel" }, h("h2", {}, "Taste map"),
      h("p", { class: "muted", "data-testid": "map-unavailable" }, unavailableReason || "The taste map is not available yet."));
  }
  const kinds = new Set(points.map((p) => p.kind));
  const legend = h("ul", { class: "legend" }, Object.entries(MAP_LEGEND).filter(([k]) => kinds.has(k)).map(([k, style]) =>
    h("li", {}, h("span", { class: `swatch ${style.cls}` }), style.legend)));
  return h("div", { class: "panel chart-panel wide" },
    h("h2", {}, "Taste map"),
    h("p", { class: "muted small" }, "Movies placed by meaning (their vectors projected to 2-D): closer means more alike. Click a movie to open it."),
    tasteMap(points, { path, axisNames, onAnchor,
      onPick: (p) => openMovieModal({ movieId: p.movieId, title: p.label, year: p.year }, { navigate }) }),
    path.length > 1
      ? h("p", { class: "muted small", "data-testid": "taste-path-note" },
        `The line is your taste over ${path.length} days (${path[0].day} → ${path[path.length - 1].day}), one dot per day it changed.`)
      : null,
    legend);
}

function listSection(title, movies, navigate, testId) {
  if (!movies || !movies.length) return null;
  return h("div", { class: "panel" }, h("h2", {}, title),
    h("ol", { class: "movie-list", "data-testid": testId }, movies.map((m) =>
      h("li", {}, h("button", { class: "link", type: "button",
        onclick: () => openMovieModal(m, { navigate }) }, m.title || `Movie ${m.movieId}`),
      m.year ? h("span", { class: "muted" }, ` ${m.year}`) : null,
      m.rating ? h("span", { class: "muted" }, ` · you rated ${m.rating}★`) : null))));
}

export async function renderTaste(view, params, { navigate }) {
  const { userId, username } = getSession();
  const body = h("div", { class: "taste-body" }, spinner("Wrapping up your taste…"));
  view.append(h("section", { class: "taste" },
    h("header", { class: "page-head wrapped-hero" },
      h("p", { class: "eyebrow" }, "Taste Wrapped"),
      h("h1", {}, username ? `${username}, this is your taste` : "This is your taste")),
    body));

  async function load() {
    body.replaceChildren(spinner("Wrapping up your taste…"));
    let taste;
    let version = null;
    try {
      const [tasteAnswer, profile] = await Promise.all([getTaste(userId), getProfile(userId).catch(() => null)]);
      taste = tasteAnswer;
      version = profile ? noteProfileVersion(profile) : profileVersionOf(taste);
    } catch (error) {
      const box = errorBox(error, load);
      if (error.status === 404 || error.status === 409) {
        box.append(h("a", { class: "btn btn-primary btn-small", href: "#/onboarding" }, "Set up my taste"));
      }
      body.replaceChildren(box);
      return;
    }
    const affinities = genreAffinities(taste);
    const points = mapPoints(taste);
    const top = taste.topMovies ?? (taste.map && taste.map.topMovies) ?? points.filter((p) => p.kind === "top")
      .map((p) => ({ movieId: p.movieId, title: p.label, year: p.year }));
    const nearby = points.filter((p) => p.kind === "nearby").map((p) => ({ movieId: p.movieId, title: p.label, year: p.year }));
    const summary = summaryText(taste);
    const drift = driftSection(taste.tasteRadar, taste.tasteRadarUnavailableReason);
    const mapExtras = { path: (taste.map && taste.map.path) || [], axisNames: (taste.map && taste.map.axisNames) || null,
      onAnchor: (p) => drift.setOverlay(ANCHOR_SERIES[p.kind] || null) };
    fill(body,
      summary ? h("p", { class: "wrapped-summary", "data-testid": "taste-summary" }, summary) : null,
      themesSection(taste.topThemes || []),
      h("div", { class: "stats" },
        stat("Taste version", version ?? "–"),
        stat("Movies rated", taste.ratingCount ?? taste.ratingsCount ?? taste.numRatings ?? "–"),
        stat("Top genre", affinities[0] ? affinities[0].genre : "–")),
      h("div", { class: "taste-grid" },
        radarSection(affinities, taste.radarSource),
        mapSection(points, navigate, taste.mapUnavailableReason, mapExtras),
        drift.panel,
        listSection("Your top movies", top, navigate, "top-movies"),
        listSection("Near your taste", nearby.slice(0, 10), navigate, "nearby-movies")));
  }

  await load();
}

/** "4 of your 5 favourites are in *Psychological Dramas*: …" — the pattern lines of the user's top themes. */
function themesSection(themes) {
  if (!themes.length) return null;
  const line = (theme) => {
    const [before, name, after] = theme.pattern.split("*");
    return h("li", { "data-theme-id": theme.themeId }, before, h("em", {}, name ?? ""), after ?? "");
  };
  return h("section", { class: "panel wrapped-themes", "data-testid": "taste-themes" },
    h("h2", {}, "Your themes"), h("ul", {}, themes.map(line)));
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("span", { class: "stat-value" }, String(value)), h("span", { class: "stat-label" }, label));
}
