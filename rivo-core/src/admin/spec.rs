//! The description types: what a section, a column and a filter say, and who may see them.

use crate::accounts::{Action, Model, Permission, RoleFilter, RoleSort, UserFilter, UserSort};
use crate::audit::{AuditFilter, AuditSort};
use crate::chat::{MessageFilter, MessageSort, SessionFilter};
use crate::clients::{
    AssignmentFilter, ClientFilter, ClientSort, ContextFilter, HistorySort, StageChangeFilter,
};
use crate::names::names;
use crate::{Page, PageRequest, Result, Sort, Store};

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

names! {
    /// The wire name: `text`, `bool`, `date`, `preview`, `stage`, `human`, `session`,
    /// `client`, `user`, `assignee` or `role`.
    ColumnKind {
        Text => "text",
        Bool => "bool",
        Date => "date",
        Preview => "preview",
        Stage => "stage",
        Human => "human",
        Session => "session",
        Client => "client",
        User => "user",
        Assignee => "assignee",
        Role => "role",
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

pub(super) const fn col(key: &'static str, label: &'static str, kind: ColumnKind) -> ColumnSpec {
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
    /// The stages ([`stages`](super::stages)).
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
            Choices::Stages => Some(super::stages().collect()),
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

pub(super) const fn filter(key: &'static str, label: &'static str, choices: Choices) -> FilterSpec {
    FilterSpec {
        key,
        label,
        choices,
        hidden: false,
    }
}

pub(super) const fn hidden(key: &'static str, label: &'static str) -> FilterSpec {
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

names! {
    /// The wire name: `form`, `client`, `transcript` or `row_client`.
    DetailPage {
        Form => "form",
        Client => "client",
        Transcript => "transcript",
        RowClient => "row_client",
    }
}

/// Which resource a spec describes (for counting and exhaustive matches; see
/// [`RESOURCES`](super::RESOURCES)).
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
