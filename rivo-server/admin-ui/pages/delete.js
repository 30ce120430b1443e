// The delete confirmations: one object (`#/clients/7/delete`) and the rows picked in a change
// list (`#/clients/delete-selected?ids=7,8`).

import { api } from "../api.js";
import { h, humanize, mount } from "../dom.js";
import { plural, refreshCounts, sectionOf } from "../session.js";
import { flash, go, main, notFound, setTitle, showError } from "../shell.js";

/** Rows picked for "delete selected", kept for the confirmation page. */
let pendingBulk = null;

/** Keeps the `rows` of section `name` picked for "delete selected", to name them on the page. */
export function rememberBulk(name, rows) {
  pendingBulk = { name, rows };
}

/** "Are you sure?", then the delete; `submit` is the confirm button's handler. */
function confirmForm(cancelHref, submit) {
  const confirm = h("button", { type: "submit", class: "danger", id: "confirm-delete" }, "Yes, I’m sure");
  const form = h("form", {},
    h("div", { class: "submit-row" }, confirm, h("a", { class: "button cancel", href: cancelHref }, "No, take me back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    try {
      await submit();
    } catch (err) {
      confirm.disabled = false;
      showError(err);
    }
  });
  return form;
}

export async function bulkDeletePage(name, query) {
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
  const form = confirmForm(`#/${name}`, async () => {
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

export async function deletePage(name, id) {
  const section = sectionOf(name);
  if (!section.deletable || !section.abilities.delete) return notFound();
  const item = await api("GET", `${section.api}${encodeURIComponent(id)}/`);
  const label = section.title ? section.title(item) : id;
  const page = `#/${name}/${encodeURIComponent(id)}`;
  setTitle("Are you sure?", [[section.label, `#/${name}`], [label, page]]);
  const form = confirmForm(page, async () => {
    await api("DELETE", `${section.api}${encodeURIComponent(id)}/`);
    await refreshCounts();
    flash(`The ${section.singular} “${label}” was deleted successfully.`);
    go(`#/${name}`);
  });
  mount(main, h("h1", {}, "Are you sure?"),
    h("p", {}, `Are you sure you want to delete the ${section.singular} “${label}”? Related objects go with it.`),
    form);
}
