// The Rivo admin: a single page over the admin API, routed in the URL fragment
// (`#/clients/1`). Every action is an API call a script could make too.

import { ADMIN, ApiError, api, beginNavigation, hasSessionCookie, isAbort, setCsrfToken, withQuery } from "./api.js";
import { formatDate, h, humanize, mount, preview, uid, yesNo } from "./dom.js";
import { SECTIONS } from "./sections.js";
import { erasePage, personalDataPage, privacyCard, privacyHomeLinks } from "./privacy.js";
import { onActivity, stopLive } from "./live.js";

const main = document.getElementById("main");
const crumbs = document.getElementById("breadcrumbs");
const messages = document.getElementById("messages");
const userTools = document.getElementById("user-tools");

/**
 * The logged-in user (`/account/me/`), and from the admin index (`/admin/`): the sections they
 * may see (descriptions, counts, abilities) in menu order, the stages and the page size.
 */
const session = { me: null, sections: new Map(), stages: [], pageSize: 25 };

/** Reads the admin index into `session`. */
function useIndex(index) {
  session.sections = new Map(index.sections.map((s) => [s.name, s]));
  session.stages = index.stages.map((s) => [s.value, s.label]);
  session.pageSize = index.page_size;
}

/**
 * A section as the pages use it: the server's description (labels, route, columns, filters,
 * search, orderings, abilities) with the UI's extras from sections.js (form fields, titles).
 */
function sectionOf(name) {
  const served = session.sections.get(name);
  if (!served) return null;
  const ui = SECTIONS[name] || {};
  const editable = served.create_operation || served.update_operation;
  return {
    ...ui,
    name,
    label: served.label,
    singular: served.singular,
    plural: served.plural,
    api: served.path,
    id: served.id_field,
    search: served.search_fields.length > 0,
    defaultOrdering: served.default_ordering,
    columns: served.columns,
    filters: served.filters,
    detail: served.detail,
    deletable: Boolean(served.delete_operation),
    readable: Boolean(served.read_operation),
    bulkDelete: served.bulk_delete_path,
    fields: editable ? ui.fields : undefined,
    creatable: Boolean(served.create_operation && ui.fields),
    rowLink: served.detail === "row_client" ? (row) => `#/clients/${row.client}` : null,
    abilities: served.permissions,
  };
}

/** A stage's label (`docs_pending` → `Docs Pending`), as the server names it. */
function stageLabel(value) {
  return session.stages.find(([v]) => v === value)?.[1] ?? humanize(value);
}

/** The navigation being rendered: a newer one makes older renders stop (see `render`). */
let navigation = 0;
/** Messages to show on the next page ("The client … was added"). */
let flashes = [];
/** Rows picked for "delete selected", kept for the confirmation page. */
let pendingBulk = null;

// ---------------------------------------------------------------------------------------------
// Routing

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function flash(text, kind = "success") {
  flashes.push({ text, kind });
}

function showFlashes() {
  mount(messages, flashes.map((m) => h("p", { class: `message ${m.kind}` }, m.text)));
  flashes = [];
}

function setTitle(title, trail = []) {
  document.title = `${title} | Rivo administration`;
  const items = [["Home", "#/"], ...(trail || [])];
  mount(crumbs, session.me && trail !== null
    ? h("ol", {}, items.map(([label, href]) => h("li", {}, href ? h("a", { href }, label) : label)), h("li", { "aria-current": "page" }, title))
    : null);
}

function renderUserTools() {
  if (!session.me) {
    mount(userTools);
    return;
  }
  mount(userTools,
    h("span", { class: "welcome" }, "Welcome, ", h("strong", {}, session.me.first_name || session.me.email)),
    h("button", { type: "button", class: "link-button", id: "logout", onclick: logout }, "Log out"));
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
  if (name === "personal_data" && !id) return personalDataPage(privacyUi(), query);
  if (name === "webhooks" && session.me?.is_superuser) return webhooksPage(id, action);
  const section = sectionOf(name);
  if (!section) return notFound();
  if (!id) return changeList(name, query);
  if (id === "add") return formPage(name, null);
  if (id === "delete-selected") return bulkDeletePage(name, query);
  if (action === "delete") return deletePage(name, id);
  if (action && !(section.actions || []).includes(action)) return notFound();
  if (action === "erase") return erasePage(privacyUi(), name, id);
  if (action === "password") return passwordPage(id);
  if (section.detail === "client") return clientPage(id);
  if (section.detail === "transcript") return transcriptPage(id);
  if (!section.readable) return notFound();
  return formPage(name, id);
}

/** The page helpers privacy.js uses (erase, export, personal-data search). */
function privacyUi() {
  return { me: session.me, flash, go, showError, showFieldErrors, fieldRow, setTitle, refreshCounts, notFound };
}

function showError(err) {
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

function notFound() {
  setTitle("Not found");
  mount(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the admin home")));
}

// ---------------------------------------------------------------------------------------------
// Session

async function loadSession() {
  if (!hasSessionCookie()) return false;
  try {
    const me = await api("GET", "/api/v1/account/me/");
    setCsrfToken(me.csrf_token);
    const index = await api("GET", `${ADMIN}/`);
    session.me = me;
    useIndex(index);
    return true;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      session.me = null;
      return false;
    }
    throw err;
  }
}

async function logout() {
  try {
    await api("POST", "/api/v1/account/logout/");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  session.me = null;
  session.sections = new Map();
  setCsrfToken(null);
  flash("You are logged out.", "info");
  go("#/login");
}

function loginPage(query) {
  session.me = null;
  renderUserTools();
  setTitle("Log in");
  const errors = h("div", { class: "form-errors", role: "alert" });
  const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", novalidate: true },
    h("h1", {}, "Log in"),
    errors,
    h("div", { class: "field" }, h("label", { for: "login-email" }, "Email address"), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password),
    h("div", { class: "submit-row" }, h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(errors);
    try {
      const resp = await api("POST", "/api/v1/account/session/", { email: email.value, password: password.value });
      setCsrfToken(resp.csrf_token);
      if (!(await loadSession())) {
        await api("POST", "/api/v1/account/logout/").catch(() => null);
        mount(errors, h("p", {}, "This account cannot use the admin: only active staff users can log in here."));
        return;
      }
      const next = query.get("next");
      go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/");
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const text = err.status === 400 || err.status === 401
        ? "Please enter the correct email address and password for a staff account. Note that the password is case-sensitive."
        : err.message;
      mount(errors, h("p", {}, text));
    }
  });
  mount(main, form);
  email.focus();
}

// ---------------------------------------------------------------------------------------------
// Home

function homePage() {
  setTitle("Site administration", null);
  const rows = [...session.sections.keys()].map((name) => {
    const s = session.sections.get(name);
    const canAdd = s.permissions.add && sectionOf(name).creatable;
    return h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/${name}` }, s.label)),
      h("td", { class: "count", title: s.count_is_estimate ? "An estimate: the table is too large to count on every visit" : null }, s.count_is_estimate ? `about ${s.count.toLocaleString("en")}` : String(s.count)),
      h("td", {}, canAdd ? h("a", { href: `#/${name}/add`, class: "addlink" }, "Add") : null),
      h("td", {}, h("a", { href: `#/${name}`, class: s.permissions.change ? "changelink" : "viewlink" }, s.permissions.change ? "Change" : "View")));
  });
  mount(main,
    h("h1", {}, "Site administration"),
    rows.length
      ? h("table", { class: "module", id: "sections" },
        h("caption", {}, "Rivo"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Section"), h("th", { scope: "col" }, "Count"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Add")), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Open")))),
        h("tbody", {}, rows))
      : h("p", {}, "You don’t have permission to view or edit anything."),
    privacyHomeLinks(session.me),
    session.me?.is_superuser
      ? h("p", {}, h("a", { href: "#/webhooks", id: "webhooks-link" }, "Webhooks"), " — signed HTTP callbacks for new messages and leads (superusers only)")
      : null);
}

