// The Rivo admin: a single page over the admin API, routed in the URL fragment
// (`#/clients/1`). Every action is an API call a script could make too. This module routes a
// fragment to its page (pages/*.js) and starts the app.

import { beginNavigation, isAbort, withQuery } from "./api.js";
import { stopLive } from "./live.js";
import { erasePage, personalDataPage } from "./privacy.js";
import { loadSession, sectionOf, session } from "./session.js";
import { go, main, notFound, setRenderer, showError, showFlashes } from "./shell.js";
import { changeList } from "./pages/changelist.js";
import { clientPage } from "./pages/client.js";
import { bulkDeletePage, deletePage } from "./pages/delete.js";
import { formPage } from "./pages/form.js";
import { homePage } from "./pages/home.js";
import { loginPage, renderUserTools } from "./pages/login.js";
import { passwordPage } from "./pages/password.js";
import { transcriptPage } from "./pages/transcript.js";
import { webhooksPage } from "./pages/webhooks.js";

/** The navigation being rendered: a newer one makes older renders stop (see `render`). */
let navigation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

async function render() {
  const { parts, query } = parseHash();
  // A slow earlier page must never overwrite a later one: the previous navigation's pending
  // API reads are aborted, and only the latest render marks the page ready.
  const token = ++navigation;
  beginNavigation();
  main.setAttribute("aria-busy", "true");
  try {
    if (!session.me && parts[0] !== "login") {
      if (!(await loadSession())) {
        const next = location.hash && location.hash !== "#/login" ? location.hash : "";
        go(withQuery("#/login", { next }));
        return;
      }
    }
    renderUserTools();
    showFlashes();
    await route(parts, query);
  } catch (err) {
    if (token !== navigation || isAbort(err)) return;
    showError(err);
  }
  if (token !== navigation) return;
  main.removeAttribute("aria-busy");
  main.dataset.ready = location.hash || "#/";
}

async function route(parts, query) {
  stopLive();
  const [name, id, action] = parts;
  if (name === "login") return loginPage(query);
  if (!name) return homePage();
  if (name === "personal_data" && !id) return personalDataPage(query);
  if (name === "webhooks" && session.me?.is_superuser) return webhooksPage(id);
  const section = sectionOf(name);
  if (!section) return notFound();
  if (!id) return changeList(name, query);
  if (id === "add") return formPage(name, null);
  if (id === "delete-selected") return bulkDeletePage(name, query);
  if (action === "delete") return deletePage(name, id);
  if (action && !(section.actions || []).includes(action)) return notFound();
  if (action === "erase") return erasePage(name, id);
  if (action === "password") return passwordPage(id);
  if (section.detail === "client") return clientPage(id);
  if (section.detail === "transcript") return transcriptPage(id);
  if (!section.readable) return notFound();
  return formPage(name, id);
}

setRenderer(render);
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => {
  render().then(() => {
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  });
});
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  showError(event.reason);
});
render();
