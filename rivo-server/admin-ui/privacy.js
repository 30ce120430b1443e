// Erasure and export of one person's data, over the admin privacy API: the "Personal data" card
// of the client and chat session pages, the erase confirmation pages (`#/clients/1/erase`,
// `#/chat_sessions/<uuid>/erase`) and the search for unlinked conversations by email or phone
// (`#/personal_data`). Everything is shown only to users holding the permissions the API asks.

import { ADMIN, ApiError, api, withQuery } from "./api.js";
import { formatDate, h, mount } from "./dom.js";
import { fieldRow, showFieldErrors } from "./forms.js";
import { refreshCounts, sectionOf, session } from "./session.js";
import { flash, go, main, notFound, setTitle, showError } from "./shell.js";

/** The permissions (codenames, as `/account/me/` lists them) each privacy action needs. */
const NEEDS = {
  exportClient: ["client.view_client", "chat.view_chathistory"],
  eraseClient: ["client.erase_client"],
  exportSession: ["chat.view_chathistory"],
  eraseSession: ["chat.erase_chathistory"],
  findPersonalData: ["chat.view_chathistory"],
};

/** Whether the logged-in user may do `action` (a key of `NEEDS`). */
export function may(me, action) {
  const held = new Set(me?.permissions || []);
  return NEEDS[action].every((p) => held.has(p));
}

/**
 * One kind of object that can be exported and erased: its section (whose served `path` is its
 * API route: see `route`) and UI pages, its download file names, and the actions of `NEEDS`.
 */
function kindOf(section, filePrefix, canExport, canErase) {
  return {
    file: (id) => `${filePrefix}-${id}`,
    canExport,
    canErase,
    list: `#/${section}`,
    page: (id) => `#/${section}/${encodeURIComponent(id)}`,
  };
}

/** The two kinds of object that can be exported and erased, by section name. */
const KINDS = {
  clients: kindOf("clients", "client", "exportClient", "eraseClient"),
  chat_sessions: kindOf("chat_sessions", "session", "exportSession", "eraseSession"),
};

/** The API route of one object of `kind`: its section's served `path` and the id. */
function route(kind, id) {
  return `${sectionOf(kind).api}${encodeURIComponent(id)}`;
}

/** The file name of a `Content-Disposition: attachment; filename="…"` header, if any. */
function dispositionName(header) {
  const match = /filename="([^"]+)"/.exec(header || "");
  return match ? match[1] : null;
}

/** Saves `blob` as a download called `name` (through a temporary object URL). */
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** GETs `path` with the session cookie and saves the answer as `name`; rejects with `ApiError`. */
async function download(path, name, json) {
  const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: json ? "application/json" : "*/*" } });
  if (!resp.ok) {
    const text = await resp.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { detail: text };
    }
    throw new ApiError(resp.status, body);
  }
  if (json) {
    // Re-indented, so the file reads well; the content is the API's answer unchanged.
    const data = await resp.json();
    saveBlob(new Blob([`${JSON.stringify(data, null, 2)}\n`], { type: "application/json" }), `${name}.json`);
  } else {
    const blob = await resp.blob();
    saveBlob(blob, dispositionName(resp.headers.get("Content-Disposition")) || name);
  }
}

/**
 * The "Personal data" card of a client (`kind` = `clients`) or chat session (`chat_sessions`)
 * page: export buttons (JSON, transcript as text or CSV) and the erase button. `null` when the
 * user may do neither.
 */
