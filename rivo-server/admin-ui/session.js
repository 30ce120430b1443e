// Who is logged in and what the admin index serves them: the sections they may see (the
// server's descriptions with counts and abilities), the stages and the page size. The pages read
// sections through `sectionOf`, which adds the UI's own extras from sections.js.

import { ADMIN, ApiError, api, hasSessionCookie, setCsrfToken } from "./api.js";
import { humanize } from "./dom.js";
import { SECTIONS } from "./sections.js";

/**
 * The logged-in user (`/account/me/`), and from the admin index (`/admin/`): the sections they
 * may see (descriptions, counts, abilities) in menu order, the stages and the page size.
 */
export const session = { me: null, sections: new Map(), stages: [], pageSize: 25 };

/** Reads the admin index into `session`. */
function useIndex(index) {
  session.sections = new Map(index.sections.map((s) => [s.name, s]));
  session.stages = index.stages.map((s) => [s.value, s.label]);
  session.pageSize = index.page_size;
}

/** Re-reads the admin index (the counts change after adds and deletes). */
export async function refreshCounts() {
  useIndex(await api("GET", `${ADMIN}/`));
}

/**
 * Reads the logged-in user and the admin index into `session`; `false` when the browser has no
 * session or it may not use the admin.
 */
export async function loadSession() {
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

/** Forgets the user and their sections (after logging out). */
export function endSession() {
  session.me = null;
  session.sections = new Map();
  setCsrfToken(null);
}

/**
 * A section as the pages use it: the server's description (labels, route, columns, filters,
 * search, orderings, abilities) with the UI's extras from sections.js (form fields, titles).
 */
export function sectionOf(name) {
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

/** `chat messages`, `clients`: the lower-case plural name of a section's objects. */
export function plural(section) {
  return section.plural || section.label.toLowerCase();
}

/** A stage's label (`docs_pending` → `Docs Pending`), as the server names it. */
export function stageLabel(value) {
  return session.stages.find(([v]) => v === value)?.[1] ?? humanize(value);
}
