//! Who may use which part of the admin: the admin gate and the audit-log policy, as one
//! [`Store::authorize`] call that the HTTP server and embedding apps share.
//!
//! The rules, in Django's terms:
//! - only **active staff** may use the admin ([`Access::AdminIndex`]);
//! - each admin section needs its **permission** ([`Access::Admin`]; a superuser holds every
//!   permission);
//! - the **audit log** ([`Access::AuditLog`]) and the webhooks ([`Access::Superuser`]) are for
//!   active staff **superusers** only;
//! - outside the admin, the CSM routes of `/api/v1/clients/` need only an **active** user
//!   holding the permission, staff or not ([`Access::Member`]).
//!
//! A refusal is [`Error::PermissionDenied`] with [`PERMISSION_DENIED`], the sentence the HTTP
//! admin answers `403` with.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivo_core::Error> {
//! use rivo_core::access::Access;
//! use rivo_core::accounts::{Action, Model, NewUser};
//! use rivo_core::{Permission, Store};
//! let store = Store::open("sqlite::memory:").await?;
//! store.migrate().await?;
//! let clerk = store
//!     .create_user(NewUser { is_staff: true, ..NewUser::new("clerk@example.com", "clerk") })
//!     .await?;
//! // Staff may open the admin, but a section needs its permission, and the log a superuser.
//! assert!(store.may(&clerk, Access::AdminIndex).await?);
//! let view_clients = Permission::new(Action::View, Model::Client);
//! assert!(!store.may(&clerk, Access::Admin(view_clients)).await?);
//! assert!(store.authorize(&clerk, Access::AuditLog).await.is_err());
//! # Ok(()) }
//! ```

use crate::accounts::{Permission, User};
use crate::error::{Error, Result};
use crate::store::Store;

/// The sentence of every refusal by [`Store::authorize`] (Django REST framework's wording).
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

/// What a user asks to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The admin's home page (its index of sections): any active staff user.
    AdminIndex,
    /// An admin section or action that needs this permission: active staff holding it.
    Admin(Permission),
    /// The audit log: active staff superusers only.
    AuditLog,
    /// Another superuser-only part of the admin (the webhooks): active staff superusers only.
    Superuser,
    /// The CSM routes outside the admin (`/api/v1/clients/`): any active user holding the
    /// permission, staff or not.
    Member(Permission),
}

impl Access {
    /// An admin section or action that needs `action` on `model`.
    pub fn admin(action: crate::accounts::Action, model: crate::accounts::Model) -> Self {
        Self::Admin(Permission::new(action, model))
    }
}

/// The store's authorization policy.
impl Store {
    /// Checks that `user` may use `access` and returns this store acting as them (their writes
    /// are recorded in the audit log under their name). Refusals are
    /// [`Error::PermissionDenied`] with [`PERMISSION_DENIED`]; only a permission check may
    /// reach the database (and fail with [`Error::Database`]).
    ///
    /// The user is judged as given: pass a fresh copy (e.g. from
    /// [`Store::user_for_token`], which already refuses inactive users).
    pub async fn authorize(&self, user: &User, access: Access) -> Result<Store> {
        if self.may(user, access).await? {
            Ok(self.acting_as(user))
        } else {
            Err(Error::PermissionDenied(PERMISSION_DENIED))
        }
    }

    /// Whether `user` may use `access` (the rule of [`Store::authorize`], as a yes or no).
    pub async fn may(&self, user: &User, access: Access) -> Result<bool> {
        let staff = user.is_active && user.is_staff;
        Ok(match access {
            Access::AdminIndex => staff,
            Access::Admin(permission) => staff && self.has_permission(user, permission).await?,
            Access::AuditLog | Access::Superuser => staff && user.is_superuser,
            Access::Member(permission) => {
                user.is_active && self.has_permission(user, permission).await?
            }
        })
    }
}
