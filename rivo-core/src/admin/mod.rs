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

mod resources;
mod spec;

pub use resources::{
    ASSIGNMENTS, CHAT_MESSAGES, CHAT_SESSIONS, CLIENTS, CONTEXTS, LOG, RESOURCES, ROLES,
    STAGE_HISTORY, USERS, resource,
};
pub use spec::{
    Choices, ColumnKind, ColumnSpec, DetailPage, FilterSpec, ResourceKind, ResourceSpec, Visibility,
};

use crate::{PageRequest, Stage};

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

#[cfg(test)]
mod tests;
