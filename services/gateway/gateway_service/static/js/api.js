// The gateway's REST API (services/gateway/README.md), one function per route.
// Every call carries the bearer token, a client-side timeout, and turns any non-2xx answer into
// an ApiError whose message is meant for people (FastAPI's 422 details become field messages).

import { clearSession, getSession } from "./session.js";

const DEFAULT_TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, title, message, fields = [], body = null) {
    super(message);
    this.status = status;
    this.title = title;
    this.fields = fields;
    this.body = body;
  }
}

function fieldName(loc) {
  // ["body", "rating"] → "rating"; ["query", "query"] → "query"
  const parts = (loc || []).filter((p) => p !== "body" && p !== "query" && p !== "path");
  return parts.length ? parts.join(".") : (loc || []).slice(-1).join("");
}

function describeDetail(detail) {
  if (!detail) return { message: "", fields: [] };
  if (typeof detail === "string") return { message: detail, fields: [] };
  if (Array.isArray(detail)) {
    const fields = detail.map((d) => (d && d.msg ? `${fieldName(d.loc)}: ${d.msg}` : JSON.stringify(d)));
    return { message: "Some fields are not valid.", fields };
  }
  if (typeof detail === "object") {
    const message = detail.message || detail.msg || detail.error || JSON.stringify(detail);
    // {"error": {"message", "fields": [{"field", "message"}]}}: the gateway's one error shape
    const fields = Array.isArray(detail.fields)
      ? detail.fields.map((f) => (typeof f === "string" ? f : `${f.field || f.name}: ${f.message || f.msg}`))
      : [];
    return { message, fields };
  }
  return { message: String(detail), fields: [] };
}

const TITLES = {
  400: "That request was not accepted",
  401: "Please sign in again",
  403: "Not allowed",
  404: "Not found",
  409: "Already exists",
  422: "Please check your input",
  429: "Too many attempts",
  500: "The server hit an error",
  502: "A movierec service answered badly",
  503: "A movierec service is unavailable",
  504: "movierec took too long to answer",
};

async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const raw = body && (body.detail ?? body.error ?? body.message ?? body.errors);
  let { message, fields } = describeDetail(raw);
  const status = response.status;
  if (!message) message = response.statusText || `HTTP ${status}`;
  if (status === 429) {
    const retry = response.headers.get("Retry-After");
    if (retry) message += ` Try again in ${retry} s.`;
  }
  if (status >= 500) message = `${message.replace(/\s*$/, "").replace(/([^.!?])$/, "$1.")} Please try again in a moment.`;
  const title = TITLES[status] || (status >= 500 ? "Server error" : "Request failed");
  return new ApiError(status, title, message, fields, body);
}

