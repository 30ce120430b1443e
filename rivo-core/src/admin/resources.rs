//! The sections of Rivo's admin, one [`ResourceSpec`] each, in menu order ([`RESOURCES`]).

use super::spec::{Choices, ColumnKind, DetailPage, ResourceKind, ResourceSpec, Visibility};
use super::spec::{col, filter, hidden};
use crate::accounts::Model;

use ColumnKind as K;

/// Users.
pub const USERS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Users,
    name: "users",
    label: "Users",
    singular: "user",
    plural: "users",
    path: "/api/v1/admin/users/",
    list_operation: "admin_users_list",
    read_operation: Some("admin_users_read"),
    delete_operation: Some("admin_users_delete"),
    create_operation: Some("admin_users_create"),
    update_operation: Some("admin_users_update"),
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::User),
    search: &["email", "username", "first_name", "last_name"],
    orderings: &[
        "created_at",
        "email",
        "username",
        "first_name",
        "last_name",
        "date_joined",
        "last_login",
        "id",
    ],
    default_ordering: Some("-created_at"),
    columns: &[
        col("email", "Email address", K::Text)
            .sorted("email")
            .linked(),
        col("first_name", "First name", K::Text).sorted("first_name"),
        col("last_name", "Last name", K::Text).sorted("last_name"),
        col("role", "Role", K::Role),
        col("is_active", "Active", K::Bool),
        col("is_staff", "Staff status", K::Bool),
    ],
    filters: &[
        filter("is_staff", "Staff status", Choices::YesNo),
        filter("is_superuser", "Superuser status", Choices::YesNo),
        filter("is_active", "Active", Choices::YesNo),
        filter("role", "Role", Choices::Roles),
    ],
    detail: DetailPage::Form,
};

/// Roles.
pub const ROLES: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Roles,
    name: "roles",
    label: "Roles",
    singular: "role",
    plural: "roles",
    path: "/api/v1/admin/roles/",
    list_operation: "admin_roles_list",
    read_operation: Some("admin_roles_read"),
    delete_operation: Some("admin_roles_delete"),
    create_operation: Some("admin_roles_create"),
    update_operation: Some("admin_roles_update"),
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::Role),
    search: &["name", "description"],
    orderings: &["name", "created_at", "id"],
    default_ordering: Some("name"),
    columns: &[
        col("name", "Name", K::Text).sorted("name").linked(),
        col("description", "Description", K::Text),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[],
    detail: DetailPage::Form,
};

/// Chat sessions (read-only: one row per session, with its message count).
pub const CHAT_SESSIONS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::ChatSessions,
    name: "chat_sessions",
    label: "Chat sessions",
    singular: "chat session",
    plural: "chat sessions",
    path: "/api/v1/admin/chat/sessions/",
    list_operation: "admin_chat_sessions_list",
    read_operation: Some("admin_chat_sessions_read"),
    delete_operation: Some("admin_chat_sessions_delete"),
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "session_id",
    visibility: Visibility::Model(Model::ChatHistory),
    search: &["message"],
    orderings: &[],
    default_ordering: None,
    columns: &[
        col("session_id", "Session", K::Text).linked(),
        col("message_count", "Messages", K::Text),
        col("last_message_preview", "Last message", K::Text),
        col("last_sender_type", "From", K::Text),
        col("first_sent_at", "Started", K::Date),
        col("last_sent_at", "Last activity", K::Date),
    ],
    filters: &[],
    detail: DetailPage::Transcript,
};

/// Chat messages.
pub const CHAT_MESSAGES: ResourceSpec = ResourceSpec {
    kind: ResourceKind::ChatMessages,
    name: "chat_messages",
    label: "Chat history",
    singular: "chat message",
    plural: "chat messages",
    path: "/api/v1/admin/chat/messages/",
    list_operation: "admin_chat_messages_list",
    read_operation: Some("admin_chat_messages_read"),
    delete_operation: Some("admin_chat_messages_delete"),
    create_operation: None,
    update_operation: None,
    bulk_delete_path: Some("/api/v1/admin/chat/messages/bulk-delete/"),
    id_field: "id",
    visibility: Visibility::Model(Model::ChatHistory),
    search: &["message"],
    orderings: &["id", "sent_at", "session_id", "sender_type"],
    default_ordering: Some("-sent_at"),
    columns: &[
        col("id", "ID", K::Text).sorted("id").linked(),
        col("session_id", "Session", K::Session).sorted("session_id"),
        col("sender_type", "Sender", K::Human).sorted("sender_type"),
        col("message", "Message", K::Preview),
        col("sent_at", "Sent at", K::Date).sorted("sent_at"),
    ],
    filters: &[
        filter(
            "sender_type",
            "Sender",
            Choices::Fixed(&[("client", "Client"), ("bot", "Bot")]),
        ),
        hidden("session_id", "Session"),
    ],
    detail: DetailPage::Form,
};

