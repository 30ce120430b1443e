//! `GET /api/v1/admin/`: the admin's home page as data. It serves every section the caller may
//! see with its description ([`rivo_core::admin::ResourceSpec`]: label, list route, columns,
//! filters, search, orderings), its count and what the caller may do there, plus the constants
//! the UI shares with the server (stages, page size, cookie names). The admin UI renders from
//! this answer instead of keeping its own copy.

use poem_openapi::{Object, OpenApi};
use rivo_core::accounts::Action;
use rivo_core::admin::{
    self, CSRF_COOKIE, CSRF_HEADER, ColumnSpec, DEFAULT_PAGE_SIZE, FilterSpec, MAX_PAGE_SIZE,
    RESOURCES, ResourceSpec, SESSION_COOKIE,
};
use serde::Serialize;

use rivo_core::access::Access;

use super::ctx::AdminCtx;
use super::{AdminTag, Found, ReadErrors, found};
use crate::error::OpError;

/// What the caller may do with one kind of object.
#[derive(Debug, Object, Serialize)]
pub struct Abilities {
    /// List and read.
    pub view: bool,
    /// Create.
    pub add: bool,
    /// Change.
    pub change: bool,
    /// Delete.
    pub delete: bool,
}

/// A value a filter or a form offers.
#[derive(Debug, Object, Serialize)]
#[oai(rename = "AdminChoice")]
pub struct Choice {
    /// The value sent.
    pub value: String,
    /// For people.
    pub label: String,
}

/// One column of a section's change list.
#[derive(Debug, Object, Serialize)]
pub struct AdminColumn {
    /// The field of the list's rows.
    pub key: String,
    /// The header.
    pub label: String,
    /// How the value shows: `text`, `bool`, `date`, `preview`, `stage`, `human`, `session`,
    /// `client` (by the row's `client_name`), `user` and `assignee` (by the row's
    /// `<key>_repr`) or `role`.
    pub kind: String,
    /// The `ordering` value that sorts by this column (`-` in front for descending).
    pub sort: Option<String>,
    /// Whether the cell links to the row's page.
    pub link: bool,
}

/// One filter of a section's list: a query parameter of its list route.
#[derive(Debug, Object, Serialize)]
pub struct AdminFilter {
    /// The query parameter.
    pub key: String,
    /// For people.
    pub label: String,
    /// Set by links from other pages, not offered in the sidebar.
    pub hidden: bool,
    /// The values offered, when fixed.
    pub choices: Option<Vec<Choice>>,
    /// The section whose objects are the values (`roles`), when not fixed.
    pub choices_from: Option<String>,
}

/// One section of the admin: its description, count and the caller's abilities.
#[derive(Debug, Object, Serialize)]
pub struct AdminSection {
    /// Stable name, e.g. `clients`.
    pub name: String,
    /// For people, e.g. `Clients`.
    pub label: String,
    /// One object, lower case, e.g. `client`.
    pub singular: String,
    /// Several objects, lower case, e.g. `clients`.
    pub plural: String,
    /// The list route; `{path}{id}/` reads and deletes one object.
    pub path: String,
    /// How many objects the list holds (exact up to 10,000; see `count_is_estimate`).
    pub count: u64,
    /// `true` when `count` is an estimate from the table's statistics.
    pub count_is_estimate: bool,
    /// What the caller may do there (held permissions; see the `*_operation` fields for what
    /// the section offers).
    pub permissions: Abilities,
    /// The row field that identifies an object in `{path}{id}/`.
    pub id_field: String,
    /// The fields `search` looks in; empty when the list has no search.
    pub search_fields: Vec<String>,
    /// The `ordering` values the list accepts (`-` in front for descending).
    pub orderings: Vec<String>,
    /// The list's order when none is asked for.
    pub default_ordering: Option<String>,
    /// The change-list columns.
    pub columns: Vec<AdminColumn>,
    /// The list's filters.
    pub filters: Vec<AdminFilter>,
    /// Which page shows one object: `form`, `client`, `transcript` or `row_client` (the
    /// page of the row's client).
    pub detail: String,
    /// Operation id of the list route.
    pub list_operation: String,
    /// Operation id of the read route, if any.
    pub read_operation: Option<String>,
    /// Operation id of the delete route, if any.
    pub delete_operation: Option<String>,
    /// Operation id of the create route, if any.
    pub create_operation: Option<String>,
    /// Operation id of the update route, if any.
    pub update_operation: Option<String>,
    /// The route deleting many objects at once, if any.
    pub bulk_delete_path: Option<String>,
}

