// The page around every page: the main area, breadcrumbs and title, the message banner,
// navigation (`go`, `render`) and the error and not-found pages.

import { ApiError, isAbort } from "./api.js";
import { h, mount } from "./dom.js";
import { session } from "./session.js";

/** Where pages mount. */
export const main = document.getElementById("main");
const crumbs = document.getElementById("breadcrumbs");
const messages = document.getElementById("messages");

/** Messages to show on the next page ("The client … was added"). */
let flashes = [];

/** Renders the page of the current URL fragment (set by main.js: `setRenderer`). */
let renderer = async () => {};

/** Makes `render` draw pages with `fn` (the router's). */
export function setRenderer(fn) {
  renderer = fn;
}

/** Draws the page of the current URL fragment again. */
export function render() {
  return renderer();
}

/** Goes to `hash`, or draws it again when already there. */
export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Shows `text` on the next page drawn. */
export function flash(text, kind = "success") {
  flashes.push({ text, kind });
}

/** Shows the messages kept for this page. */
export function showFlashes() {
  mount(messages, flashes.map((m) => h("p", { class: `message ${m.kind}` }, m.text)));
  flashes = [];
}

/** Shows a warning in the message banner at once. */
export function warn(text) {
  mount(messages, h("p", { class: "message warning" }, text));
}

/** The document title and the breadcrumbs (`trail`: `[label, href]` pairs; `null` for none). */
export function setTitle(title, trail = []) {
  document.title = `${title} | Rivo administration`;
  const items = [["Home", "#/"], ...(trail || [])];
  mount(crumbs, session.me && trail !== null
    ? h("ol", {}, items.map(([label, href]) => h("li", {}, href ? h("a", { href }, label) : label)), h("li", { "aria-current": "page" }, title))
    : null);
}

/** Shows what went wrong in the message banner; an ended session goes to the login page. */
export function showError(err) {
  if (isAbort(err)) return;
  if (err instanceof ApiError && err.status === 401) {
    session.me = null;
    flash("Your session has ended. Please log in again.", "warning");
    go("#/login");
    return;
  }
  let text = err instanceof ApiError ? err.message : "Something went wrong. Reload the page and try again.";
  if (err instanceof ApiError && err.status === 403) text = "You do not have permission to do that.";
  if (err instanceof ApiError && err.status === 404) text = "That object does not exist (it may have been deleted).";
  // `messages` is the polite live region already: no `role=alert` inside it.
  mount(messages, h("p", { class: "message error" }, text));
  if (!(err instanceof ApiError)) console.warn(err);
}

/** The page for a URL that names nothing. */
export function notFound() {
  setTitle("Not found");
  mount(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the admin home")));
}
