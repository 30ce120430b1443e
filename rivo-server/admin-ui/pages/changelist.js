// A section's change list (`#/clients?search=…&current_stage=lead&page=2`): search, filters,
// sortable columns, pagination and the "delete selected" action, all from the section's
// description in the admin index.

import { api, withQuery } from "../api.js";
import { h, mount, uid } from "../dom.js";
import { onActivity } from "../live.js";
import { Names } from "../names.js";
import { plural, sectionOf, session } from "../session.js";
import { go, main, render, setTitle, warn } from "../shell.js";
import { rememberBulk } from "./delete.js";

export async function changeList(name, query) {
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
      warn("Items must be selected in order to perform actions on them. No items have been changed.");
      return;
    }
    rememberBulk(name, data.results.filter((r) => selected.has(String(r[section.id]))));
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

  mount(main,
    h("div", { class: "list-header" },
      h("h1", {}, title),
      abilities.add && section.fields ? h("a", { class: "button addlink", href: `#/${name}/add` }, `Add ${section.singular}`) : null),
    h("div", { class: "changelist" },
      h("div", { class: "changelist-main" },
        search,
        hiddenActive.length ? h("ul", { class: "active-filters" }, hiddenActive) : null,
        actions, table, paginator(section, data, params, page, link)),
      filters.length ? h("aside", { class: "changelist-filter", "aria-label": "Filter" }, h("h2", {}, "Filter"), filters) : null));
  if (section.live) followList(name);
}

/**
 * The page links and the total. An estimated count (a list too large to count exactly) shows
 * only the pages the API vouches for: the previous and next ones.
 */
function paginator(section, data, params, page, link) {
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
  return h("nav", { class: "paginator", "aria-label": "Pages" },
    pages > 1 ? pageLinks.map((x) => [x, " "]) : null,
    h("span", { class: "total", id: "result-count" }, estimated
      ? `${Object.keys(params).some((k) => k !== "page" && k !== "ordering") ? "more than" : "about"} ${data.count.toLocaleString("en")} ${plural(section)} (estimate)`
      : `${data.count} ${data.count === 1 ? section.singular : plural(section)}`));
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
