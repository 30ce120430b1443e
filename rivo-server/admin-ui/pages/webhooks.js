// Webhooks (superusers only): endpoints, their deliveries and re-sends (`#/webhooks`,
// `#/webhooks/3`).

import { ADMIN, api, withQuery } from "../api.js";
import { formatDate, h, mount, yesNo } from "../dom.js";
import { fieldRow, formFailed } from "../forms.js";
import { EVENT_TYPES } from "../live.js";
import { flash, go, main, render, setTitle } from "../shell.js";

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
      formFailed(form, err);
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

/** The endpoints and the form adding one; `id` shows one endpoint. */
export async function webhooksPage(id) {
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

/** One endpoint: its deliveries (with re-send), its form and its delete button. */
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
