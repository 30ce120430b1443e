// Small DOM helpers: elements are built with properties, never from HTML strings.

/**
 * `h("a", {href: "#/"}, "Home")`: an element with attributes (`class`, `for`, `aria-*`, …),
 * properties (`onclick`, `value`, `checked`, …) and children (strings, nodes, arrays, null).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `2026-11-25T09:00:00Z` → a short local date and time. */
export function formatDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A yes/no icon with text for screen readers. */
export function yesNo(value) {
  return h("span", { class: value ? "yes" : "no", title: value ? "Yes" : "No" },
    h("span", { "aria-hidden": "true" }, value ? "✔" : "✘"), h("span", { class: "sr-only" }, value ? " yes" : " no"));
}

/** The first `n` characters of `text`, with an ellipsis when cut. */
export function preview(text, n = 50) {
  const s = String(text ?? "");
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** `docs_pending` → `Docs pending`. */
export function humanize(value) {
  if (value === null || value === undefined || value === "") return "—";
  const s = String(value).replaceAll("_", " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

let fieldIds = 0;

/** A unique id for label/field pairs. */
export function uid(prefix = "f") {
  fieldIds += 1;
  return `${prefix}-${fieldIds}`;
}