// ---------------------------------------------------------------------------------------------
// Names of referenced objects. Lists serve them with their rows (`client_name`,
// `changed_by_repr`, …: Django's `__str__`), so a page costs one request; only roles, for the
// role column and filter, are read once as a list.

class Names {
  constructor() {
    this.roles = new Map();
  }

  /** Reads the role names when `columns` show roles. */
  async load(rows, columns) {
    if (rows.length && columns.some((col) => col.kind === "role")) await this.loadRoles().catch(() => null);
  }

  async loadRoles() {
    if (!session.sections.has("roles") || this.roles.size) return;
    const page = await api("GET", withQuery(`${ADMIN}/roles/`, { page_size: 100, ordering: "name" }));
    for (const role of page.results) this.roles.set(role.id, role.name);
  }

  cell(col, row) {
    const value = row[col.key];
    switch (col.kind) {
      case "bool": return yesNo(value);
      case "date": return formatDate(value);
      case "preview": return preview(value, 50);
      case "stage": return value ? h("span", { class: `stage stage-${value}` }, stageLabel(value)) : "—";
      case "human": return humanize(value);
      case "session": return value ? h("a", { href: `#/chat_sessions/${encodeURIComponent(value)}`, class: "mono" }, value) : "—";
      case "client":
        return value == null ? "—" : h("a", { href: `#/clients/${value}` }, row.client_name ?? `Client #${value}`);
      case "user": return value == null ? "—" : (row[`${col.key}_repr`] ?? `User #${value}`);
      // An assignment's assignee: null means the later original's "awaiting assignment".
      case "assignee": return value == null ? "Awaiting assignment" : (row[`${col.key}_repr`] ?? `User #${value}`);
      case "role": return value == null ? "—" : (this.roles.get(value) ?? `Role #${value}`);
      default: return value === null || value === undefined || value === "" ? "—" : String(value);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Change lists

/** `chat messages`, `clients`: the lower-case plural name of a section's objects. */
function plural(section) {
  return section.plural || section.label.toLowerCase();
}

async function changeList(name, query) {
  const section = sectionOf(name);
  const abilities = section.abilities;
  const params = Object.fromEntries(query.entries());
  const page = Number(params.page || 1);
  const data = await api("GET", withQuery(section.api, { ...params, page_size: session.pageSize }));
  const names = new Names();
  await names.load(data.results, section.columns);
  if (section.filters.some((f) => f.choices_from === "roles")) await names.loadRoles().catch(() => null);

  const title = abilities.change && section.fields ? `Select ${section.singular} to change` : `Select ${section.singular} to view`;
  setTitle(section.label);
  const link = (changes) => {
    const next = { ...params, ...changes };
    for (const key of Object.keys(next)) if (next[key] === null || next[key] === "") delete next[key];
    return withQuery(`#/${name}`, next);
  };

  // Search box
  const searchId = uid("search");
  const search = section.search
    ? h("form", { class: "search", role: "search", id: "changelist-search" },
      h("label", { for: searchId, class: "sr-only" }, `Search ${plural(section)}`),
      h("input", { id: searchId, name: "search", type: "search", value: params.search || "", placeholder: `Search ${plural(section)}` }),
      h("button", { type: "submit" }, "Search"))
    : null;
  search?.addEventListener("submit", (event) => {
    event.preventDefault();
    go(link({ search: event.target.elements.search.value.trim(), page: null }));
  });

  // Filters
  const filters = section.filters.filter((f) => !f.hidden).map((f) => {
    const choices = f.choices_from === "roles"
      ? [...names.roles].map(([id, label]) => [String(id), label])
      : (f.choices || []).map((c) => [c.value, c.label]);
    const current = params[f.key] ?? "";
    const item = (value, label) => h("li", { class: current === value ? "selected" : null },
      h("a", { href: link({ [f.key]: value, page: null }), "aria-current": current === value ? "true" : null }, label));
    return h("section", { class: "filter", "aria-label": `By ${f.label}` },
      h("h3", {}, `By ${f.label.toLowerCase()}`),
      h("ul", {}, item("", "All"), choices.map(([value, label]) => item(value, label))));
  });
  const hiddenActive = section.filters.filter((f) => f.hidden && params[f.key]).map((f) =>
    h("li", {}, `${f.label}: ${params[f.key]} `, h("a", { href: link({ [f.key]: null, page: null }), "aria-label": `Remove filter ${f.label}` }, "✕")));

  // Bulk actions
  const canBulk = section.deletable && abilities.delete;
  const selected = new Set();
  const counter = h("span", { class: "action-counter", "aria-live": "polite" }, `0 of ${data.results.length} selected`);
  const rowBoxes = [];
  const updateCounter = () => { counter.textContent = `${selected.size} of ${data.results.length} selected`; };
  const actionSelect = h("select", { id: "action", name: "action" },
    h("option", { value: "" }, "---------"),
    h("option", { value: "delete_selected" }, `Delete selected ${plural(section)}`));
  const actions = canBulk && data.results.length
    ? h("form", { class: "actions", id: "changelist-actions" },
      h("label", { for: "action" }, "Action: "), actionSelect,
      h("button", { type: "submit", id: "run-action" }, "Go"), counter)
    : null;
  actions?.addEventListener("submit", (event) => {
    event.preventDefault();
    if (actionSelect.value !== "delete_selected") return;
    if (!selected.size) {
      mount(messages, h("p", { class: "message warning" }, "Items must be selected in order to perform actions on them. No items have been changed."));
      return;
    }
    const rows = data.results.filter((r) => selected.has(String(r[section.id])));
    pendingBulk = { name, rows };
    go(withQuery(`#/${name}/delete-selected`, { ids: [...selected].join(",") }));
  });

  // Table
  const ordering = params.ordering || section.defaultOrdering || "";
  const header = section.columns.map((col) => {
    if (!col.sort) return h("th", { scope: "col" }, col.label);
    const asc = ordering === col.sort;
    const desc = ordering === `-${col.sort}`;
    const next = asc ? `-${col.sort}` : col.sort;
    return h("th", { scope: "col", class: "sortable", "aria-sort": asc ? "ascending" : desc ? "descending" : null },
      h("a", { href: link({ ordering: next, page: null }), title: `Sort by ${col.label}` }, col.label, asc || desc ? h("span", { "aria-hidden": "true" }, asc ? " ▲" : " ▼") : null));
  });
  const allBox = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select all on this page" });
  allBox.addEventListener("change", () => {
    for (const box of rowBoxes) {
      box.checked = allBox.checked;
      box.dispatchEvent(new Event("change"));
    }
  });
  const rows = data.results.map((row) => {
    const id = String(row[section.id]);
    const href = section.rowLink ? section.rowLink(row) : `#/${name}/${encodeURIComponent(id)}`;
    const box = h("input", { type: "checkbox", class: "action-select", value: id, "aria-label": `Select ${section.title ? section.title(row) : `${section.singular} ${id}`}` });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(id); else selected.delete(id);
      box.closest("tr").classList.toggle("selected", box.checked);
      updateCounter();
    });
    rowBoxes.push(box);
    const cells = section.columns.map((col, i) => {
      const content = names.cell(col, row);
      const linked = (col.link || (i === 0 && section.rowLink && col.kind !== "client"))
        ? h("a", { href }, content) : content;
      return i === 0 ? h("th", { scope: "row" }, linked) : h("td", { class: `col-${col.key}` }, linked);
    });
    const extra = section.expand && section.expand(row)
      ? h("td", {}, h("details", {}, h("summary", {}, "Changes"), h("pre", {}, JSON.stringify(section.expand(row), null, 2))))
      : section.expand ? h("td", {}) : null;
    return h("tr", {}, canBulk ? h("td", { class: "action-checkbox" }, box) : null, cells, extra);
  });
  const table = data.results.length
    ? h("div", { class: "results" }, h("table", { id: "result_list" },
      h("thead", {}, h("tr", {}, canBulk ? h("th", { scope: "col", class: "action-checkbox" }, allBox) : null, header, section.expand ? h("th", { scope: "col" }, "Details") : null)),
      h("tbody", {}, rows)))
    : h("p", { class: "empty" }, `No ${plural(section)} found.`);

  // Pagination. An estimated count (a list too large to count exactly) shows only the pages
  // the API vouches for: the previous and next ones.
  const estimated = Boolean(data.count_is_estimate);
  const pages = estimated ? page + (data.next ? 1 : 0) : Math.max(1, Math.ceil(data.count / session.pageSize));
  const pageLinks = [];
  for (let p = estimated ? Math.max(1, page - 1) : 1; p <= pages; p += 1) {
    if (pages > 10 && p > 2 && p < pages - 1 && Math.abs(p - page) > 2) {
      if (pageLinks[pageLinks.length - 1] !== "…") pageLinks.push("…");
      continue;
    }
    pageLinks.push(p === page ? h("span", { class: "this-page", "aria-current": "page" }, String(p)) : h("a", { href: link({ page: p === 1 ? null : String(p) }) }, String(p)));
  }
  const paginator = h("nav", { class: "paginator", "aria-label": "Pages" },
    pages > 1 ? pageLinks.map((x) => [x, " "]) : null,
    h("span", { class: "total", id: "result-count" }, estimated
      ? `${Object.keys(params).some((k) => k !== "page" && k !== "ordering") ? "more than" : "about"} ${data.count.toLocaleString("en")} ${plural(section)} (estimate)`
      : `${data.count} ${data.count === 1 ? section.singular : plural(section)}`));

  mount(main,
    h("div", { class: "list-header" },
      h("h1", {}, title),
      abilities.add && section.fields ? h("a", { class: "button addlink", href: `#/${name}/add` }, `Add ${section.singular}`) : null),
    h("div", { class: "changelist" },
      h("div", { class: "changelist-main" },
        search,
        hiddenActive.length ? h("ul", { class: "active-filters" }, hiddenActive) : null,
        actions, table, paginator),
      filters.length ? h("aside", { class: "changelist-filter", "aria-label": "Filter" }, h("h2", {}, "Filter"), filters) : null));
  if (section.live) followList(name);
}

/** Re-reads a chat list when messages arrive (at most once a second; not while rows are picked). */
function followList(name) {
  let timer = null;
  const hash = location.hash;
  onActivity((event) => {
    if (event.type !== "message.created" || timer) return;
    timer = setTimeout(() => {
      timer = null;
      const busy = main.querySelector("#result_list tbody input[type=checkbox]:checked");
      if (location.hash === hash && !busy) render();
    }, 1000);
  });
}

async function bulkDeletePage(name, query) {
  const section = sectionOf(name);
  const ids = (query.get("ids") || "").split(",").filter(Boolean);
  const remembered = pendingBulk && pendingBulk.name === name ? pendingBulk.rows : [];
  const label = (id) => {
    const row = remembered.find((r) => String(r[section.id]) === id);
    if (!row) return `${humanize(section.singular)} ${id}`;
    if (!section.title) return `${humanize(section.singular)} ${id}`;
    const sub = section.subtitle ? section.subtitle(row) : null;
    return `${humanize(section.singular)}: ${section.title(row)}${sub ? ` — ${sub}` : ""}`;
  };
  setTitle("Are you sure?", [[section.label, `#/${name}`]]);
  const confirm = h("button", { type: "submit", class: "danger", id: "confirm-delete" }, "Yes, I’m sure");
  const form = h("form", {},
    h("div", { class: "submit-row" }, confirm, h("a", { class: "button cancel", href: `#/${name}` }, "No, take me back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    try {
      let deleted = 0;
      if (section.bulkDelete) {
        deleted = (await api("POST", section.bulkDelete, { ids: ids.map(Number) })).deleted;
      } else {
        for (const id of ids) {
          await api("DELETE", `${section.api}${encodeURIComponent(id)}/`);
          deleted += 1;
        }
      }
      pendingBulk = null;
      await refreshCounts();
      flash(`Successfully deleted ${deleted} ${deleted === 1 ? section.singular : plural(section)}.`);
      go(`#/${name}`);
    } catch (err) {
      confirm.disabled = false;
      showError(err);
    }
  });
  mount(main,
    h("h1", {}, "Are you sure?"),
    h("p", {}, `Are you sure you want to delete the selected ${plural(section)}? All of the following objects will be deleted:`),
    h("h2", {}, "Summary"),
    h("ul", {}, h("li", {}, `${humanize(section.label)}: ${ids.length}`)),
    h("h2", {}, "Objects"),
    h("ul", { id: "delete-objects" }, ids.map((id) => h("li", {}, label(id)))),
    form);
}

async function refreshCounts() {
  useIndex(await api("GET", `${ADMIN}/`));
}

// ---------------------------------------------------------------------------------------------
// Forms

/** Shows `{field: [messages]}` next to the fields of `form`; the rest at the top. */
function showFieldErrors(form, err) {
  for (const el of form.querySelectorAll(".errorlist")) el.remove();
  for (const el of form.querySelectorAll(".field.errors")) el.classList.remove("errors");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  // Keep the help texts a field is described by; drop the error lists just removed.
  for (const el of form.querySelectorAll("[aria-describedby]")) {
    const kept = el.getAttribute("aria-describedby").split(" ").filter((ref) => ref && document.getElementById(ref));
    if (kept.length) el.setAttribute("aria-describedby", kept.join(" "));
    else el.removeAttribute("aria-describedby");
  }
  const top = form.querySelector(".form-errors");
  if (top) mount(top);
  if (!err) return;
  const fields = err instanceof ApiError ? err.fields : {};
  const unplaced = [];
  for (const [field, list] of Object.entries(fields)) {
    const msgs = Array.isArray(list) ? list : [typeof list === "string" ? list : JSON.stringify(list)];
    const wrapper = form.querySelector(`.field[data-field="${CSS.escape(field)}"]`);
    if (wrapper) {
      wrapper.classList.add("errors");
      const errId = uid("err");
      const input = wrapper.querySelector("input, select, textarea");
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const refs = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        input.setAttribute("aria-describedby", [...refs, errId].join(" "));
      }
      wrapper.append(h("ul", { class: "errorlist", id: errId }, msgs.map((m) => h("li", {}, m))));
    } else {
      unplaced.push(...msgs.map((m) => (field === "non_field_errors" ? m : `${humanize(field)}: ${m}`)));
    }
  }
  if (top) {
    const text = Object.keys(fields).length ? "Please correct the errors below." : err.message;
    mount(top, h("p", { class: "errornote", role: "alert" }, text), unplaced.length ? h("ul", { class: "errorlist" }, unplaced.map((m) => h("li", {}, m))) : null);
  }
  form.querySelector("[aria-invalid]")?.focus();
}

