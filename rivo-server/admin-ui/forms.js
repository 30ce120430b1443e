// Form building blocks shared by the pages: a labelled field row, the widget of a described
// field, reading a form back into an API body, a read-only block, and showing the API's
// per-field errors next to their fields.

import { ADMIN, ApiError, api } from "./api.js";
import { formatDate, h, humanize, mount, uid } from "./dom.js";
import { Names } from "./names.js";
import { session } from "./session.js";

/** Shows `{field: [messages]}` next to the fields of `form`; the rest at the top. */
export function showFieldErrors(form, err) {
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

/**
 * Shows the API's field errors of a failed save in `form`; anything but a 4xx answer (an ended
 * session, a bug) goes on to the page's error handler.
 */
export function formFailed(form, err) {
  if (!(err instanceof ApiError) || err.status === 401) throw err;
  showFieldErrors(form, err);
}

/** A field's row: its label, the control and an optional help text it is described by. */
export function fieldRow(field, control, help) {
  const helpId = help ? uid("help") : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  const isCheck = control.type === "checkbox";
  return h("div", { class: `field${isCheck ? " checkbox" : ""}`, dataset: { field: field.name } },
    isCheck ? [control, h("label", { for: control.id }, field.label)]
      : control.tagName === "FIELDSET" ? control // labelled by its legend
        : [h("label", { for: control.id, class: field.required ? "required" : null }, field.label), control],
    help ? h("p", { class: "help", id: helpId }, help) : null);
}

/** The widget of a field described in sections.js, holding `value`. */
export async function buildControl(field, value) {
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

/** The API body of `form` for the described `fields` (add-only fields only when `adding`). */
export function readForm(form, fields, adding) {
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

/** The `keys` of `item` as a read-only definition list (dates formatted). */
export function readonlyBlock(item, keys) {
  if (!item || !keys?.length) return null;
  return h("dl", { class: "readonly" }, keys.map((key) => [
    h("dt", {}, humanize(key)),
    h("dd", { dataset: { field: key } }, key.endsWith("_at") || key === "date_joined" || key === "last_login" ? formatDate(item[key]) : String(item[key] ?? "—")),
  ]));
}