/** fetch() with the bearer token and a timeout; any non-2xx answer becomes an ApiError. */
async function send(method, path, { body, auth = true, timeoutMs = DEFAULT_TIMEOUT_MS, accept = "application/json",
                                    extraHeaders = {}, raw = false } = {}) {
  const headers = { Accept: accept, ...extraHeaders };
  if (body !== undefined && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
  const session = getSession();
  if (auth && session) headers.Authorization = `Bearer ${session.token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method, headers, signal: controller.signal,
      body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)),
    });
  } catch (cause) {
    clearTimeout(timer);
    const timedOut = cause && cause.name === "AbortError";
    throw new ApiError(0, timedOut ? "No answer" : "Cannot reach movierec",
      timedOut ? `The server did not answer within ${Math.round(timeoutMs / 1000)} s.`
               : "The movierec server cannot be reached. Check that it is running.");
  }
  if (!response.ok) {
    clearTimeout(timer);
    const error = await errorFromResponse(response);
    if (response.status === 401 && auth) {
      clearSession();
      window.dispatchEvent(new CustomEvent("movierec:auth-expired", { detail: error }));
    }
    throw error;
  }
  return { response, done: () => clearTimeout(timer) };
}

export async function request(method, path, options = {}) {
  const { response, done } = await send(method, path, options);
  try {
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  } finally {
    done();
  }
}

/**
 * POST that asks for a server-sent-event stream: calls onEvent(name, data) for every event as it
 * arrives and resolves with the data of the `result` event. An `error` event rejects with an
 * ApiError. A server that answers plain JSON instead is accepted: its body is the result.
 */
export async function streamRequest(path, body, onEvent, { timeoutMs = 60000 } = {}) {
  const { response, done } = await send("POST", path, { body, timeoutMs, accept: "text/event-stream" });
  try {
    if (!(response.headers.get("Content-Type") || "").includes("text/event-stream") || !response.body) {
      return await response.json();
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let result;
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (value) buffer += value;
      let split;
      while ((split = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, split);
        buffer = buffer.slice(split).replace(/^\r?\n\r?\n/, "");
        const event = parseSseBlock(block);
        if (!event) continue;
        if (event.name === "error") throw errorFromBody(event.data);
        if (event.name === "result") result = event.data;
        else onEvent(event.name, event.data);
      }
      if (finished) break;
    }
    if (result === undefined) throw new ApiError(502, TITLES[502], "The stream ended before the result arrived.");
    return result;
  } finally {
    done();
  }
}

function parseSseBlock(block) {
  let name = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(":")) continue; // comment / keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { name, data: JSON.parse(text) };
  } catch {
    return { name, data: text };
  }
}

function errorFromBody(body) {
  const raw = body && typeof body === "object" ? (body.error ?? body.detail ?? body) : body;
  const { message, fields } = describeDetail(raw);
  const status = (raw && raw.status) || 500;
  return new ApiError(status, TITLES[status] || "Server error", message || "The request failed.", fields, body);
}

const enc = encodeURIComponent;

// ---- auth -------------------------------------------------------------------------------------
function sessionFromAuthAnswer(answer, username) {
  return {
    token: answer.accessToken || answer.access_token || answer.token,
    userId: answer.userId ?? answer.user_id ?? (answer.user && answer.user.id),
    username: answer.username || (answer.user && answer.user.username) || username,
  };
}

export async function signup(username, password) {
  const answer = await request("POST", "/api/auth/signup", { body: { username, password }, auth: false });
  return sessionFromAuthAnswer(answer, username);
}

export async function login(username, password) {
  const answer = await request("POST", "/api/auth/login", { body: { username, password }, auth: false });
  return sessionFromAuthAnswer(answer, username);
}

// ---- catalog ----------------------------------------------------------------------------------
export const searchMovies = (query, limit = 12) =>
  request("GET", `/api/movies?query=${enc(query)}&limit=${limit}`);
export const getMovie = (movieId) => request("GET", `/api/movies/${enc(movieId)}`);
/** Free-text search ("something cozy in a small town"): movies with their matchedKeyphrases. */
export const searchByText = (query, { filter, limit = 12 } = {}) =>
  request("POST", "/api/search", { body: filter ? { query, filter, limit } : { query, limit }, auth: false });
export const getVibes = () => request("GET", "/api/vibes");
export const posterFallbackUrl = (movieId) => `/api/posters/${enc(movieId)}.svg`;

// ---- personalisation ----------------------------------------------------------------------------
/** Onboarding; onStage(stage) is called for each pipeline stage as the server completes it. */
export const generateEmbedding = (userId, movies, vibes, freeText, onStage = () => {}) => {
  const body = { userId, movies, vibes };
  if (freeText) body.freeText = freeText;
  return streamRequest("/api/embeddings/generate", body, (name, data) => { if (name === "stage") onStage(data); });
};

export const getRecommendations = (userId, { numResults = 10, excludeMovies = [], context = null } = {}) => {
  const body = { userId, numResults, excludeMovies };
  if (context) body.context = context;
  return request("POST", "/api/recommendations", { body });
};

/** A chat turn; sessionId null starts a new conversation (the answer carries its id). */
export const sendChat = (userId, sessionId, message) =>
  request("POST", "/api/chat", { body: { userId, sessionId: sessionId || null, message } });
/**
 * A chat turn as a stream: onEvent("picks", {understanding, constraints, chips, recommendations}) first,
 * then onEvent("reply", {text}) per chunk of the reply as it is written; resolves with the final answer.
 * ``turn`` = {message} or {removeConstraints: [{slot, value}]} (re-runs the last request without them).
 */
export const streamChat = (userId, sessionId, turn, onEvent) =>
  streamRequest("/api/chat/stream", { userId, sessionId: sessionId || null, ...turn }, onEvent, { timeoutMs: 90000 });
export const getChat = (sessionId) => request("GET", `/api/chat/${enc(sessionId)}`);
export const deleteChat = (sessionId) => request("DELETE", `/api/chat/${enc(sessionId)}`);

/** One key per user action: a retry of the same action (a flaky network) is applied once. */
export const actionKey = () => (globalThis.crypto && crypto.randomUUID ? crypto.randomUUID()
  : Array.from({ length: 4 }, () => Math.random().toString(16).slice(2, 10)).join(""));

export const postReview = (userId, movieId, rating, text, key = actionKey()) => {
  const body = { userId, movieId, rating };
  if (text) body.text = text;
  return request("POST", "/api/reviews", { body, extraHeaders: { "Idempotency-Key": key } });
};

/** A Letterboxd ratings.csv or IMDb ratings export, sent as it is; resolves with the import summary. */
export const importRatings = (csvText) => request("POST", "/api/import", {
  body: csvText, raw: true, timeoutMs: 60000, extraHeaders: { "Content-Type": "text/csv" } });

export const markWatched = (userId, movieId) =>
  request("POST", `/api/users/${enc(userId)}/watched`, { body: { movieId } });

export const getWatchlist = (userId) => request("GET", `/api/users/${enc(userId)}/watchlist`);
export const addToWatchlist = (userId, movieId) =>
  request("POST", `/api/users/${enc(userId)}/watchlist`, { body: { movieId } });
export const removeFromWatchlist = (userId, movieId) =>
  request("DELETE", `/api/users/${enc(userId)}/watchlist/${enc(movieId)}`);
export const getThemes = () => request("GET", "/api/themes");
export const getTheme = (themeId, { limit = 24 } = {}) => request("GET", `/api/themes/${enc(themeId)}?limit=${limit}`);

export const getProfile = (userId) => request("GET", `/api/users/${enc(userId)}/profile`);
export const getTaste = (userId) => request("GET", `/api/users/${enc(userId)}/taste`);