function fieldRow(field, control, help) {
  const helpId = help ? uid("help") : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  const isCheck = control.type === "checkbox";
  return h("div", { class: `field${isCheck ? " checkbox" : ""}`, dataset: { field: field.name } },
    isCheck ? [control, h("label", { for: control.id }, field.label)]
      : control.tagName === "FIELDSET" ? control // labelled by its legend
        : [h("label", { for: control.id, class: field.required ? "required" : null }, field.label), control],
    help ? h("p", { class: "help", id: helpId }, help) : null);
}

async function buildControl(field, value) {
  const id = `id_${field.name}`;
  switch (field.type) {
    case "checkbox":
      return h("input", { id, name: field.name, type: "checkbox", checked: Boolean(value) });
    case "textarea":
      return h("textarea", { id, name: field.name, rows: 3, value: value ?? "" });
    case "select":
      return h("select", { id, name: field.name },
        (field.choices === "stages" ? session.stages : field.choices)
          .map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
    case "role": {
      const names = new Names();
      await names.loadRoles().catch(() => null);
      return h("select", { id, name: field.name },
        h("option", { value: "" }, "---------"),
        [...names.roles].map(([rid, label]) => h("option", { value: String(rid), selected: rid === value }, label)),
        value != null && !names.roles.has(value) ? h("option", { value: String(value), selected: true }, `Role #${value}`) : null);
    }
    case "permissions": {
      const perms = await api("GET", `${ADMIN}/permissions/`);
      const held = new Set(value || []);
      const groups = new Map();
      for (const p of perms) {
        const key = `${p.app_label} | ${p.model}`;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(p);
      }
      return h("fieldset", { id, class: "permissions", "data-type": "permissions" },
        h("legend", {}, field.label),
        [...groups].map(([group, list]) => h("div", { class: "perm-group" },
          h("span", { class: "perm-model" }, group),
          list.map((p) => {
            const boxId = `perm-${p.codename.replace(/[^a-z0-9_]/gi, "-")}`;
            return h("span", { class: "perm" },
              h("input", { type: "checkbox", id: boxId, name: "permissions", value: p.codename, checked: held.has(p.codename) }),
              h("label", { for: boxId }, p.action, h("span", { class: "sr-only" }, ` ${p.model}`)));
          }))));
    }
    default:
      return h("input", { id, name: field.name, type: field.type || "text", value: value ?? "", required: field.required || null, autocomplete: field.autocomplete || null });
  }
}

function readForm(form, fields, adding) {
  const body = {};
  for (const field of fields) {
    if (field.addOnly && !adding) continue;
    if (field.type === "permissions") {
      body.permissions = [...form.querySelectorAll('input[name="permissions"]:checked')].map((el) => el.value);
      continue;
    }
    const el = form.elements[field.name];
    if (!el) continue;
    if (field.type === "checkbox") body[field.name] = el.checked;
    else if (field.type === "role") body[field.name] = el.value ? Number(el.value) : null;
    else if (field.type === "password" && !el.value) continue;
    else body[field.name] = el.value;
  }
  return body;
}

function readonlyBlock(item, keys) {
  if (!item || !keys?.length) return null;
  return h("dl", { class: "readonly" }, keys.map((key) => [
    h("dt", {}, humanize(key)),
    h("dd", { dataset: { field: key } }, key.endsWith("_at") || key === "date_joined" || key === "last_login" ? formatDate(item[key]) : String(item[key] ?? "—")),
  ]));
}

async function formPage(name, id) {
  const section = sectionOf(name);
  const abilities = section.abilities;
  const adding = id === null;
  if (adding && !(abilities.add && section.creatable)) return notFound();
  const item = adding ? null : await api("GET", `${section.api}${encodeURIComponent(id)}/`);
  const editable = Boolean(section.fields) && (adding || abilities.change);
  const itemTitle = item && section.title ? section.title(item) : `${humanize(section.singular)} ${id}`;
  const title = adding ? `Add ${section.singular}` : editable ? `Change ${section.singular}` : `View ${section.singular}`;
  setTitle(adding ? title : itemTitle, [[section.label, `#/${name}`]]);

  const deleteLink = !adding && section.deletable && abilities.delete
    ? h("a", { class: "button deletelink", href: `#/${name}/${encodeURIComponent(id)}/delete` }, "Delete") : null;

  if (!editable) {
    mount(main, h("h1", {}, title), h("h2", { class: "subtitle" }, itemTitle),
      readonlyBlock(item, section.readonly || Object.keys(item)),
      section.extraLinks ? section.extraLinks(id, item, abilities).map((l) => h("p", {}, h("a", { href: l.href, id: l.id || null }, l.label))) : null,
      h("div", { class: "submit-row" }, deleteLink));
    return;
  }

  const fields = section.fields.filter((f) => adding || !f.addOnly);
  const controls = [];
  for (const field of fields) {
    const value = adding ? field.initial : item[field.name];
    controls.push(fieldRow(field, await buildControl(field, value), field.help));
  }
  const save = h("button", { type: "submit", class: "primary", name: "_save" }, "Save");
  const form = h("form", { class: "change-form", id: `${name}-form`, novalidate: true },
    h("div", { class: "form-errors" }),
    h("fieldset", { class: "module" }, controls),
    !adding ? readonlyBlock(item, section.readonly) : null,
    h("div", { class: "submit-row" }, save,
      section.extraLinks && !adding ? section.extraLinks(id, item, abilities).map((l) => h("a", { class: "button", href: l.href, id: l.id || null }, l.label)) : null,
      deleteLink));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      const body = readForm(form, fields, adding);
      const saved = adding
        ? await api("POST", section.api, body)
        : await api("PATCH", `${section.api}${encodeURIComponent(id)}/`, body);
      await refreshCounts();
      const label = section.title ? section.title(saved) : saved[section.id];
      flash(`The ${section.singular} “${label}” was ${adding ? "added" : "changed"} successfully.`);
      go(section.detail === "client" ? `#/${name}/${saved[section.id]}` : `#/${name}`);
    } catch (err) {
      save.disabled = false;
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      showFieldErrors(form, err);
    }
  });
  mount(main, h("h1", {}, title), item ? h("h2", { class: "subtitle" }, itemTitle) : null, form);
  form.querySelector("input:not([type=checkbox]), select, textarea")?.focus();
}

