//! Users, roles and their permissions.

use std::collections::BTreeSet;

use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, Tx, commit_recorded, not_found, now};
use crate::accounts::{
    CleanUser, Credentials, NewRole, NewUser, Permission, Role, RoleFilter, RoleSort, RoleUpdate,
    User, UserFilter, UserSort, UserUpdate,
};
use crate::audit::{Audit, AuditAction};
use crate::error::{Error, Result};
use crate::ids::{RoleId, UserId};
use crate::names::stored;
use crate::query::{Page, PageRequest, Sort};
use crate::store::rows::{CredentialsRow, ROLE_COLS, RoleRow, USER_COLS, UserRow};

/// A role row kept as is through [`Sql::list`], to attach permissions afterwards.
pub(super) struct RoleRowOk(pub(super) RoleRow);

impl TryFrom<RoleRow> for RoleRowOk {
    type Error = Error;
    fn try_from(row: RoleRow) -> Result<Self> {
        Ok(Self(row))
    }
}

impl<DB: Dialect> Sql<DB> {
    /// Fills `users.email_key` (migration 0004) where it is missing: rows written before the
    /// migration or by the Django import. Computed here in Rust because SQL's `lower()` differs
    /// between the backends ([`crate::email_identity`]). Two existing users with one identity
    /// (possible before, on SQLite) stop the migration with a clear error naming them.
    pub(crate) async fn backfill_email_keys(&self) -> Result<u64> {
        let mut tx = self.begin().await?;
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, email FROM users WHERE email_key IS NULL ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        for (id, email) in &rows {
            let key = crate::validate::email_identity(email);
            // Looked up first: on PostgreSQL a failed UPDATE would abort the transaction.
            let other: Option<i64> =
                sqlx::query_scalar("SELECT id FROM users WHERE email_key = $1")
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(other) = other {
                return Err(Error::Corrupt(format!(
                    "users {other} and {id} have the same email once normalised ({key:?}): \
                     change one of the two emails, then migrate again"
                )));
            }
            sqlx::query("UPDATE users SET email_key = $1 WHERE id = $2")
                .bind(&key)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    pub(super) async fn role_permissions(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT role_id, permission FROM role_permissions WHERE role_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(")");
        Ok(qb.build_query_as().fetch_all(&self.read).await?)
    }

    pub(super) async fn replace_permissions(
        tx: &mut Tx<DB>,
        table: &str,
        owner_column: &str,
        owner: i64,
        permissions: &BTreeSet<Permission>,
    ) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE {owner_column} = $1"
        )))
        .bind(owner)
        .execute(&mut **tx)
        .await?;
        if permissions.is_empty() {
            return Ok(());
        }
        let mut qb =
            QueryBuilder::<DB>::new(format!("INSERT INTO {table} ({owner_column}, permission) "));
        qb.push_values(permissions, |mut row, p| {
            row.push_bind(owner).push_bind(p.to_string());
        });
        qb.build().execute(&mut **tx).await?;
        Ok(())
    }

    pub(crate) async fn create_role(&self, role: &NewRole, audit: Audit<'_>) -> Result<Role> {
        let mut tx = self.begin().await?;
        let at = now();
        let row: RoleRow = sqlx::query_as(
            "INSERT INTO roles (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             RETURNING id, name, description, created_at, updated_at",
        )
        .bind(&role.name)
        .bind(&role.description)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from)?;
        Self::replace_permissions(
            &mut tx,
            "role_permissions",
            "role_id",
            row.id,
            &role.permissions,
        )
        .await?;
        commit_recorded(tx, &audit, AuditAction::Create, "role", row.id, &role.name).await?;
        let perms: Vec<(i64, String)> = role
            .permissions
            .iter()
            .map(|p| (row.id, p.to_string()))
            .collect();
        row.into_role(&perms)
    }

    pub(crate) async fn role(&self, id: RoleId) -> Result<Role> {
        let row: RoleRow = self.row_by_id(ROLE_COLS, "roles", id.0, "role").await?;
        let perms = self.role_permissions(&[row.id]).await?;
        row.into_role(&perms)
    }

    pub(crate) async fn update_role(
        &self,
        id: RoleId,
        update: &RoleUpdate,
        audit: Audit<'_>,
    ) -> Result<Role> {
        let mut tx = self.begin().await?;
        let mut qb = QueryBuilder::<DB>::new("UPDATE roles SET updated_at = ");
        qb.push_bind(now());
        if let Some(name) = &update.name {
            qb.push(", name = ").push_bind(name.clone());
        }
        if let Some(description) = &update.description {
            qb.push(", description = ").push_bind(description.clone());
        }
        qb.push(" WHERE id = ").push_bind(id.0);
        qb.push(" RETURNING name");
        let name: String = qb
            .build_query_scalar()
            .fetch_one(&mut *tx)
            .await
            .map_err(not_found("role"))?;
        if let Some(permissions) = &update.permissions {
            Self::replace_permissions(&mut tx, "role_permissions", "role_id", id.0, permissions)
                .await?;
        }
        commit_recorded(tx, &audit, AuditAction::Update, "role", id, &name).await?;
        self.role(id).await
    }

    pub(crate) async fn delete_role(&self, id: RoleId, audit: Audit<'_>) -> Result<()> {
        self.delete_returning_repr("roles", "name", "role", "role", id.0, audit)
            .await
    }

    /// Deletes one row by id, recording `repr_column` in the audit log; NotFound if absent.
    pub(super) async fn delete_returning_repr(
        &self,
        table: &str,
        repr_column: &str,
        object_type: &str,
        entity: &'static str,
        id: i64,
        audit: Audit<'_>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let repr: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE id = $1 RETURNING {repr_column}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(repr) = repr else {
            return Err(Error::NotFound { entity });
        };
        commit_recorded(tx, &audit, AuditAction::Delete, object_type, id, &repr).await?;
        Ok(())
    }

    pub(crate) async fn list_roles(
        &self,
        filter: &RoleFilter,
        sort: Sort<RoleSort>,
        page: PageRequest,
    ) -> Result<Page<Role>> {
        let rows: Page<RoleRowOk> = self
            .list::<RoleRow, RoleRowOk, _>(ROLE_COLS, "roles", &filter.conds().0, sort, page)
            .await?;
        let ids: Vec<i64> = rows.items.iter().map(|r| r.0.id).collect();
        let perms = self.role_permissions(&ids).await?;
        let items = rows
            .items
            .into_iter()
            .map(|r| r.0.into_role(&perms))
            .collect::<Result<_>>()?;
        Ok(Page {
            items,
            total: rows.total,
            estimated: rows.estimated,
            has_next: rows.has_next,
        })
    }

    pub(crate) async fn create_user(
        &self,
        clean: &CleanUser,
        user: &NewUser,
        password_hash: &str,
        audit: Audit<'_>,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        Self::check_ref(&mut tx, "roles", "role_id", user.role_id.map(|r| r.0)).await?;
        Self::check_ref(&mut tx, "users", "created_by", user.created_by.map(|u| u.0)).await?;
        let at = now();
        let row: UserRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO users (email, username, password, first_name, last_name, phone, role_id, \
             created_by_id, is_active, is_staff, is_superuser, date_joined, created_at, updated_at, \
             email_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, $13) \
             RETURNING {USER_COLS}"
        )))
        .bind(&clean.email)
        .bind(&clean.username)
        .bind(password_hash)
        .bind(&clean.first_name)
        .bind(&clean.last_name)
        .bind(&clean.phone)
        .bind(user.role_id.map(|r| r.0))
        .bind(user.created_by.map(|u| u.0))
        .bind(user.is_active)
        .bind(user.is_staff)
        .bind(user.is_superuser)
        .bind(at)
        .bind(crate::validate::email_identity(&clean.email))
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from)?;
        let created = User::try_from(row)?;
        Self::replace_permissions(
            &mut tx,
            "user_permissions",
            "user_id",
            created.id.0,
            &user.permissions,
        )
        .await?;
        commit_recorded(
            tx,
            &audit,
            AuditAction::Create,
            "user",
            created.id,
            &created.email,
        )
        .await?;
        Ok(created)
    }

    pub(crate) async fn user(&self, id: UserId) -> Result<User> {
        let row: UserRow = self.row_by_id(USER_COLS, "users", id.0, "user").await?;
        row.try_into()
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> Result<User> {
        let row: UserRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE email_key = $1"
        )))
        .bind(crate::validate::email_identity(email))
        .fetch_one(&self.read)
        .await
        .map_err(not_found("user"))?;
        row.try_into()
    }

    pub(crate) async fn update_user(
        &self,
        id: UserId,
        update: &UserUpdate,
        audit: Audit<'_>,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        if let Some(role) = update.role_id {
            Self::check_ref(&mut tx, "roles", "role_id", role.map(|r| r.0)).await?;
        }
        let mut qb = QueryBuilder::<DB>::new("UPDATE users SET updated_at = ");
        qb.push_bind(now());
        for (column, value) in [
            ("email", &update.email),
            ("username", &update.username),
            ("first_name", &update.first_name),
            ("last_name", &update.last_name),
            ("phone", &update.phone),
        ] {
            if let Some(value) = value {
                qb.push(format_args!(", {column} = "))
                    .push_bind(value.clone());
            }
        }
        if let Some(email) = &update.email {
            qb.push(", email_key = ")
                .push_bind(crate::validate::email_identity(email));
        }
        if let Some(role) = update.role_id {
            qb.push(", role_id = ").push_bind(role.map(|r| r.0));
        }
        for (column, value) in [
            ("is_active", update.is_active),
            ("is_staff", update.is_staff),
            ("is_superuser", update.is_superuser),
        ] {
            if let Some(value) = value {
                qb.push(format_args!(", {column} = ")).push_bind(value);
            }
        }
        qb.push(" WHERE id = ").push_bind(id.0);
        qb.push(format_args!(" RETURNING {USER_COLS}"));
        let row: UserRow = qb
            .build_query_as()
            .fetch_one(&mut *tx)
            .await
            .map_err(not_found("user"))?;
        if let Some(permissions) = &update.permissions {
            Self::replace_permissions(&mut tx, "user_permissions", "user_id", id.0, permissions)
                .await?;
        }
        let user = User::try_from(row)?;
        commit_recorded(tx, &audit, AuditAction::Update, "user", id, &user.email).await?;
        Ok(user)
    }

    pub(crate) async fn delete_user(&self, id: UserId, audit: Audit<'_>) -> Result<()> {
        self.delete_returning_repr("users", "email", "user", "user", id.0, audit)
            .await
    }

    pub(crate) async fn list_users(
        &self,
        filter: &UserFilter,
        sort: Sort<UserSort>,
        page: PageRequest,
    ) -> Result<Page<User>> {
        self.list::<UserRow, _, _>(USER_COLS, "users", &filter.conds().0, sort, page)
            .await
    }

    /// Stores a new password hash and revokes every token and session of the user.
    pub(crate) async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        audit: Audit<'_>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let email: Option<String> = sqlx::query_scalar(
            "UPDATE users SET password = $1, updated_at = $2 WHERE id = $3 RETURNING email",
        )
        .bind(hash)
        .bind(now())
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(email) = email else {
            return Err(Error::NotFound { entity: "user" });
        };
        sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        commit_recorded(tx, &audit, AuditAction::Update, "user", id, &email).await?;
        Ok(())
    }

    pub(crate) async fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        let row: Option<CredentialsRow> =
            sqlx::query_as("SELECT id, password, is_active FROM users WHERE email_key = $1")
                .bind(crate::validate::email_identity(email))
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|r| Credentials {
            user_id: UserId(r.id),
            password_hash: r.password,
            is_active: r.is_active,
        }))
    }

    pub(crate) async fn record_login(&self, id: UserId) -> Result<User> {
        // `fetch_all`: an autocommit RETURNING statement must be stepped to its end for
        // SQLite to run its auto-checkpoint (see the SQLite backend's `append`).
        let rows: Vec<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE users SET last_login = $1 WHERE id = $2 RETURNING {USER_COLS}"
        )))
        .bind(now())
        .bind(id.0)
        .fetch_all(&self.write)
        .await?;
        rows.into_iter()
            .next()
            .ok_or(Error::NotFound { entity: "user" })?
            .try_into()
    }

    pub(crate) async fn user_permissions(&self, id: UserId) -> Result<BTreeSet<Permission>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT permission FROM user_permissions WHERE user_id = $1")
                .bind(id.0)
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(|p| stored("permission", p)).collect()
    }

    pub(crate) async fn permissions_of_users(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::BTreeMap<UserId, BTreeSet<Permission>>> {
        let mut held: std::collections::BTreeMap<UserId, BTreeSet<Permission>> =
            ids.iter().map(|id| (*id, BTreeSet::new())).collect();
        if ids.is_empty() {
            return Ok(held);
        }
        let mut query = QueryBuilder::<DB>::new(
            "SELECT user_id, permission FROM user_permissions WHERE user_id IN (",
        );
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.0);
        }
        query.push(")");
        let rows: Vec<(i64, String)> = query.build_query_as().fetch_all(&self.read).await?;
        for (user, permission) in rows {
            let permission = stored("permission", &permission)?;
            held.entry(UserId(user)).or_default().insert(permission);
        }
        Ok(held)
    }
}
