//! The admin as data, like Django's `ModelAdmin`: one [`ResourceSpec`] per admin section says
//! what the section is called, which permission model guards it, which columns its change list
//! shows, which filters, search and orderings its list route accepts, and which page shows one
//! object. An HTTP layer generates its list/read/delete routes from these descriptions, serves
//! them to its UI, and tests that the three agree; an embedding app can read them to build its
//! own admin.
//!
//! The facts several layers share live here once: the stages ([`stages`]), the admin page size
//! ([`DEFAULT_PAGE_SIZE`], [`MAX_PAGE_SIZE`]) and the names of the session and CSRF cookies.
//!
//! ```
//! use rivo_core::admin::{self, Visibility};
//! use rivo_core::accounts::Model;
//!
//! let clients = admin::resource("clients").unwrap();
//! assert_eq!(clients.path, "/api/v1/admin/clients/");
//! assert_eq!(clients.visibility, Visibility::Model(Model::Client));
//! assert!(clients.orderings.contains(&"current_stage"));
//! ```

use crate::accounts::{Action, Model, Permission, RoleFilter, RoleSort, UserFilter, UserSort};
use crate::audit::{AuditFilter, AuditSort};
use crate::chat::{MessageFilter, MessageSort, SessionFilter};
use crate::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ContextFilter, HistorySort, StageChangeFilter,
};
use crate::{Page, PageRequest, Result, Sort, Stage, Store};

/// Rows per admin list page when the request does not say (DRF's `PAGE_SIZE`).
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// The most rows an admin list page holds, whatever `?page_size=` asks.
pub const MAX_PAGE_SIZE: u32 = PageRequest::MAX_LIMIT;
/// Name of the (HTTP-only) session cookie of the admin web UI.
pub const SESSION_COOKIE: &str = "rivo_session";
/// Name of the cookie holding the CSRF token (readable by scripts, unlike the session).
pub const CSRF_COOKIE: &str = "rivo_csrftoken";
/// Header that must repeat the CSRF token on unsafe requests authenticated by cookie.
pub const CSRF_HEADER: &str = "X-CSRFToken";

/// Every stage as `(value, label)`, in pipeline order: `("docs_pending", "Docs Pending")`.
pub fn stages() -> impl Iterator<Item = (&'static str, &'static str)> {
    Stage::ALL.into_iter().map(|s| (s.as_str(), s.label()))
}

/// Who may see a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Active staff holding the model's Django-style permission for each action
    /// (`view_…` to list and read, `delete_…` to delete, …); superusers hold them all.
    Model(Model),
    /// Active staff superusers only (the audit log): no permission is enough.
    Superuser,
}

impl Visibility {
    /// The permission an action needs, or `None` when only superusers may act.
    pub fn permission(self, action: Action) -> Option<Permission> {
        match self {
            Visibility::Model(model) => Some(Permission::new(action, model)),
            Visibility::Superuser => None,
        }
    }
}

/// How a change-list cell shows its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// The value as text (`—` when empty).
    Text,
    /// A yes/no icon.
    Bool,
    /// A date and time.
    Date,
    /// The first 50 characters.
    Preview,
    /// A stage, by its label.
    Stage,
    /// An identifier turned into words (`chat_session` → `Chat session`).
    Human,
    /// A chat session id, linked to its transcript.
    Session,
    /// A client id, shown by the client's name (the row's `client_name`) and linked.
    Client,
    /// A user id, shown by the user's email (the row's `<key>_repr`).
    User,
    /// An assignee: a user, or "Awaiting assignment" when empty.
    Assignee,
    /// A role id, shown by the role's name.
    Role,
}

impl ColumnKind {
    /// The wire name: `text`, `bool`, `date`, `preview`, `stage`, `human`, `session`,
    /// `client`, `user`, `assignee` or `role`.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Bool => "bool",
            ColumnKind::Date => "date",
            ColumnKind::Preview => "preview",
            ColumnKind::Stage => "stage",
            ColumnKind::Human => "human",
            ColumnKind::Session => "session",
            ColumnKind::Client => "client",
            ColumnKind::User => "user",
            ColumnKind::Assignee => "assignee",
            ColumnKind::Role => "role",
        }
    }
}