async function deletePage(name, id) {
  const section = sectionOf(name);
  if (!section.deletable || !section.abilities.delete) return notFound();
  const item = await api("GET", `${section.api}${encodeURIComponent(id)}/`);
  const label = section.title ? section.title(item) : id;
  setTitle("Are you sure?", [[section.label, `#/${name}`], [label, `#/${name}/${encodeURIComponent(id)}`]]);
  const confirm = h("button", { type: "submit", class: "danger", id: "confirm-delete" }, "Yes, I’m sure");
  const form = h("form", {}, h("div", { class: "submit-row" }, confirm,
    h("a", { class: "button cancel", href: `#/${name}/${encodeURIComponent(id)}` }, "No, take me back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    try {
      await api("DELETE", `${section.api}${encodeURIComponent(id)}/`);
      await refreshCounts();
      flash(`The ${section.singular} “${label}” was deleted successfully.`);
      go(`#/${name}`);
    } catch (err) {
      confirm.disabled = false;
      showError(err);
    }
  });
  mount(main, h("h1", {}, "Are you sure?"),
    h("p", {}, `Are you sure you want to delete the ${section.singular} “${label}”? Related objects go with it.`),
    form);
}

async function passwordPage(id) {
  const users = sectionOf("users");
  if (!users.abilities.change) return notFound();
  const user = await api("GET", `${users.api}${encodeURIComponent(id)}/`);
  setTitle("Change password", [[users.label, "#/users"], [user.email, `#/users/${id}`]]);
  const p1 = h("input", { id: "id_password", name: "password", type: "password", autocomplete: "new-password", required: true });
  const p2 = h("input", { id: "id_password2", name: "password2", type: "password", autocomplete: "new-password", required: true });
  const form = h("form", { class: "change-form", id: "password-form", novalidate: true },
    h("div", { class: "form-errors" }),
    h("fieldset", { class: "module" },
      fieldRow({ name: "password", label: "Password", required: true }, p1),
      fieldRow({ name: "password2", label: "Password (again)", required: true }, p2, "Enter the same password as before, for verification.")),
    h("div", { class: "submit-row" }, h("button", { type: "submit", class: "primary" }, "Change password")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (p1.value !== p2.value) {
      showFieldErrors(form, new ApiError(400, { password2: ["The two password fields didn’t match."] }));
      return;
    }
    try {
      await api("POST", `${ADMIN}/users/${encodeURIComponent(id)}/password/`, { password: p1.value });
      flash("Password changed successfully.");
      go(`#/users/${id}`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      showFieldErrors(form, err);
    }
  });
  mount(main, h("h1", {}, `Change password: ${user.email}`), form);
  p1.focus();
}

// ---------------------------------------------------------------------------------------------
// Chat transcript

function bubble(m) {
  return h("li", { class: `bubble from-${m.sender_type}`, "data-id": String(m.id) },
    h("div", { class: "meta" }, h("strong", {}, m.sender_type === "bot" ? "Bot" : "Client"), " · ",
      h("time", { datetime: m.sent_at }, formatDate(m.sent_at))),
    h("p", {}, m.message));
}

function transcript(history) {
  if (!history.messages.length) return h("p", { class: "empty transcript-empty" }, "No messages.");
  return h("ol", { class: "transcript", "aria-label": "Conversation" }, history.messages.map(bubble));
}

/** Appends the session's new messages to its transcript as they are stored (once each). */
function followTranscript(sessionId, container, onCount) {
  const seen = new Set([...container.querySelectorAll(".bubble")].map((b) => b.dataset.id));
  onActivity((event) => {
    const m = event.data;
    if (event.type !== "message.created" || m.session_id !== sessionId || seen.has(String(m.id))) return;
    seen.add(String(m.id));
    let list = container.querySelector("ol.transcript");
    if (!list) {
      container.querySelector(".transcript-empty")?.remove();
      list = h("ol", { class: "transcript", "aria-label": "Conversation" });
      container.append(list);
    }
    list.append(bubble(m));
    onCount?.(seen.size);
  });
}

async function transcriptPage(sessionId) {
  const sessions = sectionOf("chat_sessions");
  const abilities = sessions.abilities;
  const history = await api("GET", `${sessions.api}${encodeURIComponent(sessionId)}/`);
  setTitle(`Session ${sessionId}`, [[sessions.label, "#/chat_sessions"]]);
  const count = h("span", { id: "message-count" }, `${history.messages.length} messages`);
  const live = h("div", { id: "live-transcript" }, transcript(history));
  mount(main,
    h("h1", {}, "Chat session"),
    h("p", { class: "subtitle mono" }, sessionId),
    h("p", {}, count, " · ",
      session.sections.has("chat_messages") ? h("a", { href: withQuery("#/chat_messages", { session_id: sessionId }) }, "Messages in the change list") : null),
    live,
    privacyCard(privacyUi(), "chat_sessions", sessionId),
    abilities.delete ? h("div", { class: "submit-row" }, h("a", { class: "button deletelink", href: `#/chat_sessions/${encodeURIComponent(sessionId)}/delete` }, "Delete this session")) : null);
  // Messages stored since the history was read (each shown once, however they arrive).
  followTranscript(sessionId, live, (n) => { count.textContent = `${n} messages`; });
}

// ---------------------------------------------------------------------------------------------
// AI summary card: the stored summary's fields, the job's status (and last error), and a
// "Summarise" button that queues a new summary (the worker makes it off the request path).
const SUMMARY_FIELDS = [
  ["summary", "Summary"], ["intent", "Intent"], ["sentiment", "Sentiment"], ["urgency", "Urgency"],
  ["preferences", "Preferences"], ["loan_details", "Loan details"], ["financial_info", "Financial info"],
];

function summaryValue(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.length ? value.map(summaryValue).join(", ") : "—";
  if (typeof value === "object") {
    const parts = Object.entries(value).filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => `${humanize(k)}: ${summaryValue(v)}`);
    return parts.length ? parts.join("; ") : "—";
  }
  return String(value);
}

