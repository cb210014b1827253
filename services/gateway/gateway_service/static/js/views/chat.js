// Chat: a multi-turn conversation (the server keeps it, keyed by sessionId). Each turn streams from
// POST /api/chat/stream: the understood constraints (removable chips) and the picks arrive first, then
// the reply text as it is written. Removing a chip re-runs the last request without that constraint.
// A new user can start here without onboarding: the conversation seeds their taste.

import { deleteChat, streamChat } from "../api.js";
import { chip, degradedNote, factorChips, matchBadge, matchedKeyphrases, posterImage, removableChip } from "../components.js";
import { errorBox, h } from "../dom.js";
import { normaliseMovie } from "../format.js";
import { getSession } from "../session.js";
import { noteProfileVersion } from "../store.js";
import { openMovieModal } from "./modal.js";

const SESSION_KEY = "movierec.chat.session";
const HISTORY_KEY = "movierec.chat.history";
const MAX_MESSAGE = 1000;
const SUGGESTIONS = [
  "Something like Hot Fuzz, under 2 hours",
  "A funny animated movie for my 6-year-old",
  "From the 90s, nothing too scary",
  "Why the second one?",
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
    matchedKeyphrases(movie.matchedKeyphrases),
    factorChips(movie.factors, 4)));
  const open = () => openMovieModal(movie, { navigate });
  row.addEventListener("click", open);
  row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  return row;
}

/** The answer's understood constraints: removable on the latest answer, plain on earlier ones. */
function chipsView(answer, onRemove) {
  const chips = answer.chips || [];
  if (!chips.length) return null;
  return h("div", { class: "constraints", "data-testid": "constraints" },
    h("span", { class: "muted small" }, onRemove ? "Understood (✕ to remove): " : "Understood: "),
    chips.map((c) => (onRemove ? removableChip(c.label, () => onRemove(c)) : chip(c.label, { kind: "constraint" }))));
}

/** Who wrote the reply and who read the request: the person can tell an LLM answer from a template. */
function replySourceNote(answer) {
  const parts = [];
  if (answer.replySource === "llm") parts.push("Reply written by the LLM; every name in it was checked against the picks");
  if (answer.understoodBy === "rules+llm") parts.push("request read by rules + LLM");
  if (!parts.length) return null;
  return h("p", { class: "muted small reply-source", "data-testid": "reply-source" }, parts.join(" · "));
}

function botMessage(answer, navigate, onRemove, { streaming = false } = {}) {
  const notes = [];
  if (answer.onboarded) notes.push("I started your taste profile from this conversation.");
  else if (answer.tasteUpdated) notes.push(`Your taste moved a little${answer.profileVersion ? ` (v${answer.profileVersion})` : ""}.`);
  return h("div", { class: `msg msg-bot${streaming ? " streaming" : ""}`, "data-testid": "msg-bot",
    "data-act": answer.act || "", "data-reply-source": answer.replySource || "" },
  h("p", { class: "reply", "data-testid": "reply" }, answer.reply || "", degradedNote(answer.degraded, "answer", answer.degradedReason)),
  chipsView(answer, onRemove),
  notes.map((text) => h("p", { class: "muted small taste-moved" }, text)),
  replySourceNote(answer),
  h("div", { class: "chat-recs" }, (answer.recommendations || []).map((r) => recommendationRow(r, navigate))));
}

function messageView(message, navigate, onRemove) {
  if (message.role === "user") {
    return h("div", { class: `msg msg-user${message.removal ? " msg-removal" : ""}`, "data-testid": "msg-user" },
      h("p", {}, message.text));
  }
  if (message.role === "error") {
    return h("div", { class: "msg msg-error" }, errorBox(message.error));
  }
  return botMessage(message.answer, navigate, onRemove);
}

function keepAnswer(answer) {
  return { reply: answer.reply, chips: answer.chips, constraints: answer.constraints,
    recommendations: answer.recommendations, act: answer.act, tasteUpdated: answer.tasteUpdated,
    onboarded: answer.onboarded, profileVersion: answer.profileVersion, degraded: answer.degraded,
    degradedReason: answer.degradedReason, replySource: answer.replySource, understoodBy: answer.understoodBy };
}

export function renderChat(view, params, { navigate }) {
  const session = getSession();
  // The server creates the conversation on the first message (sessionId null) and keeps it in Redis.
  let sessionId = sessionStorage.getItem(SESSION_KEY) || null;
  let history = loadHistory();
  let busy = false;
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

  function removeChip(c) {
    if (busy || !sessionId) return;
    submit({ removeConstraints: [{ slot: c.slot, value: c.value ?? null }] }, `Without “${c.label}”`, true);
  }

  function paint() {
    log.replaceChildren();
    if (!history.length) {
      log.append(h("div", { class: "chat-empty" },
        h("h2", {}, "What are you in the mood for?"),
        h("p", { class: "muted" }, "Say it your way — a movie you loved, who's watching, how long, what to avoid. I'll show what I understood (tap ✕ to drop a condition), explain each pick, and answer questions like “why the second one?”."),
        suggestions));
    }
    const lastBot = history.map((m) => m.role).lastIndexOf("bot");
    history.forEach((message, i) => log.append(messageView(message, navigate, i === lastBot ? removeChip : null)));
    log.scrollTop = log.scrollHeight;
  }

  async function submit(turn, shownText, removal = false) {
    busy = true;
    history.push({ role: "user", text: shownText, removal });
    paint();
    let live = h("div", { class: "msg msg-bot typing", "data-testid": "typing" }, h("span"), h("span"), h("span"));
    log.append(live);
    log.scrollTop = log.scrollHeight;
    send.disabled = true;
    input.disabled = true;
    let partial = null;
    const onEvent = (name, data) => {
      if (name === "picks") {
        partial = { ...data, reply: "" };
        if (data.sessionId) sessionId = data.sessionId;
      } else if (name === "reply" && partial) {
        partial.reply += data.text || "";
      } else {
        return;
      }
      const next = botMessage(partial, navigate, null, { streaming: true });
      live.replaceWith(next);
      live = next;
      log.scrollTop = log.scrollHeight;
    };
    try {
      const answer = await streamChat(session.userId, sessionId, turn, onEvent);
      if (answer.sessionId) {
        sessionId = answer.sessionId;
        sessionStorage.setItem(SESSION_KEY, sessionId);
      }
      noteProfileVersion(answer);
      history.push({ role: "bot", answer: keepAnswer(answer) });
    } catch (error) {
      if (error.status === 404 && sessionId) {
        // The conversation expired on the server: the next message starts a new one.
        sessionId = null;
        sessionStorage.removeItem(SESSION_KEY);
      }
      history.push({ role: "error", error: { title: error.title, message: error.message, fields: error.fields } });
    } finally {
      busy = false;
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
    if (!text || busy) return;
    input.value = "";
    submit({ message: text }, text);
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
