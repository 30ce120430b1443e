// A client's page (`#/clients/7`): details, stage and its history, assignment and its history,
// context, AI summary, the linked conversation and the personal-data card.

import { ApiError, api, withQuery } from "../api.js";
import { formatDate, h, humanize, mount, yesNo } from "../dom.js";
import { buildControl, fieldRow, formFailed, readForm, readonlyBlock, showFieldErrors } from "../forms.js";
import { Names } from "../names.js";
import { privacyCard } from "../privacy.js";
import { sectionOf, session, stageLabel } from "../session.js";
import { flash, main, render, setTitle, showError } from "../shell.js";
import { transcript } from "./transcript.js";

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

async function summaryCard(base, canRequest) {
  let status;
  try {
    status = await api("GET", `${base}/summary/`);
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
      await api("POST", `${base}/summary/`);
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

/** A form of the client page that POSTs (or PUTs) and shows the page again with a message. */
function onSubmit(form, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      if (await send()) render();
    } catch (err) {
      formFailed(form, err);
    }
  });
}

/** A one-line form of the client page: a field, a remarks field and the button. */
function remarksForm(id, row, remarks, button) {
  return h("form", { id, novalidate: true },
    h("div", { class: "form-errors" }),
    h("div", { class: "inline-fields" }, row, fieldRow({ name: "remarks", label: "Remarks" }, remarks), button));
}

/** A history table (stage changes, assignments): `heads`, then a row of `cells(row)` each. */
function historyTable(id, heads, rows, cells) {
  return h("div", { class: "results" }, h("table", { id },
    h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {},
      h("td", { class: "nowrap" }, formatDate(row.created_at)),
      cells(row).map((cell) => h("td", {}, cell)),
      h("td", {}, row.remarks || "—"))))));
}

/** Reads one page of a client's history list (`path` under the client's route), newest first. */
function readHistory(base, path) {
  return api("GET", withQuery(`${base}/${path}/`, { ordering: "-created_at", page_size: 100 }));
}

