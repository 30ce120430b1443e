//! The store's account operations: roles, users, grants and logins.

use std::collections::BTreeSet;

use serde_json::json;

use super::passwords::{
    dummy_hash, hashing, needs_rehash, password_errors, verify_password_blocking,
};
use super::{
    Action, CleanUser, Model, NewRole, NewUser, Permission, Role, RoleFilter, RoleSort, RoleUpdate,
    User, UserFilter, UserGrants, UserSort, UserUpdate, clean_name, clean_phone, clean_role_name,
    hash_password, unusable_password, verify_password,
};
use crate::audit::set_fields;
use crate::error::{AuthFailure, Error, Result, UniqueRule, ValidationErrors};
use crate::ids::{RoleId, UserId};
use crate::query::{Page, PageRequest, Sort};
use crate::store::{Store, dispatch};
use crate::validate;

/// Words a unique rule broken by a user or role write, in Django REST framework's sentences
/// (the SQL layer only says which rule: [`Error::unique_violation`]). Other errors pass through.
fn account_conflict(err: Error) -> Error {
    let (field, message) = match err.unique_violation() {
        None => return err,
        Some(UniqueRule::UserEmail) => ("email", "A user with that email already exists."),
        Some(UniqueRule::UserUsername) => ("username", "A user with that username already exists."),
        Some(UniqueRule::RoleName) => ("name", "A role with this name already exists."),
        Some(UniqueRule::OneActiveAssignment | UniqueRule::Other) => {
            ("non_field_errors", "This value is already taken.")
        }
    };
    Error::Conflict {
        field,
        message: message.to_owned(),
    }
}

/// What the store keeps of a login: the hash and whether the account may log in.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub user_id: UserId,
    pub password_hash: String,
    pub is_active: bool,
}