async function summaryCard(id, canRequest) {
  let status;
  try {
    status = await api("GET", `${ADMIN}/clients/${id}/summary/`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    return h("section", { class: "card", id: "client-summary" }, h("h2", {}, "AI summary"),
      h("p", { class: "empty" }, err.message));
  }
  const summary = status.summary && typeof status.summary === "object" ? status.summary : null;
  const rows = summary
    ? h("dl", { class: "summary-fields" }, ...SUMMARY_FIELDS.filter(([key]) => key in summary).flatMap(([key, label]) =>
      [h("dt", {}, label), h("dd", { id: `summary-${key}` }, summaryValue(summary[key]))]))
    : h("p", { class: "empty" }, "No summary yet.");
  const meta = summary ? h("p", { class: "help" }, `By ${summary.model ?? "?"}, ${formatDate(summary.generated_at)}.`) : null;
  const state = h("p", { id: "summary-status", class: status.status === "failed" ? "errornote" : "help" },
    `Status: ${status.status ?? "never asked"}. ${status.detail}`,
    status.last_error ? h("span", { class: "mono", id: "summary-error" }, ` Last error: ${status.last_error}`) : null);
  const button = canRequest
    ? h("button", { type: "button", class: "primary", id: "request-summary", disabled: !status.enabled || null }, "Summarise")
    : null;
  button?.addEventListener("click", async () => {
    try {
      await api("POST", `${ADMIN}/clients/${id}/summary/`);
      flash("Summary queued: it appears here when the model has answered.");
      render();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      flash(err.message, "error");
    }
  });
  return h("section", { class: "card", id: "client-summary" }, h("h2", {}, "AI summary"), rows, meta, state,
    button ? h("div", { class: "submit-row" }, button) : null);
}

// Client page: details, context, stage, history, assignment, transcript

async function clientPage(id) {
  const perms = (name) => session.sections.get(name)?.permissions || {};
  const clients = sectionOf("clients");
  const client = await api("GET", `${clients.api}${encodeURIComponent(id)}/`);
  setTitle(client.name, [[clients.label, "#/clients"]]);
  const cards = [];

  // Details form (the generic change form, inline)
  const canChange = perms("clients").change;
  const fields = sectionOf("clients").fields.filter((f) => !f.addOnly);
  const detailControls = [];
  for (const field of fields) {
    const control = await buildControl(field, client[field.name]);
    if (!canChange) control.disabled = true;
    detailControls.push(fieldRow(field, control));
  }
  const detailSave = canChange ? h("button", { type: "submit", class: "primary" }, "Save") : null;
  const details = h("form", { class: "change-form", id: "clients-form", novalidate: true },
    h("div", { class: "form-errors" }),
    h("fieldset", { class: "module" }, h("legend", {}, "Details"), detailControls),
    readonlyBlock(client, ["created_at", "updated_at"]),
    h("div", { class: "submit-row" }, detailSave,
      perms("clients").delete ? h("a", { class: "button deletelink", href: `#/clients/${id}/delete` }, "Delete") : null));
  details.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await api("PATCH", `${ADMIN}/clients/${id}/`, readForm(details, fields, false));
      flash(`The client “${saved.name}” was changed successfully.`);
      render();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      showFieldErrors(details, err);
    }
  });
  cards.push(h("section", { class: "card", id: "client-details" }, details));

  // Stage
  const stageSelect = h("select", { id: "id_to_stage", name: "to_stage" },
    session.stages.map(([value, label]) => h("option", { value, selected: value === client.current_stage }, label)));
  const remarks = h("input", { id: "id_stage_remarks", name: "remarks", type: "text" });
  const stageForm = h("form", { id: "stage-form", novalidate: true },
    h("div", { class: "form-errors" }),
    h("div", { class: "inline-fields" },
      fieldRow({ name: "to_stage", label: "Move to stage" }, stageSelect),
      fieldRow({ name: "remarks", label: "Remarks" }, remarks),
      h("button", { type: "submit", class: "primary", id: "move-stage" }, "Move to stage")));
  stageForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await api("POST", `${ADMIN}/clients/${id}/stage/`, { to_stage: stageSelect.value, remarks: remarks.value });
      flash(result.changed ? `Moved to ${stageLabel(result.client.current_stage)}.` : "The client is already at that stage.", result.changed ? "success" : "info");
      render();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      showFieldErrors(stageForm, err);
    }
  });
  const names = new Names();
  let history = null;
  if (session.sections.has("stage_history")) {
    history = await api("GET", withQuery(`${ADMIN}/clients/${id}/stage-history/`, { ordering: "-created_at", page_size: 100 }));
  }
  let assignments = null;
  if (session.sections.has("assignments")) {
    assignments = await api("GET", withQuery(`${ADMIN}/clients/${id}/assignments/`, { ordering: "-created_at", page_size: 100 }));
  }

  cards.push(h("section", { class: "card", id: "client-stage" },
    h("h2", {}, "Stage: ", h("span", { class: `stage stage-${client.current_stage}`, id: "current-stage" }, stageLabel(client.current_stage))),
    canChange ? stageForm : null,
    history ? [
      h("h3", {}, sectionOf("stage_history").label),
      history.results.length
        ? h("div", { class: "results" }, h("table", { id: "stage-history" },
          h("thead", {}, h("tr", {}, ["When", "From", "To", "Changed by", "Remarks"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, history.results.map((row) => h("tr", {},
            h("td", { class: "nowrap" }, formatDate(row.created_at)),
            h("td", {}, names.cell({ key: "from_stage", kind: "stage" }, row)),
            h("td", {}, names.cell({ key: "to_stage", kind: "stage" }, row)),
            h("td", {}, names.cell({ key: "changed_by", kind: "user" }, row)),
            h("td", {}, row.remarks || "—"))))))
        : h("p", { class: "empty" }, "No stage changes yet."),
    ] : null));

  // Assignment
  if (assignments) {
    const active = assignments.results.find((a) => a.is_active);
    let staff = [];
    if (session.sections.has("users")) {
      staff = (await api("GET", withQuery(`${ADMIN}/users/`, { is_staff: "true", is_active: "true", page_size: 100, ordering: "email" }))).results;
    }
    const picker = staff.length
      ? h("select", { id: "id_assigned_to", name: "assigned_to" },
        h("option", { value: "" }, "---------"),
        staff.map((u) => h("option", { value: String(u.id) }, u.first_name || u.last_name ? `${u.email} (${[u.first_name, u.last_name].filter(Boolean).join(" ")})` : u.email)))
      : h("input", { id: "id_assigned_to", name: "assigned_to", type: "number", min: 1 });
    const assignRemarks = h("input", { id: "id_assign_remarks", name: "remarks", type: "text" });
    const assignForm = h("form", { id: "assign-form", novalidate: true },
      h("div", { class: "form-errors" }),
      h("div", { class: "inline-fields" },
        fieldRow({ name: "assigned_to", label: "Assign to" }, picker),
        fieldRow({ name: "remarks", label: "Remarks" }, assignRemarks),
        h("button", { type: "submit", class: "primary", id: "assign" }, active ? "Reassign" : "Assign")));
    assignForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const body = { assigned_to: picker.value ? Number(picker.value) : null, remarks: assignRemarks.value };
        await api("POST", `${ADMIN}/clients/${id}/assign/`, body);
        flash("Assignment saved.");
        render();
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 401) throw err;
        showFieldErrors(assignForm, err);
      }
    });
    const unassign = active && perms("assignments").change
      ? h("button", { type: "button", id: "unassign", onclick: async () => {
        try {
          await api("POST", `${ADMIN}/clients/${id}/unassign/`, {});
          flash("Assignment ended.");
          render();
        } catch (err) {
          showError(err);
        }
      } }, "Unassign")
      : null;
    cards.push(h("section", { class: "card", id: "client-assignment" },
      h("h2", {}, "Assigned to: ", h("span", { id: "current-assignee" }, active ? names.cell({ key: "assigned_to", kind: "assignee" }, active) : "nobody"), " ", unassign),
      perms("assignments").add ? assignForm : null,
      h("h3", {}, "Assignment history"),
      assignments.results.length
        ? h("div", { class: "results" }, h("table", { id: "assignment-history" },
          h("thead", {}, h("tr", {}, ["When", "Assigned to", "By", "Active", "Remarks"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, assignments.results.map((row) => h("tr", {},
            h("td", { class: "nowrap" }, formatDate(row.created_at)),
            h("td", {}, names.cell({ key: "assigned_to", kind: "assignee" }, row)),
            h("td", {}, names.cell({ key: "assigned_by", kind: "user" }, row)),
            h("td", {}, yesNo(row.is_active)),
            h("td", {}, row.remarks || "—"))))))
        : h("p", { class: "empty" }, "Never assigned.")));
  }

  // Context
  let context = null;
  if (session.sections.has("contexts")) {
    try {
      context = await api("GET", `${ADMIN}/clients/${id}/context/`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
    const canEdit = perms("contexts").change;
    const json = h("textarea", { id: "id_context_data", name: "context_data", rows: 8, class: "mono", spellcheck: "false",
      value: JSON.stringify(context?.context_data ?? {}, null, 2), readonly: !canEdit || null });
    const chatId = h("input", { id: "id_chat_session_id", name: "chat_session_id", type: "text", class: "mono", value: context?.chat_session_id ?? "", readonly: !canEdit || null });
    const ctxForm = h("form", { id: "context-form", novalidate: true },
      h("div", { class: "form-errors" }),
      fieldRow({ name: "context_data", label: "Context (JSON object)" }, json, "Free-form data about the lead, e.g. {\"loan_amount\": 5000}."),
      fieldRow({ name: "chat_session_id", label: "Chat session id" }, chatId, "The chatbot session this lead came from (a UUID)."),
      canEdit ? h("div", { class: "submit-row" }, h("button", { type: "submit", class: "primary", id: "save-context" }, "Save context")) : null,
      context ? readonlyBlock(context, ["created_at", "updated_at"]) : null);
    ctxForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      let data;
      try {
        data = JSON.parse(json.value || "{}");
      } catch (parseError) {
        showFieldErrors(ctxForm, new ApiError(400, { context_data: [`Enter valid JSON: ${parseError.message}`] }));
        return;
      }
      if (data === null || typeof data !== "object" || Array.isArray(data)) {
        showFieldErrors(ctxForm, new ApiError(400, { context_data: ["Enter a JSON object, e.g. {\"key\": \"value\"}."] }));
        return;
      }
      try {
        await api("PUT", `${ADMIN}/clients/${id}/context/`, { context_data: data, chat_session_id: chatId.value.trim() || null });
        flash("Context saved.");
        render();
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 401) throw err;
        showFieldErrors(ctxForm, err);
      }
    });
    cards.push(h("section", { class: "card", id: "client-context" }, h("h2", {}, "Context"), ctxForm));
    cards.push(await summaryCard(id, perms("contexts").change));
  }

  // Linked conversation
  if (context?.chat_session_id && session.sections.has("chat_sessions")) {
    let history;
    try {
      history = await api("GET", `${ADMIN}/chat/sessions/${encodeURIComponent(context.chat_session_id)}/`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      history = { session_id: context.chat_session_id, messages: [] };
    }
    cards.push(h("section", { class: "card wide", id: "client-transcript" },
      h("h2", {}, "Conversation ", h("a", { class: "mono small", href: `#/chat_sessions/${encodeURIComponent(context.chat_session_id)}` }, context.chat_session_id)),
      transcript(history)));
  }

  cards.push(privacyCard(privacyUi(), "clients", id));

  mount(main, h("h1", {}, client.name), h("div", { class: "client-grid" }, cards));
}