export async function clientPage(id) {
  const perms = (name) => session.sections.get(name)?.permissions || {};
  const clients = sectionOf("clients");
  // The client's route; its actions (stage, assign, context, summary) are under it.
  const base = `${clients.api}${encodeURIComponent(id)}`;
  const client = await api("GET", `${base}/`);
  setTitle(client.name, [[clients.label, "#/clients"]]);
  const cards = [];

  // Details form (the generic change form, inline)
  const canChange = perms("clients").change;
  const fields = clients.fields.filter((f) => !f.addOnly);
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
  onSubmit(details, async () => {
    const saved = await api("PATCH", `${base}/`, readForm(details, fields, false));
    flash(`The client “${saved.name}” was changed successfully.`);
    return true;
  });
  cards.push(h("section", { class: "card", id: "client-details" }, details));

  // Stage
  const stageSelect = h("select", { id: "id_to_stage", name: "to_stage" },
    session.stages.map(([value, label]) => h("option", { value, selected: value === client.current_stage }, label)));
  const remarks = h("input", { id: "id_stage_remarks", name: "remarks", type: "text" });
  const stageForm = remarksForm("stage-form", fieldRow({ name: "to_stage", label: "Move to stage" }, stageSelect), remarks,
    h("button", { type: "submit", class: "primary", id: "move-stage" }, "Move to stage"));
  onSubmit(stageForm, async () => {
    const result = await api("POST", `${base}/stage/`, { to_stage: stageSelect.value, remarks: remarks.value });
    flash(result.changed ? `Moved to ${stageLabel(result.client.current_stage)}.` : "The client is already at that stage.", result.changed ? "success" : "info");
    return true;
  });
  const names = new Names();
  const history = session.sections.has("stage_history") ? await readHistory(base, "stage-history") : null;
  const assignments = session.sections.has("assignments") ? await readHistory(base, "assignments") : null;

  cards.push(h("section", { class: "card", id: "client-stage" },
    h("h2", {}, "Stage: ", h("span", { class: `stage stage-${client.current_stage}`, id: "current-stage" }, stageLabel(client.current_stage))),
    canChange ? stageForm : null,
    history ? [
      h("h3", {}, sectionOf("stage_history").label),
      history.results.length
        ? historyTable("stage-history", ["When", "From", "To", "Changed by", "Remarks"], history.results, (row) => [
          names.cell({ key: "from_stage", kind: "stage" }, row),
          names.cell({ key: "to_stage", kind: "stage" }, row),
          names.cell({ key: "changed_by", kind: "user" }, row)])
        : h("p", { class: "empty" }, "No stage changes yet."),
    ] : null));

  // Assignment
  if (assignments) {
    const active = assignments.results.find((a) => a.is_active);
    let staff = [];
    if (session.sections.has("users")) {
      staff = (await api("GET", withQuery(sectionOf("users").api, { is_staff: "true", is_active: "true", page_size: 100, ordering: "email" }))).results;
    }
    const picker = staff.length
      ? h("select", { id: "id_assigned_to", name: "assigned_to" },
        h("option", { value: "" }, "---------"),
        staff.map((u) => h("option", { value: String(u.id) }, u.first_name || u.last_name ? `${u.email} (${[u.first_name, u.last_name].filter(Boolean).join(" ")})` : u.email)))
      : h("input", { id: "id_assigned_to", name: "assigned_to", type: "number", min: 1 });
    const assignRemarks = h("input", { id: "id_assign_remarks", name: "remarks", type: "text" });
    const assignForm = remarksForm("assign-form", fieldRow({ name: "assigned_to", label: "Assign to" }, picker), assignRemarks,
      h("button", { type: "submit", class: "primary", id: "assign" }, active ? "Reassign" : "Assign"));
    onSubmit(assignForm, async () => {
      const body = { assigned_to: picker.value ? Number(picker.value) : null, remarks: assignRemarks.value };
      await api("POST", `${base}/assign/`, body);
      flash("Assignment saved.");
      return true;
    });
    const unassign = active && perms("assignments").change
      ? h("button", { type: "button", id: "unassign", onclick: async () => {
        try {
          await api("POST", `${base}/unassign/`, {});
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
        ? historyTable("assignment-history", ["When", "Assigned to", "By", "Active", "Remarks"], assignments.results, (row) => [
          names.cell({ key: "assigned_to", kind: "assignee" }, row),
          names.cell({ key: "assigned_by", kind: "user" }, row),
          yesNo(row.is_active)])
        : h("p", { class: "empty" }, "Never assigned.")));
  }

  // Context
  let context = null;
  if (session.sections.has("contexts")) {
    try {
      context = await api("GET", `${base}/context/`);
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
    onSubmit(ctxForm, async () => {
      let data;
      try {
        data = JSON.parse(json.value || "{}");
      } catch (parseError) {
        showFieldErrors(ctxForm, new ApiError(400, { context_data: [`Enter valid JSON: ${parseError.message}`] }));
        return false;
      }
      if (data === null || typeof data !== "object" || Array.isArray(data)) {
        showFieldErrors(ctxForm, new ApiError(400, { context_data: ["Enter a JSON object, e.g. {\"key\": \"value\"}."] }));
        return false;
      }
      await api("PUT", `${base}/context/`, { context_data: data, chat_session_id: chatId.value.trim() || null });
      flash("Context saved.");
      return true;
    });
    cards.push(h("section", { class: "card", id: "client-context" }, h("h2", {}, "Context"), ctxForm));
    cards.push(await summaryCard(base, perms("contexts").change));
  }

  // Linked conversation
  if (context?.chat_session_id && session.sections.has("chat_sessions")) {
    let linked;
    try {
      linked = await api("GET", `${sectionOf("chat_sessions").api}${encodeURIComponent(context.chat_session_id)}/`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      linked = { session_id: context.chat_session_id, messages: [] };
    }
    cards.push(h("section", { class: "card wide", id: "client-transcript" },
      h("h2", {}, "Conversation ", h("a", { class: "mono small", href: `#/chat_sessions/${encodeURIComponent(context.chat_session_id)}` }, context.chat_session_id)),
      transcript(linked)));
  }

  cards.push(privacyCard("clients", id));

  mount(main, h("h1", {}, client.name), h("div", { class: "client-grid" }, cards));
}