/// The sections the caller may see, and the constants the UI shares with the server.
#[derive(Debug, Object, Serialize)]
pub struct AdminIndex {
    /// Sections with at least the view permission, in menu order.
    pub sections: Vec<AdminSection>,
    /// Every stage of a client, in pipeline order.
    pub stages: Vec<Choice>,
    /// Rows per list page when `page_size` is not given.
    pub page_size: u32,
    /// The largest `page_size` honoured.
    pub max_page_size: u32,
    /// The cookie holding the CSRF token of a browser session.
    pub csrf_cookie: String,
    /// The header that must repeat it on unsafe requests.
    pub csrf_header: String,
    /// The (HTTP-only) session cookie.
    pub session_cookie: String,
}

fn choices(pairs: impl IntoIterator<Item = (&'static str, &'static str)>) -> Vec<Choice> {
    pairs
        .into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl From<&ColumnSpec> for AdminColumn {
    fn from(c: &ColumnSpec) -> Self {
        Self {
            key: c.key.to_owned(),
            label: c.label.to_owned(),
            kind: c.kind.as_str().to_owned(),
            sort: c.sort.map(str::to_owned),
            link: c.link,
        }
    }
}

impl From<&FilterSpec> for AdminFilter {
    fn from(f: &FilterSpec) -> Self {
        Self {
            key: f.key.to_owned(),
            label: f.label.to_owned(),
            hidden: f.hidden,
            choices: f.choices.pairs().map(choices),
            choices_from: matches!(f.choices, admin::Choices::Roles).then(|| "roles".to_owned()),
        }
    }
}

impl AdminSection {
    /// The section of `spec`, with its count and the caller's abilities.
    pub fn new(spec: &ResourceSpec, count: (u64, bool), permissions: Abilities) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Self {
            name: spec.name.to_owned(),
            label: spec.label.to_owned(),
            singular: spec.singular.to_owned(),
            plural: spec.plural.to_owned(),
            path: spec.path.to_owned(),
            count: count.0,
            count_is_estimate: count.1,
            permissions,
            id_field: spec.id_field.to_owned(),
            search_fields: strings(spec.search),
            orderings: strings(spec.orderings),
            default_ordering: own(spec.default_ordering),
            columns: spec.columns.iter().map(Into::into).collect(),
            filters: spec.filters.iter().map(Into::into).collect(),
            detail: spec.detail.as_str().to_owned(),
            list_operation: spec.list_operation.to_owned(),
            read_operation: own(spec.read_operation),
            delete_operation: own(spec.delete_operation),
            create_operation: own(spec.create_operation),
            update_operation: own(spec.update_operation),
            bulk_delete_path: own(spec.bulk_delete_path),
        }
    }
}

/// The admin index.
#[derive(Default)]
pub struct AdminIndexApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "AdminTag::Admin")]
impl AdminIndexApi {
    /// The admin index
    ///
    /// The sections the caller may see, each with its description (columns, filters, search,
    /// orderings, routes), its count and what the caller may do there: the admin's home page,
    /// from which the admin UI renders every list. Also the stages, the page size and the
    /// cookie names.
    #[oai(path = "/", method = "get", operation_id = "admin_index")]
    async fn index(&self, ctx: AdminCtx<'_>) -> Result<Found<AdminIndex>, OpError<ReadErrors>> {
        let admin = ctx.require(Access::AdminIndex).await?;
        let held = admin.store.effective_permissions(&admin.user).await?;
        let may = |spec: &ResourceSpec, action: Action| match spec.permission(action) {
            Some(permission) => held.contains(&permission),
            None => admin.user.is_superuser && action == Action::View,
        };
        let mut sections = Vec::new();
        for spec in RESOURCES {
            if !may(spec, Action::View) {
                continue;
            }
            let count = spec.count(ctx.store()).await?;
            let abilities = Abilities {
                view: true,
                add: may(spec, Action::Add),
                change: may(spec, Action::Change),
                delete: may(spec, Action::Delete),
            };
            sections.push(AdminSection::new(spec, count, abilities));
        }
        Ok(found(AdminIndex {
            sections,
            stages: choices(admin::stages()),
            page_size: DEFAULT_PAGE_SIZE,
            max_page_size: MAX_PAGE_SIZE,
            csrf_cookie: CSRF_COOKIE.to_owned(),
            csrf_header: CSRF_HEADER.to_owned(),
            session_cookie: SESSION_COOKIE.to_owned(),
        }))
    }
}
