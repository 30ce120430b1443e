// One description per admin section (like Django's ModelAdmin): the API path, the change list
// columns, search, filters, sortable columns and the form fields. The pages in app.js read it.

import { ADMIN } from "./api.js";

export const STAGES = [
  "lead", "contacted", "qualified", "docs_pending", "docs_received", "application_started",
  "application_submitted", "application_in_process", "application_approved", "disbursed",
  "active", "lost", "closed", "rejected",
];

const YES_NO = [["true", "Yes"], ["false", "No"]];
const stageChoices = STAGES.map((s) => [s, s.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase())]);

/**
 * Column kinds: `text` (default), `bool`, `date`, `preview` (50 characters), `stage`, and
 * references `client`, `user`, `role`, `session` shown by name and linked.
 */
export const SECTIONS = {
  users: {
    label: "Users", singular: "user", api: `${ADMIN}/users/`, id: "id",
    title: (u) => u.email,
    search: true,
    columns: [
      { key: "email", label: "Email address", sort: "email", link: true },
      { key: "first_name", label: "First name", sort: "first_name" },
      { key: "last_name", label: "Last name", sort: "last_name" },
      { key: "role", label: "Role", kind: "role" },
      { key: "is_active", label: "Active", kind: "bool" },
      { key: "is_staff", label: "Staff status", kind: "bool" },
    ],
    filters: [
      { key: "is_staff", label: "Staff status", choices: YES_NO },
      { key: "is_superuser", label: "Superuser status", choices: YES_NO },
      { key: "is_active", label: "Active", choices: YES_NO },
      { key: "role", label: "Role", choices: "roles" },
    ],
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
    deletable: true,
  },
  roles: {
    label: "Roles", singular: "role", api: `${ADMIN}/roles/`, id: "id",
    title: (r) => r.name,
    search: true,
    columns: [
      { key: "name", label: "Name", sort: "name", link: true },
      { key: "description", label: "Description" },
      { key: "created_at", label: "Created", kind: "date", sort: "created_at" },
    ],
    filters: [],
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "description", label: "Description", type: "textarea" },
      { name: "permissions", label: "Permissions", type: "permissions" },
    ],
    readonly: ["created_at", "updated_at"],
    deletable: true,
  },
  chat_sessions: {
    label: "Chat sessions", singular: "chat session", api: `${ADMIN}/chat/sessions/`, id: "session_id",
    title: (s) => s.session_id,
    search: true,
    columns: [
      { key: "session_id", label: "Session", link: true },
      { key: "message_count", label: "Messages" },
      { key: "last_message_preview", label: "Last message" },
      { key: "last_sender_type", label: "From" },
      { key: "first_sent_at", label: "Started", kind: "date" },
      { key: "last_sent_at", label: "Last activity", kind: "date" },
    ],
    filters: [],
    deletable: true,
  },
  chat_messages: {
    label: "Chat history", singular: "chat message", plural: "chat messages", api: `${ADMIN}/chat/messages/`, id: "id",
    title: (m) => `Message ${m.id}`,
    search: true,
    defaultOrdering: "-sent_at",
    columns: [
      { key: "id", label: "ID", sort: "id", link: true },
      { key: "session_id", label: "Session", kind: "session", sort: "session_id" },
      { key: "sender_type", label: "Sender", sort: "sender_type", kind: "human" },
      { key: "message", label: "Message", kind: "preview" },
      { key: "sent_at", label: "Sent at", kind: "date", sort: "sent_at" },
    ],
    filters: [
      { key: "sender_type", label: "Sender", choices: [["client", "Client"], ["bot", "Bot"]] },
      { key: "session_id", label: "Session", hidden: true },
    ],
    readonly: ["id", "session_id", "sender_type", "message", "sent_at"],
    deletable: true,
    bulkDelete: `${ADMIN}/chat/messages/bulk-delete/`,
  },
  clients: {
    label: "Clients", singular: "client", api: `${ADMIN}/clients/`, id: "id",
    title: (c) => c.name,
    search: true,
    columns: [
      { key: "name", label: "Name", sort: "name", link: true },
      { key: "email", label: "Email", sort: "email" },
      { key: "phone", label: "Phone" },
      { key: "current_stage", label: "Stage", kind: "stage", sort: "current_stage" },
      { key: "created_at", label: "Created", kind: "date", sort: "created_at" },
    ],
    filters: [{ key: "current_stage", label: "Stage", choices: stageChoices }],
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "email", label: "Email", type: "email" },
      { name: "phone", label: "Phone", type: "tel" },
      { name: "current_stage", label: "Stage", type: "select", choices: stageChoices, addOnly: true, initial: "lead" },
    ],
    readonly: ["created_at", "updated_at"],
    deletable: true,
  },
  contexts: {
    label: "Client context", singular: "client context", plural: "client contexts", api: `${ADMIN}/contexts/`, id: "id",
    search: false,
    columns: [
      { key: "client", label: "Client", kind: "client" },
      { key: "chat_session_id", label: "Chat session", kind: "session" },
      { key: "created_at", label: "Created", kind: "date", sort: "created_at" },
    ],
    filters: [{ key: "client", label: "Client", hidden: true }],
    rowLink: (row) => `#/clients/${row.client}`,
  },
  stage_history: {
    label: "Stage history", singular: "stage change", plural: "stage changes", api: `${ADMIN}/stage-history/`, id: "id",
    search: false,
    columns: [
      { key: "client", label: "Client", kind: "client" },
      { key: "from_stage", label: "From", kind: "stage" },
      { key: "to_stage", label: "To", kind: "stage" },
      { key: "changed_by", label: "Changed by", kind: "user" },
      { key: "created_at", label: "Created", kind: "date", sort: "created_at" },
    ],
    filters: [
      { key: "to_stage", label: "To stage", choices: stageChoices },
      { key: "client", label: "Client", hidden: true },
    ],
    rowLink: (row) => `#/clients/${row.client}`,
  },
  assignments: {
    label: "Assignments", singular: "assignment", api: `${ADMIN}/assignments/`, id: "id",
    search: false,
    columns: [
      { key: "client", label: "Client", kind: "client" },
      { key: "assigned_to", label: "Assigned to", kind: "assignee" },
      { key: "is_active", label: "Active", kind: "bool" },
      { key: "created_at", label: "Created", kind: "date", sort: "created_at" },
    ],
    filters: [
      { key: "is_active", label: "Active", choices: YES_NO },
      { key: "client", label: "Client", hidden: true },
      { key: "assigned_to", label: "Assigned to", hidden: true },
    ],
    rowLink: (row) => `#/clients/${row.client}`,
  },
  log: {
    label: "Audit log", singular: "log entry", plural: "log entries", api: `${ADMIN}/log/`, id: "id",
    search: true,
    columns: [
      { key: "created_at", label: "When", kind: "date", sort: "created_at" },
      { key: "actor_repr", label: "Who" },
      { key: "action", label: "Action", kind: "human" },
      { key: "object_type", label: "Type", kind: "human" },
      { key: "object_repr", label: "Object" },
    ],
    filters: [
      { key: "action", label: "Action", choices: [["create", "Create"], ["update", "Update"], ["delete", "Delete"]] },
      { key: "object_type", label: "Type", hidden: true },
    ],
    expand: (row) => row.changes,
  },
};

/** Sections in home-page order. */
export const ORDER = [
  "users", "roles", "chat_sessions", "chat_messages", "clients", "contexts", "stage_history",
  "assignments", "log",
];
