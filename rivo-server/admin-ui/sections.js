// What the UI adds to the section descriptions the server serves at `GET /api/v1/admin/`
// (labels, routes, columns, filters, search, orderings, stages and the page size all come from
// there): the form widgets and help texts, how a row is titled, and per-section extras. Only
// sections the server describes are shown; `tests/admin_resources.rs` checks that every name
// here is one.

import { preview } from "./dom.js";

/** Form fields: `type` picks the widget (`text`, `email`, `tel`, `password`, `checkbox`,
 * `textarea`, `select` with `choices` or `choices: "stages"`, `role`, `permissions`). */
export const SECTIONS = {
  users: {
    title: (u) => u.email,
    fields: [
      { name: "email", label: "Email address", type: "email", required: true },
      { name: "username", label: "Username", required: true },
      { name: "password", label: "Password", type: "password", addOnly: true, autocomplete: "new-password",
        help: "Leave empty for a user who cannot log in yet." },
      { name: "first_name", label: "First name" },
      { name: "last_name", label: "Last name" },
      { name: "phone", label: "Phone", type: "tel" },
      { name: "role", label: "Role", type: "role" },
      { name: "is_active", label: "Active", type: "checkbox", initial: true,
        help: "Unselect this instead of deleting accounts." },
      { name: "is_staff", label: "Staff status", type: "checkbox", help: "Staff users can log into this admin." },
      { name: "is_superuser", label: "Superuser status", type: "checkbox",
        help: "Superusers hold every permission." },
    ],
    readonly: ["date_joined", "last_login", "created_at", "updated_at"],
    /** Links on an object's page (`abilities`: what the caller may do in the section). */
    extraLinks: (id, item, abilities) => (abilities.change
      ? [{ id: "change-password", label: "Change password", href: `#/users/${id}/password` }] : []),
    /** Sub-pages of an object (`#/users/7/password`). */
    actions: ["password"],
  },
  roles: {
    title: (r) => r.name,
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "description", label: "Description", type: "textarea" },
      { name: "permissions", label: "Permissions", type: "permissions" },
    ],
    readonly: ["created_at", "updated_at"],
  },
  chat_sessions: {
    title: (s) => s.session_id,
    actions: ["erase"],
    /** Re-read the list when messages arrive. */
    live: true,
  },
  chat_messages: {
    title: (m) => `Message ${m.id}`,
    subtitle: (m) => (m.message ? preview(m.message, 50) : null),
    readonly: ["id", "session_id", "sender_type", "message", "sent_at"],
    /** A link under a read-only object. */
    extraLinks: (id, item) => [{ label: "View the whole conversation", href: `#/chat_sessions/${encodeURIComponent(item.session_id)}` }],
  },
  clients: {
    title: (c) => c.name,
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "email", label: "Email", type: "email" },
      { name: "phone", label: "Phone", type: "tel" },
      { name: "current_stage", label: "Stage", type: "select", choices: "stages", addOnly: true, initial: "lead" },
    ],
    readonly: ["created_at", "updated_at"],
    actions: ["erase"],
  },
  contexts: {},
  stage_history: {},
  assignments: {},
  log: {
    expand: (row) => row.changes,
  },
};