/// One column of a change list (`list_display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The field of the list's rows.
    pub key: &'static str,
    /// The header.
    pub label: &'static str,
    /// How the value shows.
    pub kind: ColumnKind,
    /// The `?ordering=` field that sorts by this column, if any.
    pub sort: Option<&'static str>,
    /// Whether the cell links to the row's page.
    pub link: bool,
}

const fn col(key: &'static str, label: &'static str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        key,
        label,
        kind,
        sort: None,
        link: false,
    }
}

impl ColumnSpec {
    /// The same column, sortable by `field`.
    pub const fn sorted(self, field: &'static str) -> Self {
        Self {
            sort: Some(field),
            ..self
        }
    }

    /// The same column, linked to the row's page.
    pub const fn linked(self) -> Self {
        Self { link: true, ..self }
    }
}

/// The values a filter offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    /// Free input (an id or a UUID), usually a hidden filter set by links.
    Any,
    /// `true` / `false`.
    YesNo,
    /// The stages ([`stages`]).
    Stages,
    /// A fixed list of `(value, label)`.
    Fixed(&'static [(&'static str, &'static str)]),
    /// The roles, by id, read from the roles list when shown.
    Roles,
}

impl Choices {
    /// The fixed `(value, label)` pairs, or `None` for [`Choices::Any`] and [`Choices::Roles`].
    pub fn pairs(self) -> Option<Vec<(&'static str, &'static str)>> {
        match self {
            Choices::Any | Choices::Roles => None,
            Choices::YesNo => Some(vec![("true", "Yes"), ("false", "No")]),
            Choices::Stages => Some(stages().collect()),
            Choices::Fixed(pairs) => Some(pairs.to_vec()),
        }
    }
}

/// One filter of a list (`list_filter`): a query parameter of the list route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSpec {
    /// The query parameter.
    pub key: &'static str,
    /// For people.
    pub label: &'static str,
    /// What it accepts.
    pub choices: Choices,
    /// Not offered in the filter sidebar; set by links from other pages (e.g. a client's
    /// history), and shown as an active filter that can be removed.
    pub hidden: bool,
}

const fn filter(key: &'static str, label: &'static str, choices: Choices) -> FilterSpec {
    FilterSpec {
        key,
        label,
        choices,
        hidden: false,
    }
}

const fn hidden(key: &'static str, label: &'static str) -> FilterSpec {
    FilterSpec {
        key,
        label,
        choices: Choices::Any,
        hidden: true,
    }
}

/// Which page shows one object of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailPage {
    /// The generic change form (or a read-only view).
    Form,
    /// The client page (details, stage, assignment, context, conversation).
    Client,
    /// A chat transcript.
    Transcript,
    /// The page of the row's client (`client` field): history rows have no page of their own.
    RowClient,
}

impl DetailPage {
    /// The wire name: `form`, `client`, `transcript` or `row_client`.
    pub fn as_str(self) -> &'static str {
        match self {
            DetailPage::Form => "form",
            DetailPage::Client => "client",
            DetailPage::Transcript => "transcript",
            DetailPage::RowClient => "row_client",
        }
    }
}

/// Which resource a spec describes (for counting and exhaustive matches; see [`RESOURCES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// Users.
    Users,
    /// Roles.
    Roles,
    /// Chat sessions.
    ChatSessions,
    /// Chat messages.
    ChatMessages,
    /// Clients.
    Clients,
    /// Client contexts.
    Contexts,
    /// Stage history.
    StageHistory,
    /// Assignments.
    Assignments,
    /// The audit log.
    Log,
}