/// The store's account operations.
impl Store {
    /// Creates a role. Its name must be unique ([`Error::Conflict`] on `name` otherwise).
    pub async fn create_role(&self, role: NewRole) -> Result<Role> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", clean_role_name(&role.name));
        let description = errors.check(
            "description",
            validate::optional_text(&role.description, None),
        );
        errors.into_result()?;
        let (Some(name), Some(description)) = (name, description) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        let role = NewRole {
            name,
            description,
            permissions: role.permissions,
        };
        let changes = json!({
            "name": role.name,
            "description": role.description,
            "permissions": role.permissions,
        });
        dispatch!(self.create_role(&role, self.audit(changes))).map_err(account_conflict)
    }

    /// One role by id.
    pub async fn role(&self, id: RoleId) -> Result<Role> {
        dispatch!(self.role(id))
    }

    /// Changes a role; permissions, when given, replace the old set. One transaction.
    pub async fn update_role(&self, id: RoleId, mut update: RoleUpdate) -> Result<Role> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = &update.name {
            update.name = errors.check("name", clean_role_name(name));
        }
        if let Some(description) = &update.description {
            update.description =
                errors.check("description", validate::optional_text(description, None));
        }
        errors.into_result()?;
        let changes = set_fields([
            ("name", update.name.as_ref().map(|v| json!(v))),
            ("description", update.description.as_ref().map(|v| json!(v))),
            ("permissions", update.permissions.as_ref().map(|v| json!(v))),
        ]);
        dispatch!(self.update_role(id, &update, self.audit(changes))).map_err(account_conflict)
    }

    /// Deletes a role; its users keep their accounts with no role.
    pub async fn delete_role(&self, id: RoleId) -> Result<()> {
        dispatch!(self.delete_role(id, self.audit(json!({}))))
    }

    /// Roles matching `filter`, sorted (by name by default), one page.
    pub async fn list_roles(
        &self,
        filter: &RoleFilter,
        sort: Sort<RoleSort>,
        page: PageRequest,
    ) -> Result<Page<Role>> {
        dispatch!(self.list_roles(filter, sort, page))
    }

    /// Creates a user, hashing the password with argon2 off the async threads. Email and
    /// username must be unique ([`Error::Conflict`] naming the field otherwise); every field
    /// rule is checked first and all broken ones are reported together.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rivo_core::Error> {
    /// use rivo_core::{accounts::NewUser, Store};
    /// let store = Store::open("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let ann = store
    ///     .create_user(NewUser::new("ann@example.com", "ann").password("long enough secret"))
    ///     .await?;
    /// let again = store.authenticate("ANN@example.com", "long enough secret").await?;
    /// assert_eq!(again.id, ann.id);
    /// assert!(store.authenticate("ann@example.com", "wrong").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn create_user(&self, user: NewUser) -> Result<User> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", validate::email(&user.email));
        let username = errors.check("username", validate::username(&user.username));
        let first_name = errors.check("first_name", clean_name(&user.first_name));
        let last_name = errors.check("last_name", clean_name(&user.last_name));
        let phone = errors.check("phone", clean_phone(&user.phone));
        if let Some(password) = &user.password {
            password_errors(
                &mut errors,
                "password",
                password,
                &[
                    &user.email,
                    &user.username,
                    &user.first_name,
                    &user.last_name,
                ],
            );
        }
        errors.into_result()?;
        let (Some(email), Some(username), Some(first_name), Some(last_name), Some(phone)) =
            (email, username, first_name, last_name, phone)
        else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        let hash = match &user.password {
            Some(password) => hash_password(password).await?,
            None => unusable_password(),
        };
        let clean = CleanUser {
            email,
            username,
            first_name,
            last_name,
            phone,
        };
        let changes = json!({
            "email": clean.email,
            "username": clean.username,
            "first_name": clean.first_name,
            "last_name": clean.last_name,
            "phone": clean.phone,
            "role_id": user.role_id,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "permissions": user.permissions,
        });
        dispatch!(self.create_user(&clean, &user, &hash, self.audit(changes)))
            .map_err(account_conflict)
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> Result<User> {
        dispatch!(self.user(id))
    }

    /// One user by email (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        dispatch!(self.user_by_email(email.trim()))
    }

    /// Changes a user; permissions, when given, replace the directly held set. One transaction.
    pub async fn update_user(&self, id: UserId, mut update: UserUpdate) -> Result<User> {
        let mut errors = ValidationErrors::new();
        if let Some(v) = &update.email {
            update.email = errors.check("email", validate::email(v));
        }
        if let Some(v) = &update.username {
            update.username = errors.check("username", validate::username(v));
        }
        if let Some(v) = &update.first_name {
            update.first_name = errors.check("first_name", clean_name(v));
        }
        if let Some(v) = &update.last_name {
            update.last_name = errors.check("last_name", clean_name(v));
        }
        if let Some(v) = &update.phone {
            update.phone = errors.check("phone", clean_phone(v));
        }
        errors.into_result()?;
        let changes = set_fields([
            ("email", update.email.as_ref().map(|v| json!(v))),
            ("username", update.username.as_ref().map(|v| json!(v))),
            ("first_name", update.first_name.as_ref().map(|v| json!(v))),
            ("last_name", update.last_name.as_ref().map(|v| json!(v))),
            ("phone", update.phone.as_ref().map(|v| json!(v))),
            ("role_id", update.role_id.map(|v| json!(v))),
            ("is_active", update.is_active.map(|v| json!(v))),
            ("is_staff", update.is_staff.map(|v| json!(v))),
            ("is_superuser", update.is_superuser.map(|v| json!(v))),
            ("permissions", update.permissions.as_ref().map(|v| json!(v))),
        ]);
        dispatch!(self.update_user(id, &update, self.audit(changes))).map_err(account_conflict)
    }

    /// Deletes a user. Their assignments go with them; stage changes and assignments they made,
    /// and users they created, keep existing with the link set to none.
    pub async fn delete_user(&self, id: UserId) -> Result<()> {
        dispatch!(self.delete_user(id, self.audit(json!({}))))
    }

    /// Users matching `filter`, sorted (newest first by default), one page.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        sort: Sort<UserSort>,
        page: PageRequest,
    ) -> Result<Page<User>> {
        dispatch!(self.list_users(filter, sort, page))
    }

    /// Sets a new password after checking it against [`check_password`](super::check_password) with the user's own
    /// attributes, and ends every token and session of the user (in the same transaction). The
    /// hash is computed off the async threads.
    pub async fn set_password(&self, id: UserId, password: &str) -> Result<()> {
        let user = self.user(id).await?;
        let mut errors = ValidationErrors::new();
        password_errors(
            &mut errors,
            "password",
            password,
            &[
                &user.email,
                &user.username,
                &user.first_name,
                &user.last_name,
            ],
        );
        errors.into_result()?;
        let hash = hash_password(password).await?;
        let changes = json!({ "password": "changed" });
        dispatch!(self.set_password_hash(id, &hash, self.audit(changes)))
    }

    /// Checks an email and password and records the login time.
    ///
    /// Fails with [`Error::Authentication`] for an unknown email, a wrong password or an
    /// inactive account alike; its [`AuthFailure`] says which for logs. An unknown email costs
    /// as much time as a wrong password.
    ///
    /// Hashes imported from the Django app (`pbkdf2_sha256$…`) are accepted and replaced by an
    /// argon2 hash at the first successful login.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<User> {
        // No stored email holds NUL (validation refuses it; PostgreSQL text cannot hold it).
        let credentials: Option<Credentials> = if email.contains('\0') {
            None
        } else {
            dispatch!(self.credentials(email.trim()))?
        };
        let Some(credentials) = credentials else {
            // The dummy hash is made (once) on the hashing thread too, never on a runtime worker.
            let password = password.to_owned();
            let _ = hashing("password check", move || {
                verify_password_blocking(&password, dummy_hash())
            })
            .await?;
            return Err(Error::Authentication(AuthFailure::UnknownEmail));
        };
        if !verify_password(password, &credentials.password_hash).await? {
            return Err(Error::Authentication(AuthFailure::WrongPassword));
        }
        if needs_rehash(&credentials.password_hash) {
            // An imported Django hash matched: store rivo's argon2 instead, like Django's own
            // hasher upgrade (only the hash changes). A failure here must not fail the login.
            let old = credentials.password_hash.as_str();
            let upgraded = match hash_password(password).await {
                Ok(new) => dispatch!(self.upgrade_password_hash(credentials.user_id, old, &new)),
                Err(e) => Err(e),
            };
            if let Err(e) = upgraded {
                tracing::warn!(user_id = %credentials.user_id, error = %e, "password hash upgrade failed");
            }
        }
        if !credentials.is_active {
            return Err(Error::Authentication(AuthFailure::Inactive));
        }
        dispatch!(self.record_login(credentials.user_id))
    }

    /// The permissions held by the user directly (not through the role).
    pub async fn user_permissions(&self, id: UserId) -> Result<BTreeSet<Permission>> {
        dispatch!(self.user_permissions(id))
    }

    /// The permissions each of `ids` holds directly (not through the role), in one query: a
    /// page of users costs one query, whatever its size. Every id is a key (unknown ids and
    /// users without permissions map to an empty set).
    pub async fn permissions_of_users(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<UserId, BTreeSet<Permission>>> {
        dispatch!(self.permissions_of_users(ids))
    }

    /// The emails of the users `ids` (their `__str__` in the admin), in one query; unknown ids
    /// are left out.
    pub async fn user_emails(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<UserId, String>> {
        let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
        Ok(dispatch!(self.user_emails(&raw))?
            .into_iter()
            .map(|(id, email)| (UserId(id), email))
            .collect())
    }

    /// Everything the user may do: nothing when inactive, every permission for a superuser,
    /// otherwise their own permissions plus their role's.
    pub async fn effective_permissions(&self, user: &User) -> Result<BTreeSet<Permission>> {
        if !user.is_active {
            return Ok(BTreeSet::new());
        }
        if user.is_superuser {
            return Ok(Permission::all().collect());
        }
        let mut permissions = self.user_permissions(user.id).await?;
        if let Some(role) = user.role_id {
            match self.role(role).await {
                Ok(role) => permissions.extend(role.permissions),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(permissions)
    }

    /// Creates a user on behalf of `actor`, who must hold `account.add_user`, after checking
    /// what the new account would be granted ([`Store::check_user_grants`](crate::Store::check_user_grants)).
    pub async fn create_user_as(&self, actor: &User, user: NewUser) -> Result<User> {
        self.check_user_grants(
            actor,
            UserGrants {
                is_superuser: user.is_superuser,
                is_staff: user.is_staff,
                permissions: !user.permissions.is_empty(),
                role: user.role_id.is_some(),
            },
        )
        .await?;
        self.create_user(user).await
    }

    /// Changes a user on behalf of `actor` (who must hold `account.change_user`), after checking
    /// the grants the change makes ([`Store::check_user_grants`](crate::Store::check_user_grants)): setting `is_superuser` to
    /// a value other than the current one counts as granting (or revoking) it.
    pub async fn update_user_as(
        &self,
        actor: &User,
        id: UserId,
        update: UserUpdate,
    ) -> Result<User> {
        let superuser_changes = match update.is_superuser {
            Some(wanted) => self.user(id).await?.is_superuser != wanted,
            None => false,
        };
        self.check_user_grants(
            actor,
            UserGrants {
                is_superuser: superuser_changes,
                is_staff: update.is_staff.is_some(),
                permissions: update.permissions.is_some(),
                role: update.role_id.is_some(),
            },
        )
        .await?;
        self.update_user(id, update).await
    }

    /// The rule of who grants what on user accounts (issue 15, finding 4), like Django's admin,
    /// whose add form cannot set `is_superuser` and leaves staff status, groups and permissions
    /// to the change form:
    ///
    /// - only an active superuser grants or revokes `is_superuser`;
    /// - setting `is_staff`, permissions or a role (which grants its permissions) needs
    ///   `account.change_user`, so `account.add_user` alone creates plain, non-staff accounts.
    ///
    /// Answers [`Error::PermissionDenied`] when `actor` may not.
    pub async fn check_user_grants(&self, actor: &User, grants: UserGrants) -> Result<()> {
        if grants.is_superuser && !(actor.is_active && actor.is_superuser) {
            return Err(Error::PermissionDenied(
                "Only a superuser may grant or revoke superuser status.",
            ));
        }
        if (grants.is_staff || grants.permissions || grants.role)
            && !self
                .has_permission(actor, Permission::new(Action::Change, Model::User))
                .await?
        {
            return Err(Error::PermissionDenied(
                "Setting staff status, a role or permissions requires the \"account.change_user\" permission.",
            ));
        }
        Ok(())
    }

    /// Whether the user may do `permission` (see [`Store::effective_permissions`](crate::Store::effective_permissions)).
    pub async fn has_permission(&self, user: &User, permission: Permission) -> Result<bool> {
        if !user.is_active {
            return Ok(false);
        }
        if user.is_superuser {
            return Ok(true);
        }
        Ok(self
            .effective_permissions(user)
            .await?
            .contains(&permission))
    }
}