// ---------------------------------------------------------------------------------------------
// Start

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

// ---------------------------------------------------------------------------------------------
// Webhooks (superusers only): endpoints, their deliveries and re-sends

const EVENT_TYPES = ["message.created", "client.created", "client.stage_changed", "client.assigned"];

function webhookForm(hook, onSaved) {
  const errors = h("div", { class: "form-errors", role: "alert" });
  const url = h("input", { id: "webhook-url", name: "url", type: "url", required: true, value: hook?.url ?? "", maxlength: 2048 });
  const description = h("input", { id: "webhook-description", name: "description", value: hook?.description ?? "", maxlength: 255 });
  const secret = h("input", { id: "webhook-secret", name: "secret", autocomplete: "off", placeholder: hook ? "leave empty to keep" : "leave empty to generate one" });
  const active = h("input", { id: "webhook-active", name: "active", type: "checkbox" });
  active.checked = hook ? hook.active : true;
  const boxes = EVENT_TYPES.map((t) => {
    const box = h("input", { type: "checkbox", name: "events", value: t, id: `webhook-event-${t.replace(".", "-")}` });
    box.checked = hook ? hook.events.includes(t) : t === "message.created";
    return h("label", { class: "inline" }, box, " ", t);
  });
  const save = h("button", { type: "submit", class: "primary", id: "webhook-save" }, hook ? "Save" : "Add endpoint");
  const form = h("form", { class: "change-form", id: "webhook-form", novalidate: true },
    errors,
    h("fieldset", { class: "module" },
      h("legend", {}, hook ? "Change endpoint" : "Add an endpoint"),
      fieldRow({ name: "url", label: "URL" }, url, "http(s); private and loopback addresses are refused unless allowed"),
      h("div", { class: "field", dataset: { field: "events" } }, h("span", { class: "label" }, "Events"), boxes),
      fieldRow({ name: "secret", label: "Secret" }, secret, "the HMAC-SHA256 key; shown once"),
      fieldRow({ name: "description", label: "Description" }, description),
      fieldRow({ name: "active", label: "Active" }, active)),
    h("div", { class: "submit-row" }, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    const body = {
      url: url.value.trim(),
      events: boxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value),
      description: description.value,
      active: active.checked,
    };
    if (secret.value) body.secret = secret.value;
    try {
      const saved = hook
        ? await api("PATCH", `${ADMIN}/webhooks/${hook.id}/`, body)
        : await api("POST", `${ADMIN}/webhooks/`, body);
      onSaved(saved);
    } catch (err) {
      save.disabled = false;
      if (!(err instanceof ApiError) || err.status === 401) throw err;
      showFieldErrors(form, err);
    }
  });
  return form;
}