/// Clients.
pub const CLIENTS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Clients,
    name: "clients",
    label: "Clients",
    singular: "client",
    plural: "clients",
    path: "/api/v1/admin/clients/",
    list_operation: "admin_clients_list",
    read_operation: Some("admin_clients_read"),
    delete_operation: Some("admin_clients_delete"),
    create_operation: Some("admin_clients_create"),
    update_operation: Some("admin_clients_update"),
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::Client),
    search: &["name", "email", "phone"],
    orderings: &[
        "created_at",
        "updated_at",
        "name",
        "email",
        "current_stage",
        "id",
    ],
    default_ordering: Some("-created_at"),
    columns: &[
        col("name", "Name", K::Text).sorted("name").linked(),
        col("email", "Email", K::Text).sorted("email"),
        col("phone", "Phone", K::Text),
        col("current_stage", "Stage", K::Stage).sorted("current_stage"),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[filter("current_stage", "Stage", Choices::Stages)],
    detail: DetailPage::Client,
};

/// What the list-only sections share: no route but the list (no read, change or delete),
/// rows identified by `id`. Each section sets the rest; the placeholders never show.
const LIST_ONLY: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Log,
    name: "",
    label: "",
    singular: "",
    plural: "",
    path: "",
    list_operation: "",
    read_operation: None,
    delete_operation: None,
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Superuser,
    search: &[],
    orderings: &[],
    default_ordering: None,
    columns: &[],
    filters: &[],
    detail: DetailPage::Form,
};

/// What the history sections of a client share (contexts, stage changes, assignments): list
/// only, no search, newest first by creation.
const HISTORY: ResourceSpec = ResourceSpec {
    search: &[],
    orderings: &["created_at", "id"],
    default_ordering: Some("-created_at"),
    detail: DetailPage::RowClient,
    ..LIST_ONLY
};

/// Client contexts (read-only here; changed on the client page).
pub const CONTEXTS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Contexts,
    name: "contexts",
    label: "Client context",
    singular: "client context",
    plural: "client contexts",
    path: "/api/v1/admin/contexts/",
    list_operation: "admin_contexts_list",
    visibility: Visibility::Model(Model::Context),
    columns: &[
        col("client", "Client", K::Client),
        col("chat_session_id", "Chat session", K::Session),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[
        hidden("client", "Client"),
        hidden("chat_session_id", "Chat session"),
    ],
    ..HISTORY
};

/// Stage history (written by stage changes).
pub const STAGE_HISTORY: ResourceSpec = ResourceSpec {
    kind: ResourceKind::StageHistory,
    name: "stage_history",
    label: "Stage history",
    singular: "stage change",
    plural: "stage changes",
    path: "/api/v1/admin/stage-history/",
    list_operation: "admin_stage_history_list",
    visibility: Visibility::Model(Model::ClientStageHistory),
    columns: &[
        col("client", "Client", K::Client),
        col("from_stage", "From", K::Stage),
        col("to_stage", "To", K::Stage),
        col("changed_by", "Changed by", K::User),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[
        filter("to_stage", "To stage", Choices::Stages),
        hidden("client", "Client"),
        hidden("changed_by", "Changed by"),
    ],
    ..HISTORY
};

/// Assignments (written by assign and unassign).
pub const ASSIGNMENTS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Assignments,
    name: "assignments",
    label: "Assignments",
    singular: "assignment",
    plural: "assignments",
    path: "/api/v1/admin/assignments/",
    list_operation: "admin_assignments_list",
    visibility: Visibility::Model(Model::ClientAssignment),
    columns: &[
        col("client", "Client", K::Client),
        col("assigned_to", "Assigned to", K::Assignee),
        col("is_active", "Active", K::Bool),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[
        filter("is_active", "Active", Choices::YesNo),
        hidden("client", "Client"),
        hidden("assigned_to", "Assigned to"),
    ],
    ..HISTORY
};

/// The audit log (superusers only).
pub const LOG: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Log,
    name: "log",
    label: "Audit log",
    singular: "log entry",
    plural: "log entries",
    path: "/api/v1/admin/log/",
    list_operation: "admin_log_list",
    visibility: Visibility::Superuser,
    search: &["object_repr", "actor_repr"],
    orderings: &["created_at", "id"],
    default_ordering: Some("-created_at"),
    columns: &[
        col("created_at", "When", K::Date).sorted("created_at"),
        col("actor_repr", "Who", K::Text),
        col("action", "Action", K::Human),
        col("object_type", "Type", K::Human),
        col("object_repr", "Object", K::Text),
    ],
    filters: &[
        filter(
            "action",
            "Action",
            Choices::Fixed(&[
                ("create", "Create"),
                ("update", "Update"),
                ("delete", "Delete"),
            ]),
        ),
        hidden("object_type", "Type"),
        hidden("object_id", "Object"),
        hidden("actor", "Who"),
    ],
    detail: DetailPage::Form,
    ..LIST_ONLY
};

/// Every section, in menu order.
pub const RESOURCES: &[&ResourceSpec] = &[
    &USERS,
    &ROLES,
    &CHAT_SESSIONS,
    &CHAT_MESSAGES,
    &CLIENTS,
    &CONTEXTS,
    &STAGE_HISTORY,
    &ASSIGNMENTS,
    &LOG,
];

/// The section named `name`.
pub fn resource(name: &str) -> Option<&'static ResourceSpec> {
    RESOURCES.iter().copied().find(|r| r.name == name)
}
