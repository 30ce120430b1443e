//! Users and roles as callers see them: the records, what creating or changing one takes,
//! list filters, and the field rules (names, phones).

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Permission;
use crate::error::{Result, Rule};
use crate::ids::{RoleId, UserId};
use crate::query::{Conds, sort_fields};
use crate::validate;

/// A role: a named set of permissions given to users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Id.
    pub id: RoleId,
    /// Unique, 1 to 100 characters.
    pub name: String,
    /// Free text, may be empty.
    pub description: String,
    /// What users with this role may do.
    pub permissions: BTreeSet<Permission>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A role to create.
#[derive(Debug, Clone, Default)]
pub struct NewRole {
    /// Unique, 1 to 100 characters.
    pub name: String,
    /// Free text.
    pub description: String,
    /// What users with this role may do.
    pub permissions: BTreeSet<Permission>,
}

/// Changes to a role; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoleUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New permission set (replaces the old one).
    pub permissions: Option<BTreeSet<Permission>>,
}

/// Filters for [`Store::list_roles`](crate::Store::list_roles).
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    /// Case-insensitive substring of name or description.
    pub search: Option<String>,
}

sort_fields!(
    /// Fields roles can be sorted by.
    RoleSort {
        /// Name.
        Name => ("name", "name"),
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Id.
        Id => ("id", "id"),
    }
);

pub(crate) const ROLE_NAME_MAX: usize = 100;

pub(crate) fn clean_role_name(name: &str) -> Result<String, Rule> {
    validate::required_text(name, Some(ROLE_NAME_MAX))
}

/// A user account. The password hash is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login identifier, unique case-insensitively.
    pub email: String,
    /// Unique, 1 to 150 characters of letters, digits and `@.+-_`.
    pub username: String,
    /// At most 150 characters, may be empty.
    pub first_name: String,
    /// At most 150 characters, may be empty.
    pub last_name: String,
    /// At most 20 characters, may be empty.
    pub phone: String,
    /// The role, if any.
    pub role_id: Option<RoleId>,
    /// Who created this user, if known.
    pub created_by: Option<UserId>,
    /// Inactive users cannot log in and hold no permissions.
    pub is_active: bool,
    /// Staff users may use the admin.
    pub is_staff: bool,
    /// Superusers hold every permission.
    pub is_superuser: bool,
    /// Last successful login.
    pub last_login: Option<DateTime<Utc>>,
    /// When the account was opened.
    pub date_joined: DateTime<Utc>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row was last changed.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// "First Last", or the email when both names are empty.
    pub fn display_name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if full.is_empty() {
            self.email.clone()
        } else {
            full.to_owned()
        }
    }
}

/// A user to create. The password is hashed with argon2 before it reaches the database.
///
/// Its one default ([`NewUser::default`], also behind [`NewUser::new`] and
/// `NewUser { .., ..Default::default() }`) is an *active* user that is neither staff nor
/// superuser, with no password, role or permissions: an account is active unless said otherwise.
///
/// ```
/// use rivo_core::accounts::NewUser;
/// assert!(NewUser::default().is_active);
/// assert!(NewUser::new("ann@example.com", "ann").is_active);
/// assert!(!NewUser::default().is_staff && !NewUser::default().is_superuser);
/// ```
#[derive(Clone)]
pub struct NewUser {
    /// Login email (required, unique case-insensitively).
    pub email: String,
    /// Username (required, unique).
    pub username: String,
    /// Plain-text password, checked against [`check_password`](super::check_password); `None` makes an account that
    /// cannot log in until a password is set.
    pub password: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Phone.
    pub phone: String,
    /// Role.
    pub role_id: Option<RoleId>,
    /// Who creates this user.
    pub created_by: Option<UserId>,
    /// Whether the account may log in (default `true`).
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Permissions held directly (besides the role's).
    pub permissions: BTreeSet<Permission>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("role_id", &self.role_id)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

impl Default for NewUser {
    /// An active user, not staff, not superuser, with nothing else set.
    fn default() -> Self {
        Self {
            email: String::new(),
            username: String::new(),
            password: None,
            first_name: String::new(),
            last_name: String::new(),
            phone: String::new(),
            role_id: None,
            created_by: None,
            is_active: true,
            is_staff: false,
            is_superuser: false,
            permissions: BTreeSet::new(),
        }
    }
}

impl NewUser {
    /// The [default](NewUser::default) user (active) with this email and username.
    pub fn new(email: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            username: username.into(),
            ..Self::default()
        }
    }

    /// Sets the password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

/// Changes to a user; `None` leaves a field as it is. The password is changed with
/// [`Store::set_password`](crate::Store::set_password) only.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New email.
    pub email: Option<String>,
    /// New username.
    pub username: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New role (`Some(None)` removes it).
    pub role_id: Option<Option<RoleId>>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New staff flag.
    pub is_staff: Option<bool>,
    /// New superuser flag.
    pub is_superuser: Option<bool>,
    /// New set of directly held permissions (replaces the old one).
    pub permissions: Option<BTreeSet<Permission>>,
}

/// What a user creation or change would grant, for [`Store::check_user_grants`](crate::Store::check_user_grants).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserGrants {
    /// Grants (or revokes) superuser status.
    pub is_superuser: bool,
    /// Sets staff status (to `true` on creation, to any value on a change).
    pub is_staff: bool,
    /// Sets directly held permissions.
    pub permissions: bool,
    /// Sets a role, whose permissions the user then holds.
    pub role: bool,
}

/// Filters for [`Store::list_users`](crate::Store::list_users).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of email, username, first or last name.
    pub search: Option<String>,
    /// Only active (or inactive) users.
    pub is_active: Option<bool>,
    /// Only staff (or non-staff) users.
    pub is_staff: Option<bool>,
    /// Only superusers (or others).
    pub is_superuser: Option<bool>,
    /// Only users with this role.
    pub role_id: Option<RoleId>,
}

impl UserFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.indexed_search(
            "users_fts",
            &["email", "username", "first_name", "last_name"],
            self.search.as_deref(),
        )
        .eq("is_active", self.is_active)
        .eq("is_staff", self.is_staff)
        .eq("is_superuser", self.is_superuser)
        .eq("role_id", self.role_id);
        c
    }
}

impl RoleFilter {
    pub(crate) fn conds(&self) -> Conds {
        let mut c = Conds::default();
        c.search(&["name", "description"], self.search.as_deref());
        c
    }
}

sort_fields!(
    /// Fields users can be sorted by.
    UserSort {
        /// Creation time.
        CreatedAt => ("created_at", "created_at"),
        /// Email.
        Email => ("email", "email"),
        /// Username.
        Username => ("username", "username"),
        /// First name.
        FirstName => ("first_name", "first_name"),
        /// Last name.
        LastName => ("last_name", "last_name"),
        /// Date joined.
        DateJoined => ("date_joined", "date_joined"),
        /// Last login.
        LastLogin => ("last_login", "last_login"),
        /// Id.
        Id => ("id", "id"),
    }
);

/// Validated user fields, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct CleanUser {
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
}

pub(crate) fn clean_name(value: &str) -> Result<String, Rule> {
    validate::optional_text(value, Some(150))
}

pub(crate) fn clean_phone(value: &str) -> Result<String, Rule> {
    validate::optional_text(value, Some(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_user_debug_hides_password() {
        let user = NewUser::new("a@b.co", "a").password("hunter22");
        assert!(!format!("{user:?}").contains("hunter22"));
    }
}