/// One admin section: a Django `ModelAdmin` as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceSpec {
    /// Which resource.
    pub kind: ResourceKind,
    /// Stable name, the UI's URL segment: `clients`.
    pub name: &'static str,
    /// For people: `Clients`.
    pub label: &'static str,
    /// One object, lower case: `client`.
    pub singular: &'static str,
    /// Several objects, lower case: `clients`.
    pub plural: &'static str,
    /// The list route; `{path}{id}/` reads and deletes one object.
    pub path: &'static str,
    /// Operation id of the list route.
    pub list_operation: &'static str,
    /// Operation id of the read route, if objects can be read one by one.
    pub read_operation: Option<&'static str>,
    /// Operation id of the delete route, if objects can be deleted.
    pub delete_operation: Option<&'static str>,
    /// Operation id of the create route, if objects can be added from the admin.
    pub create_operation: Option<&'static str>,
    /// Operation id of the update route, if objects can be changed from the admin.
    pub update_operation: Option<&'static str>,
    /// A route deleting many objects at once (`{"ids": […]}`), if any.
    pub bulk_delete_path: Option<&'static str>,
    /// The field of a row that identifies it in `{path}{id}/`.
    pub id_field: &'static str,
    /// Who may see it.
    pub visibility: Visibility,
    /// The fields `?search=` looks in; empty when the list has no search.
    pub search: &'static [&'static str],
    /// The `?ordering=` fields the list accepts (`-` in front for descending).
    pub orderings: &'static [&'static str],
    /// The ordering of a list that asks for none (or for an unknown field); `None` for lists
    /// with a fixed order.
    pub default_ordering: Option<&'static str>,
    /// The change-list columns (`list_display`).
    pub columns: &'static [ColumnSpec],
    /// The list's filters (`list_filter`), each a query parameter of the list route.
    pub filters: &'static [FilterSpec],
    /// The page of one object.
    pub detail: DetailPage,
}

impl ResourceSpec {
    /// The permission an action on this section needs (`None`: superusers only).
    pub fn permission(&self, action: Action) -> Option<Permission> {
        self.visibility.permission(action)
    }

    /// What `action` on this section asks of the caller, for [`Store::authorize`]
    /// ([`crate::access::Access::Admin`] of its permission, or superusers only).
    ///
    /// [`Store::authorize`]: crate::Store::authorize
    pub fn access(&self, action: Action) -> crate::access::Access {
        self.permission(action).map_or(
            crate::access::Access::Superuser,
            crate::access::Access::Admin,
        )
    }

    /// Whether the list has `?search=`.
    pub fn searchable(&self) -> bool {
        !self.search.is_empty()
    }

    /// The default ordering as a [`Sort`] of the list's sort fields (`fallback` when the
    /// description names none or an unknown field: a test keeps that from happening).
    pub fn default_sort<F: crate::query::SortField>(&self, fallback: Sort<F>) -> Sort<F> {
        self.default_ordering
            .and_then(Sort::parse)
            .unwrap_or(fallback)
    }

    /// Counts the section's objects: `(total, whether it is an estimate)`.
    pub async fn count(&self, store: &Store) -> Result<(u64, bool)> {
        let one = PageRequest::first(0);
        fn tally<T>(page: Page<T>) -> (u64, bool) {
            (page.total, page.estimated)
        }
        Ok(match self.kind {
            ResourceKind::Users => tally(
                store
                    .list_users(&UserFilter::default(), Sort::asc(UserSort::Id), one)
                    .await?,
            ),
            ResourceKind::Roles => tally(
                store
                    .list_roles(&RoleFilter::default(), Sort::asc(RoleSort::Id), one)
                    .await?,
            ),
            ResourceKind::ChatSessions => {
                tally(store.list_sessions(&SessionFilter::default(), one).await?)
            }
            ResourceKind::ChatMessages => tally(
                store
                    .list_messages(&MessageFilter::default(), Sort::asc(MessageSort::Id), one)
                    .await?,
            ),
            ResourceKind::Clients => tally(
                store
                    .list_clients(&ClientFilter::default(), Sort::asc(ClientSort::Id), one)
                    .await?,
            ),
            ResourceKind::Contexts => tally(
                store
                    .list_contexts(&ContextFilter::default(), Sort::asc(HistorySort::Id), one)
                    .await?,
            ),
            ResourceKind::StageHistory => tally(
                store
                    .list_stage_changes(
                        &StageChangeFilter::default(),
                        Sort::asc(HistorySort::Id),
                        one,
                    )
                    .await?,
            ),
            ResourceKind::Assignments => tally(
                store
                    .list_assignments(
                        &AssignmentFilter::default(),
                        Sort::asc(HistorySort::Id),
                        one,
                    )
                    .await?,
            ),
            ResourceKind::Log => tally(
                store
                    .list_audit(&AuditFilter::default(), Sort::asc(AuditSort::Id), one)
                    .await?,
            ),
        })
    }
}

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

