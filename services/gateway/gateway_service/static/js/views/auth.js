// Sign up / log in.

import { getProfile, login, signup } from "../api.js";
import { errorBox, h } from "../dom.js";
import { saveSession } from "../session.js";

const COPY = {
  signup: { title: "Create your account", action: "Sign up", switchText: "Already have an account?",
            switchLink: "Log in", switchRoute: "login", autocomplete: "new-password" },
  login: { title: "Welcome back", action: "Log in", switchText: "New to movierec?",
           switchLink: "Create an account", switchRoute: "signup", autocomplete: "current-password" },
};

/** True unless the gateway says this user has no taste profile yet (404 NOT_ONBOARDED). */
async function hasOnboarded(userId) {
  try {
    await getProfile(userId);
    return true;
  } catch (error) {
    return error.status !== 404;
  }
}

export function renderAuth(view, mode, { navigate }) {
  const copy = COPY[mode];
  const feedback = h("div", { class: "form-feedback" });
  const username = h("input", { id: "username", name: "username", type: "text", required: true, minlength: 3,
    maxlength: 32, pattern: "[A-Za-z0-9_.\\-]{3,32}", autocomplete: "username", autocapitalize: "none", spellcheck: "false", "data-testid": "username" });
  const password = h("input", { id: "password", name: "password", type: "password", required: true,
    minlength: mode === "signup" ? 8 : 1, maxlength: 128, autocomplete: copy.autocomplete, "data-testid": "password" });
  const submit = h("button", { class: "btn btn-primary btn-wide", type: "submit", "data-testid": "auth-submit" }, copy.action);

  const form = h("form", { class: "auth-form", novalidate: true, "data-testid": `${mode}-form` },
    h("label", { for: "username" }, "Username"), username,
    h("label", { for: "password" }, "Password"), password,
    mode === "signup" ? h("p", { class: "hint" }, "Username: 3–32 letters, digits, _ . or -. Password: 8–128 characters.") : null,
    feedback, submit,
    h("p", { class: "switch" }, `${copy.switchText} `, h("a", { href: `#/${copy.switchRoute}` }, copy.switchLink)));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    feedback.replaceChildren();
    const problems = [];
    if (!username.validity.valid) problems.push("username: 3–32 characters of A–Z, a–z, 0–9, _ . -");
    if (!password.validity.valid) problems.push(mode === "signup" ? "password: 8–128 characters" : "password: required");
    if (problems.length) {
      feedback.append(errorBox({ title: "Please check your input", message: "", fields: problems }));
      return;
    }
    submit.disabled = true;
    submit.textContent = mode === "signup" ? "Creating account…" : "Signing in…";
    try {
      const call = mode === "signup" ? signup : login;
      const auth = await call(username.value.trim(), password.value);
      saveSession(auth);
      navigate(mode === "signup" || !(await hasOnboarded(auth.userId)) ? "onboarding" : "home");
    } catch (error) {
      if (error.status === 401) error.title = "Could not sign in"; // not an expired session here
      feedback.append(errorBox(error));
      submit.disabled = false;
      submit.textContent = copy.action;
    }
  });

  view.append(h("section", { class: "auth" },
    h("div", { class: "auth-hero" },
      h("h1", {}, "Movies that fit ", h("em", {}, "you"), "."),
      h("p", {}, "Pick a few films you love, tell us the vibe, and movierec explains every pick — then keeps learning as you rate and chat.")),
    h("div", { class: "auth-card panel" }, h("h2", {}, copy.title), form)));
  username.focus();
}
