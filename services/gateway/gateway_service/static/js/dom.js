// Tiny DOM helpers. Every piece of text goes in as a text node, never as HTML, so titles,
// overviews and chat replies coming from the API cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("div", {class: "x", onclick: fn}, "text", otherNode) → HTMLElement */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

/** Same as h() for SVG elements. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

/** Replace el's children, skipping null/false (native replaceChildren would print "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function debounce(fn, waitMs) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A short status toast; kind is "info" | "success" | "error". */
export function toast(message, kind = "info", timeoutMs = 4500) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status",
                          "data-testid": `toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.classList.add("toast-leaving"), timeoutMs);
  setTimeout(() => item.remove(), timeoutMs + 400);
}

/** A visible error box for a failed API call, with an optional retry button. */
export function errorBox(error, onRetry) {
  const box = h("div", { class: "error-box", role: "alert", "data-testid": "error-box" },
    h("strong", {}, error.title || "Something went wrong"),
    h("p", {}, error.message || String(error)),
    error.fields && error.fields.length
      ? h("ul", { class: "error-fields" }, error.fields.map((f) => h("li", {}, f)))
      : null,
    onRetry ? h("button", { class: "btn btn-small", type: "button", onclick: onRetry }, "Try again") : null);
  return box;
}

export function spinner(label = "Loading…") {
  return h("div", { class: "spinner-row", role: "status" }, h("span", { class: "spinner" }), h("span", {}, label));
}