const HISTORY_ORDERINGS: &[&str] = &["created_at", "id"];

/// Client contexts (read-only here; changed on the client page).
pub const CONTEXTS: ResourceSpec = ResourceSpec {
    kind: ResourceKind::Contexts,
    name: "contexts",
    label: "Client context",
    singular: "client context",
    plural: "client contexts",
    path: "/api/v1/admin/contexts/",
    list_operation: "admin_contexts_list",
    read_operation: None,
    delete_operation: None,
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::Context),
    search: &[],
    orderings: HISTORY_ORDERINGS,
    default_ordering: Some("-created_at"),
    columns: &[
        col("client", "Client", K::Client),
        col("chat_session_id", "Chat session", K::Session),
        col("created_at", "Created", K::Date).sorted("created_at"),
    ],
    filters: &[
        hidden("client", "Client"),
        hidden("chat_session_id", "Chat session"),
    ],
    detail: DetailPage::RowClient,
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
    read_operation: None,
    delete_operation: None,
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::ClientStageHistory),
    search: &[],
    orderings: HISTORY_ORDERINGS,
    default_ordering: Some("-created_at"),
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
    detail: DetailPage::RowClient,
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
    read_operation: None,
    delete_operation: None,
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "id",
    visibility: Visibility::Model(Model::ClientAssignment),
    search: &[],
    orderings: HISTORY_ORDERINGS,
    default_ordering: Some("-created_at"),
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
    detail: DetailPage::RowClient,
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
    read_operation: None,
    delete_operation: None,
    create_operation: None,
    update_operation: None,
    bulk_delete_path: None,
    id_field: "id",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::SortField;

    fn names<F: SortField>() -> Vec<&'static str> {
        F::ALL.iter().map(|f| f.name()).collect()
    }

    fn sort_names(kind: ResourceKind) -> Vec<&'static str> {
        match kind {
            ResourceKind::Users => names::<UserSort>(),
            ResourceKind::Roles => names::<RoleSort>(),
            ResourceKind::ChatSessions => vec![],
            ResourceKind::ChatMessages => names::<MessageSort>(),
            ResourceKind::Clients => names::<ClientSort>(),
            ResourceKind::Contexts | ResourceKind::StageHistory | ResourceKind::Assignments => {
                names::<HistorySort>()
            }
            ResourceKind::Log => names::<AuditSort>(),
        }
    }

    #[test]
    fn orderings_are_exactly_the_store_sort_fields() {
        for spec in RESOURCES {
            let mut declared = spec.orderings.to_vec();
            let mut actual = sort_names(spec.kind);
            declared.sort_unstable();
            actual.sort_unstable();
            assert_eq!(declared, actual, "{}", spec.name);
        }
    }

    #[test]
    fn default_orderings_and_sortable_columns_are_accepted_orderings() {
        for spec in RESOURCES {
            if let Some(default) = spec.default_ordering {
                assert!(
                    spec.orderings
                        .contains(&default.strip_prefix('-').unwrap_or(default)),
                    "{}: default {default}",
                    spec.name
                );
            }
            for column in spec.columns {
                if let Some(sort) = column.sort {
                    assert!(spec.orderings.contains(&sort), "{}.{sort}", spec.name);
                }
            }
        }
    }

    #[test]
    fn names_and_kinds_are_unique() {
        let mut names: Vec<_> = RESOURCES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RESOURCES.len());
        let kinds: std::collections::HashSet<_> = RESOURCES.iter().map(|r| r.kind).collect();
        assert_eq!(kinds.len(), RESOURCES.len());
    }

    #[test]
    fn stages_come_from_the_stage_type_in_pipeline_order() {
        let all: Vec<_> = stages().collect();
        assert_eq!(all.len(), 14);
        assert_eq!(all[0], ("lead", "Lead"));
        assert_eq!(all[3], ("docs_pending", "Docs Pending"));
    }
}
