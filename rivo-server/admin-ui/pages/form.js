// An object's page (`#/users/7`) and the add page (`#/users/add`): the change form of the fields
// sections.js describes, or a read-only view when the user may not change it.

import { api } from "../api.js";
import { h, humanize, mount } from "../dom.js";
import { buildControl, fieldRow, formFailed, readForm, readonlyBlock } from "../forms.js";
import { refreshCounts, sectionOf } from "../session.js";
import { flash, go, main, notFound, setTitle } from "../shell.js";

/** `id` `null` adds an object. */
export async function formPage(name, id) {
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
      formFailed(form, err);
    }
  });
  mount(main, h("h1", {}, title), item ? h("h2", { class: "subtitle" }, itemTitle) : null, form);
  form.querySelector("input:not([type=checkbox]), select, textarea")?.focus();
}
