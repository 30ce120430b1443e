// How a list cell shows its value, by the column's `kind` from the admin index. Lists serve the
// names of referenced objects with their rows (`client_name`, `changed_by_repr`, …: Django's
// `__str__`), so a page costs one request; only roles, for the role column and filter, are read
// once as a list.

import { api, withQuery } from "./api.js";
import { formatDate, h, humanize, preview, yesNo } from "./dom.js";
import { sectionOf, session, stageLabel } from "./session.js";

export class Names {
  constructor() {
    this.roles = new Map();
  }

  /** Reads the role names when `columns` show roles. */
  async load(rows, columns) {
    if (rows.length && columns.some((col) => col.kind === "role")) await this.loadRoles().catch(() => null);
  }

  async loadRoles() {
    if (!session.sections.has("roles") || this.roles.size) return;
    const page = await api("GET", withQuery(sectionOf("roles").api, { page_size: 100, ordering: "name" }));
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
