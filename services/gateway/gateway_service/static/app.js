// movierec web UI: a hash-routed single-page app (no build step, every asset local).
// Routes: #/signup #/login #/onboarding #/personalizing #/home #/chat #/taste

import { clear, toast } from "./js/dom.js";
import { clearSession, getSession, onSessionChange } from "./js/session.js";
import { resetStore } from "./js/store.js";
import { renderAuth } from "./js/views/auth.js";
import { renderChat } from "./js/views/chat.js";
import { renderHome } from "./js/views/home.js";
import { closeMovieModal } from "./js/views/modal.js";
import { renderOnboarding } from "./js/views/onboarding.js";
import { renderPersonalizing } from "./js/views/personalizing.js";
import { renderTaste } from "./js/views/taste.js";

const ROUTES = {
  signup: (view, params, ctx) => renderAuth(view, "signup", ctx),
  login: (view, params, ctx) => renderAuth(view, "login", ctx),
  onboarding: renderOnboarding,
  personalizing: renderPersonalizing,
  home: renderHome,
  chat: renderChat,
  taste: renderTaste,
};
const PUBLIC_ROUTES = new Set(["signup", "login"]);

let cleanup = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query = ""] = raw.split("?");
  return { name: name || "", params: new URLSearchParams(query) };
}

export function navigate(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  const target = `#/${name}${query ? `?${query}` : ""}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function updateChrome(route) {
  const session = getSession();
  const topbar = document.getElementById("topbar");
  topbar.hidden = !session || PUBLIC_ROUTES.has(route);
  document.getElementById("who").textContent = session ? session.username : "";
  for (const link of topbar.querySelectorAll("[data-route]")) {
    link.toggleAttribute("aria-current", link.dataset.route === route);
  }
  document.body.dataset.route = route;
}

async function render() {
  const { name, params } = parseHash();
  const session = getSession();
  let route = ROUTES[name] ? name : session ? "home" : "signup";
  if (!session && !PUBLIC_ROUTES.has(route)) route = "login";
  if (session && PUBLIC_ROUTES.has(route)) route = "home";
  if (route !== name) {
    history.replaceState(null, "", `#/${route}`);
  }
  closeMovieModal();
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  updateChrome(route);
  const view = clear(document.getElementById("view"));
  view.dataset.view = route;
  try {
    cleanup = await ROUTES[route](view, params, { navigate });
  } catch (error) {
    console.error(error);
    toast(error.message || String(error), "error");
  }
  view.focus({ preventScroll: true });
}

function boot() {
  window.addEventListener("hashchange", render);
  window.addEventListener("movierec:auth-expired", () => {
    toast("Your session has expired. Please log in again.", "error");
    navigate("login");
  });
  onSessionChange((session) => {
    if (!session) resetStore();
  });
  document.getElementById("logout").addEventListener("click", () => {
    clearSession();
    sessionStorage.clear();
    navigate("login");
  });
  render();
}

boot();