export function privacyCard(kind, id) {
  const k = KINDS[kind];
  const canExport = may(session.me, k.canExport);
  const canErase = may(session.me, k.canErase);
  if (!canExport && !canErase) return null;
  const status = h("p", { class: "help", id: "privacy-status", "aria-live": "polite" });
  const exportButton = (elId, label, path, file, json) => {
    const button = h("button", { type: "button", id: elId }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      mount(status, "Preparing the download…");
      try {
        await download(path, file, json);
        mount(status, `Downloaded ${label.toLowerCase()}.`);
      } catch (err) {
        mount(status);
        showError(err);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  };
  const subject = kind === "clients" ? "this client" : "this conversation";
  return h("section", { class: "card", id: "privacy" },
    h("h2", {}, "Personal data"),
    canExport ? [
      h("p", {}, `A copy of everything stored about ${subject}, for a request for access.`),
      h("div", { class: "button-row", role: "group", "aria-label": "Export" },
        exportButton("export-json", "Export (JSON)", `${route(kind, id)}/export/`, k.file(id), true),
        exportButton("export-text", "Transcript (text)", withQuery(`${route(kind, id)}/transcript/`, { format: "text" }), `${k.file(id)}.txt`, false),
        exportButton("export-csv", "Transcript (CSV)", withQuery(`${route(kind, id)}/transcript/`, { format: "csv" }), `${k.file(id)}.csv`, false)),
      status,
    ] : null,
    canErase ? [
      h("p", {}, kind === "clients"
        ? "Erasing deletes the client with its context, stage history, assignments and linked conversations, for a request for erasure. It cannot be undone."
        : "Erasing deletes the conversation and its messages, for a request for erasure. It cannot be undone."),
      h("div", { class: "button-row" },
        h("button", { type: "button", class: "danger", id: "erase", onclick: () => go(`${k.page(id)}/erase`) },
          kind === "clients" ? "Erase this client…" : "Erase this conversation…")),
    ] : null);
}

/** `1 message`, `2 messages`. */
function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** The confirmation page of an erasure, then the erasure. */
export async function erasePage(kind, id) {
  const k = KINDS[kind];
  if (!k || !may(session.me, k.canErase)) return notFound();
  let label;
  let what;
  if (kind === "clients") {
    const client = await api("GET", `${route(kind, id)}/`);
    label = `the client “${client.name}”`;
    what = [
      "the client’s details, its context data and its stage and assignment history;",
      "every conversation linked to the client, with all its messages;",
      "the details of earlier audit log entries about them (who did what and when is kept).",
    ];
    setTitle("Erase client", [[sectionOf(kind).label, k.list], [client.name, k.page(id)]]);
  } else {
    const history = await api("GET", `${route(kind, id)}/`);
    label = `the conversation ${id}`;
    what = [
      `its ${count(history.messages.length, "message", "messages")} and the session itself;`,
      "the link of any client to it (the client is kept);",
      "the details of earlier audit log entries about it (who did what and when is kept).",
    ];
    setTitle("Erase conversation", [[sectionOf(kind).label, k.list], [id, k.page(id)]]);
  }
  const understood = h("input", { type: "checkbox", id: "erase-understood", name: "understood" });
  const confirm = h("button", { type: "submit", class: "danger", id: "confirm-erase" }, "Erase permanently");
  const form = h("form", { id: "erase-form", novalidate: true },
    h("div", { class: "form-errors" }),
    fieldRow({ name: "understood", label: "I understand that this cannot be undone" }, understood),
    h("div", { class: "submit-row" }, confirm, h("a", { class: "button cancel", href: k.page(id) }, "No, take me back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!understood.checked) {
      showFieldErrors(form, new ApiError(400, { understood: ["Tick this box to confirm the erasure."] }));
      return;
    }
    confirm.disabled = true;
    try {
      const done = await api("POST", `${route(kind, id)}/erase/`);
      await refreshCounts();
      flash(kind === "clients"
        ? `The client was erased: ${count(done.sessions, "conversation", "conversations")} with ${count(done.messages, "message", "messages")}, ${count(done.stage_changes, "stage change", "stage changes")} and ${count(done.assignments, "assignment", "assignments")} deleted.`
        : `The conversation was erased: ${count(done.messages, "message", "messages")} deleted.`);
      go(k.list);
    } catch (err) {
      confirm.disabled = false;
      showError(err);
    }
  });
  mount(main,
    h("h1", {}, "Are you sure?"),
    h("p", {}, `Erasing ${label} permanently deletes:`),
    h("ul", { id: "erase-summary" }, what.map((line) => h("li", {}, line))),
    h("p", {}, "One audit log entry will record that an erasure happened, without the erased data. Export the data first if the person asked for a copy."),
    form);
  understood.focus();
}

/** `#/personal_data?email=…` or `?phone=…`: messages of unlinked conversations with that value. */
export async function personalDataPage(query) {
  if (!may(session.me, "findPersonalData")) return notFound();
  setTitle("Find personal data");
  const by = query.get("phone") !== null ? "phone" : "email";
  const value = query.get(by) || "";
  const kind = h("select", { id: "pd-kind", name: "kind" },
    h("option", { value: "email", selected: by === "email" }, "Email address"),
    h("option", { value: "phone", selected: by === "phone" }, "Phone number"));
  const input = h("input", { id: "pd-value", name: "value", type: "search", value, required: true, autocomplete: "off" });
  const form = h("form", { id: "personal-data-form", role: "search", novalidate: true },
    h("div", { class: "form-errors" }),
    h("div", { class: "inline-fields" },
      fieldRow({ name: "kind", label: "Search by" }, kind),
      fieldRow({ name: by, label: "Email or phone number" }, input),
      h("button", { type: "submit", class: "primary", id: "pd-search" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(withQuery("#/personal_data", { [kind.value]: input.value.trim() }));
  });
  const results = h("div", { id: "personal-data-results" });
  mount(main,
    h("h1", {}, "Find personal data"),
    h("p", {}, "Messages of conversations that are linked to no client and mention an email address or a phone number (its digits, whatever the spacing). Open a conversation to export or erase it."),
    form, results);
  if (!value) {
    input.focus();
    return;
  }
  let found;
  try {
    found = await api("GET", withQuery(`${ADMIN}/chat/personal-data/`, { [by]: value }));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 400) throw err;
    showFieldErrors(form, err);
    return;
  }
  const sessions = new Set(found.results.map((m) => m.session_id));
  mount(results,
    h("p", { id: "personal-data-count" }, found.results.length
      ? `${count(found.results.length, "message", "messages")} in ${count(sessions.size, "conversation", "conversations")}.`
      : "No unlinked conversation mentions it."),
    found.results.length
      ? h("div", { class: "results" }, h("table", { id: "personal-data-list" },
        h("thead", {}, h("tr", {}, ["Conversation", "Sent", "From", "Message"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, found.results.map((m) => h("tr", {},
          h("th", { scope: "row" }, h("a", { class: "mono", href: `#/chat_sessions/${encodeURIComponent(m.session_id)}` }, m.session_id)),
          h("td", { class: "nowrap" }, formatDate(m.sent_at)),
          h("td", {}, m.sender_type === "bot" ? "Bot" : "Client"),
          h("td", {}, m.message))))))
      : null);
}

/** The home page's link to the personal-data search, for users who may use it. */
export function privacyHomeLinks(me) {
  if (!may(me, "findPersonalData")) return null;
  return h("section", { class: "module", id: "privacy-tools", "aria-labelledby": "privacy-tools-title" },
    h("h2", { id: "privacy-tools-title" }, "Personal data"),
    h("p", {}, h("a", { href: "#/personal_data", id: "find-personal-data" }, "Find personal data in unlinked conversations"),
      " (by email or phone number), to export or erase them."));
}
