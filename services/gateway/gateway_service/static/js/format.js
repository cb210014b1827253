// Turning API values into words: match percentages, factor chips, constraint chips, runtimes.
// Each normaliser accepts the documented shape and the obvious variants (snake_case, strings
// instead of objects) so one renamed field shows up as a plain label instead of a blank card.

export function matchPercent(score) {
  if (score === undefined || score === null || Number.isNaN(Number(score))) return null;
  const value = Number(score);
  return Math.round(value <= 1 ? value * 100 : value);
}

export function runtimeText(minutes) {
  if (!minutes) return null;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h ? `${h} h ${m ? `${m} min` : ""}`.trim() : `${m} min`;
}

// factors[].kind (services/gateway/README.md): genre, keyword, tag, director, cast, decade, runtime,
// certification, query_term, similar_to_liked.
const FACTOR_WORDING = {
  genre: (v) => v,
  keyword: (v) => v,
  tag: (v) => v,
  director: (v) => `Dir. ${v}`,
  cast: (v) => `With ${v}`,
  decade: (v) => (/^\d{4}$/.test(String(v)) ? `${v}s` : String(v)),
  runtime: (v) => (Number.isFinite(Number(v)) ? `${v} min` : String(v)),
  certification: (v) => `Rated ${v}`,
  query_term: (v) => `“${v}”`,
  similar_to_liked: (v) => `Like ${v}`,
};

export function factorLabel(factor) {
  if (factor === null || factor === undefined) return "";
  if (typeof factor !== "object") return String(factor);
  if (factor.label) return factor.label;
  if (factor.text) return factor.text;
  const kind = factor.kind || factor.type || factor.name;
  let value = factor.value ?? factor.detail;
  if (Array.isArray(value)) value = value.join(", ");
  if (kind === "similar_to_liked" && (value === undefined || value === null)) value = factor.sourceTitle;
  if (kind && value !== undefined && value !== null) {
    const wording = FACTOR_WORDING[kind];
    return wording ? wording(value) : `${humanize(kind)}: ${value}`;
  }
  return kind ? humanize(kind) : JSON.stringify(factor);
}

/** Where a factor comes from, for its tooltip: "genre — shared with The Godfather". */
export function factorSource(factor) {
  if (!factor || typeof factor !== "object") return undefined;
  const kind = factor.kind ? humanize(factor.kind) : "";
  return factor.sourceTitle ? `${kind} — shared with ${factor.sourceTitle}, which you liked` : kind || undefined;
}

export function humanize(key) {
  return String(key)
    .replace(/_/g, " ")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .replace(/^./, (c) => c.toUpperCase());
}

const list = (value) => (Array.isArray(value) ? value : [value]).filter((v) => v !== null && v !== undefined && v !== "");

function normaliseKeys(obj) {
  const out = {};
  for (const [key, value] of Object.entries(obj)) {
    out[key.replace(/_([a-z])/g, (_, ch) => ch.toUpperCase())] = value;
  }
  return out;
}

/** Accepts a recommendation in camelCase or snake_case; returns the camelCase shape the views use. */
export function normaliseMovie(raw) {
  const m = normaliseKeys(raw || {});
  return {
    ...m,
    movieId: m.movieId ?? m.id,
    matchScore: m.matchScore ?? m.score,
    factors: Array.isArray(m.factors) ? m.factors : [],
    genres: Array.isArray(m.genres) ? m.genres : m.genres ? [m.genres] : [],
    cast: Array.isArray(m.cast) ? m.cast : [],
    runtimeMin: m.runtimeMin ?? m.runtime,
  };
}

export function yearText(movie) {
  return movie.year ? String(movie.year) : "";
}
