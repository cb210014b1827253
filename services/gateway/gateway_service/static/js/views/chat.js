// Chat: a multi-turn conversation (the server keeps it, keyed by sessionId); each answer shows
// the constraints the gateway understood as chips and the picks with their reasons.

import { deleteChat, sendChat } from "../api.js";
import { chip, degradedNote, factorChips, matchBadge, posterImage } from "../components.js";
import { errorBox, h } from "../dom.js";
import { constraintChips, normaliseMovie } from "../format.js";
import { getSession } from "../session.js";
import { noteProfileVersion } from "../store.js";
import { openMovieModal } from "./modal.js";

const SESSION_KEY = "movierec.chat.session";
const HISTORY_KEY = "movierec.chat.history";
const MAX_MESSAGE = 1000;
const SUGGESTIONS = [
  "Something from the 90s, nothing too scary",
  "A feel-good comedy under 2 hours",
  "Family friendly, animated",
  "Something shorter",
];

function loadHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
  } catch {
    return [];
  }
}

function recommendationRow(raw, navigate) {
  const movie = normaliseMovie(raw);
  const row = h("article", { class: "chat-rec", tabindex: 0, role: "button", "data-testid": "chat-rec",
    "data-movie-id": movie.movieId },
  posterImage(movie, { className: "poster-thumb" }),
  h("div", { class: "chat-rec-body" },
    h("h4", {}, movie.title, movie.year ? h("span", { class: "year" }, ` ${movie.year}`) : null, " ", matchBadge(movie.matchScore)),
    movie.explanation ? h("p", { class: "card-why" }, movie.explanation) : null,
    factorChips(movie.factors, 4)));
  const open = () => openMovieModal(movie, { navigate });
  row.addEventListener("click", open);
  row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  return row;
}

function messageView(message, navigate) {
  if (message.role === "user") {
    return h("div", { class: "msg msg-user", "data-testid": "msg-user" }, h("p", {}, message.text));
  }
  if (message.role === "error") {
    return h("div", { class: "msg msg-error" }, errorBox(message.error));
  }
  const answer = message.answer;
  const chips = constraintChips(answer.constraints);
  const unresolved = (answer.parsed && answer.parsed.unresolved) || [];
  return h("div", { class: "msg msg-bot", "data-testid": "msg-bot" },
    h("p", { class: "reply" }, answer.reply || "", degradedNote(answer.degraded, "answer", answer.degradedReason)),
    chips.length
      ? h("div", { class: "constraints", "data-testid": "constraints" },
        h("span", { class: "muted small" }, "Active filters: "),
        chips.map((c) => chip(c.label, { kind: "constraint" })))
      : null,
    unresolved.length
      ? h("p", { class: "muted small" }, `I could not find: ${unresolved.map((u) => (typeof u === "object" ? u.text || u.title : u)).join(", ")}`)
      : null,
    answer.tasteUpdated ? h("p", { class: "muted small taste-moved" }, `Your taste moved a little${answer.profileVersion ? ` (v${answer.profileVersion})` : ""}.`) : null,
    h("div", { class: "chat-recs" }, (answer.recommendations || []).map((r) => recommendationRow(r, navigate))));
}

export function renderChat(view, params, { navigate }) {
  const session = getSession();
  // The server creates the conversation on the first message (sessionId null) and keeps it in Redis.
  let sessionId = sessionStorage.getItem(SESSION_KEY) || null;
  let history = loadHistory();
  const log = h("div", { class: "chat-log", "data-testid": "chat-log" });
  const input = h("textarea", { id: "chat-input", rows: 1, maxlength: MAX_MESSAGE, "data-testid": "chat-input",
    placeholder: "Ask for anything: “a heist movie from the 90s, nothing too long”", "aria-label": "Message" });
  const send = h("button", { class: "btn btn-primary", type: "submit", "data-testid": "chat-send" }, "Send");
  const form = h("form", { class: "chat-form" }, input, send);
  const suggestions = h("div", { class: "chips suggestions" }, SUGGESTIONS.map((text) =>
    h("button", { class: "chip chip-toggle", type: "button", onclick: () => { input.value = text; input.focus(); } }, text)));

  function persist() {
    // Errors are not kept: they are about the moment, not the conversation.
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history.filter((m) => m.role !== "error").slice(-40)));
  }

  function paint() {
    log.replaceChildren();
    if (!history.length) {
      log.append(h("div", { class: "chat-empty" },
        h("h2", {}, "What are you in the mood for?"),
        h("p", { class: "muted" }, "Say it your way. I'll pick up limits like decade, length, maturity or “not that one”, show you what I understood, and explain each pick. Every message also nudges your taste."),
        suggestions));
    }
    for (const message of history) log.append(messageView(message, navigate));
    log.scrollTop = log.scrollHeight;
  }

  async function submit(text) {
    history.push({ role: "user", text });
    paint();
    const typing = h("div", { class: "msg msg-bot typing", "data-testid": "typing" }, h("span"), h("span"), h("span"));
    log.append(typing);
    log.scrollTop = log.scrollHeight;
    send.disabled = true;
    input.disabled = true;
    try {
      const answer = await sendChat(session.userId, sessionId, text);
      if (answer.sessionId) {
        sessionId = answer.sessionId;
        sessionStorage.setItem(SESSION_KEY, sessionId);
      }
      noteProfileVersion(answer);
      history.push({ role: "bot", answer: { reply: answer.reply, constraints: answer.constraints,
        recommendations: answer.recommendations, parsed: answer.parsed, tasteUpdated: answer.tasteUpdated,
        profileVersion: answer.profileVersion, degraded: answer.degraded, degradedReason: answer.degradedReason } });
    } catch (error) {
      if (error.status === 404 && sessionId) {
        // The conversation expired on the server: the next message starts a new one.
        sessionId = null;
        sessionStorage.removeItem(SESSION_KEY);
      }
      history.push({ role: "error", error: { title: error.title, message: error.message, fields: error.fields } });
    } finally {
      send.disabled = false;
      input.disabled = false;
      persist();
      paint();
      input.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    submit(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const reset = h("button", { class: "btn btn-ghost btn-small", type: "button", "data-testid": "chat-new",
    onclick: () => {
      if (sessionId) deleteChat(sessionId).catch(() => {}); // best effort: it also expires on its own
      sessionId = null;
      sessionStorage.removeItem(SESSION_KEY);
      history = [];
      persist();
      paint();
    } }, "New conversation");

  view.append(h("section", { class: "chat" },
    h("header", { class: "page-head row" },
      h("div", {}, h("p", { class: "eyebrow" }, "Chat"), h("h1", {}, "Ask movierec")),
      reset),
    h("div", { class: "panel chat-panel" }, log, form)));
  paint();

  const aboutTitle = params.get("title");
  if (aboutTitle) input.value = `More like ${aboutTitle}`;
  input.focus();
}
