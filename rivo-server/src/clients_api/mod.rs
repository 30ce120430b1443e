//! `/api/v1/clients/`: the later original's client API for CSMs (its shapes: `stage`,
//! `assigned_to` as an email, `context` inline, the `stages` label map, `history[{from, to,
//! by, at}]`, `{"id"}` on create, `{"message": "Updated"}` on update, `{"error": "Not found"}`),
//! and, under `/api/v1/admin/clients/{id}/summary/`, the AI summary of a client.
//!
//! Unlike the original:
//! - every route checks a permission — `client.view_client`, `client.add_client`,
//!   `client.change_client`, `client.delete_client`, and for `assign_to`
//!   `client.add_clientassignment` or `client.change_clientassignment` (unassigning with
//!   `null`: `client.change_clientassignment`). `is_staff` is **not** needed here: any active
//!   user holding the permission (e.g. through a "CSM" role) works leads, as in the original;
//!   `/api/v1/admin/` and `/admin/` stay staff-only;
//! - bad input is a `400` with field errors (`stage` must be a known stage, emails are checked,
//!   lengths match the columns, a body must be an object, `"name": null` and `"assign_to":
//!   "abc"` are field errors);
//! - `PUT` changes fields, stage and assignment in one transaction
//!   ([`rivo_core::Store::edit_client`]);
//! - the list is bounded: `?page=` (from 1) and `?limit=` (default 100, at most 500), one query
//!   per page, with `has_more`; `?assigned_to=me` lists the caller's clients, `?stage=` one
//!   stage.

use rivo_core::Permission;
use rivo_core::accounts::{Action, Model};

mod api;
mod bodies;
mod summary;
#[cfg(test)]
mod tests;

pub use api::ClientsApi;
pub use summary::AdminSummariesApi;

/// Default `?limit=` of the client list.
pub const DEFAULT_LIMIT: u32 = 100;

/// The OpenAPI tag of the CSM client API.
#[derive(poem_openapi::Tags)]
pub enum ClientsTag {
    /// The later original's client API for CSMs: permission-checked, validated, atomic.
    #[oai(rename = "clients")]
    Clients,
}

fn permission(action: Action, model: Model) -> Permission {
    Permission::new(action, model)
}