function secretNotice(saved) {
  if (!saved.secret) return null;
  return h("div", { class: "message warning", id: "webhook-secret-shown", role: "status" },
    "The signing secret of ", h("strong", {}, saved.url), " (shown this once; copy it now): ",
    h("code", { class: "mono", id: "webhook-secret-value" }, saved.secret));
}

async function webhooksPage(id, action) {
  if (id) return webhookPage(id);
  setTitle("Webhooks", []);
  const page = await api("GET", withQuery(`${ADMIN}/webhooks/`, { page_size: 1000 }));
  const notice = h("div", {});
  const rows = page.results.map((w) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: `#/webhooks/${w.id}` }, w.url)),
    h("td", {}, w.events.join(", ")),
    h("td", {}, yesNo(w.active)),
    h("td", {}, w.description || "—"),
    h("td", {}, formatDate(w.created_at))));
  const form = webhookForm(null, (saved) => {
    flash("The webhook endpoint was added. Copy its secret now: it is not shown again.");
    sessionStorage.setItem("rivo-webhook-secret", JSON.stringify({ id: saved.id, url: saved.url, secret: saved.secret }));
    go(`#/webhooks/${saved.id}`);
  });
  mount(main,
    h("h1", {}, "Webhooks"),
    notice,
    h("p", {}, "Each event is POSTed as JSON with a ", h("code", {}, "Rivo-Signature: t=…,v1=…"), " header (HMAC-SHA256 of ", h("code", {}, "{timestamp}.{body}"), "), retried with backoff until the receiver answers 2xx."),
    h("table", { class: "module", id: "webhooks" },
      h("caption", {}, `${page.count} endpoint${page.count === 1 ? "" : "s"}`),
      h("thead", {}, h("tr", {}, ["URL", "Events", "Active", "Description", "Created"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No endpoints yet.")))),
    form);
}

async function webhookPage(id) {
  const hook = await api("GET", `${ADMIN}/webhooks/${encodeURIComponent(id)}/`);
  const deliveries = await api("GET", withQuery(`${ADMIN}/webhooks/${encodeURIComponent(id)}/deliveries/`, { page_size: 50 }));
  setTitle(hook.url, [["Webhooks", "#/webhooks"]]);
  let shown = null;
  try {
    const kept = JSON.parse(sessionStorage.getItem("rivo-webhook-secret") || "null");
    if (kept && String(kept.id) === String(hook.id)) shown = kept;
  } catch { /* nothing kept */ }
  sessionStorage.removeItem("rivo-webhook-secret");
  const rows = deliveries.results.map((d) => {
    const last = d.attempt_log[d.attempt_log.length - 1];
    const resend = h("button", { type: "button", class: "resend", "data-delivery": d.id }, "Re-send");
    resend.addEventListener("click", async () => {
      resend.disabled = true;
      await api("POST", `${ADMIN}/webhooks/deliveries/${d.id}/resend/`);
      flash(`Delivery ${d.id} will be sent again.`, "info");
      render();
    });
    return h("tr", { class: `delivery status-${d.status}` },
      h("td", {}, String(d.id)),
      h("td", {}, d.event_type),
      h("td", { class: "delivery-status" }, d.status),
      h("td", {}, String(d.attempts)),
      h("td", {}, last ? (last.status_code ?? "—") : "—"),
      h("td", {}, last ? `${last.latency_ms} ms` : "—"),
      h("td", { class: "delivery-error" }, last?.error || "—"),
      h("td", {}, d.next_attempt_at ? formatDate(d.next_attempt_at) : "—"),
      h("td", {}, resend));
  });
  const form = webhookForm(hook, (saved) => {
    if (saved.secret) sessionStorage.setItem("rivo-webhook-secret", JSON.stringify({ id: saved.id, url: saved.url, secret: saved.secret }));
    flash("The webhook endpoint was changed.");
    render();
  });
  const remove = h("button", { type: "button", class: "danger", id: "webhook-delete" }, "Delete this endpoint");
  remove.addEventListener("click", async () => {
    if (!window.confirm("Delete this endpoint and its deliveries?")) return;
    await api("DELETE", `${ADMIN}/webhooks/${hook.id}/`);
    flash("The webhook endpoint was deleted.");
    go("#/webhooks");
  });
  mount(main,
    h("h1", {}, "Webhook endpoint"),
    h("h2", { class: "subtitle mono" }, hook.url),
    shown ? secretNotice(shown) : null,
    h("p", {}, `Secret ending in …${hook.secret_hint}`),
    h("table", { class: "module", id: "deliveries" },
      h("caption", {}, `Deliveries (${deliveries.count}), newest first`),
      h("thead", {}, h("tr", {}, ["Id", "Event", "Status", "Attempts", "Last status", "Latency", "Error", "Next attempt", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No deliveries yet.")))),
    form,
    h("div", { class: "submit-row" }, remove));
}
