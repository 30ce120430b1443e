// Storage operations written once and compiled for each backend: this file is `include!`d by
// `postgres.rs` and `sqlite.rs`, each of which defines `Db`, `Backend` (with `read` and `write`
// pools, `begin()` and `append()`), `LIKE` (the case-insensitive LIKE operator) and
// `FOR_UPDATE` (the row-lock suffix, empty where the single writer already serialises).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::accounts::{
    CleanUser, Credentials, NewRole, NewUser, Permission, Role, RoleFilter, RoleSort, RoleUpdate,
    User, UserFilter, UserSort, UserUpdate,
};
use crate::audit::{Audit, AuditAction, AuditEntry, AuditFilter, AuditSort};
use crate::chat::{
    ChatMessage, HistoryCursor, MessageFilter, MessageSort, SessionFilter, SessionSummary,
};
use crate::clients::{
    Assignment, AssignmentFilter, CleanClient, Client, ClientContext, ClientFilter, ClientSort,
    ClientUpdate, ContextChange, ContextFilter, HistorySort, NewClient, Stage, StageChange,
    StageChangeFilter, StageOutcome,
};
use crate::error::{Error, Result, Rule};
use crate::events::{ClientCreated, Event};
use crate::ids::*;
use crate::query::{Cond, Page, PageRequest, Sort};
use crate::store::rows::*;

type Tx = sqlx::Transaction<'static, Db>;


impl Backend {
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

    pub(crate) async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    // ----- chat -----

    pub(crate) async fn history(&self, session_id: SessionId) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
             WHERE session_id = $1 ORDER BY sent_at, id",
        )
        .bind(session_id.0)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(ChatMessage::try_from).collect()
    }

    pub(crate) async fn history_page(
        &self,
        session_id: SessionId,
        after: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        let rows: Vec<MessageRow> = match after {
            None => {
                sqlx::query_as(
                    "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
                     WHERE session_id = $1 ORDER BY sent_at, id LIMIT $2",
                )
                .bind(session_id.0)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
            Some(cursor) => {
                sqlx::query_as(
                    "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages \
                     WHERE session_id = $1 AND (sent_at > $2 OR (sent_at = $2 AND id > $3)) \
                     ORDER BY sent_at, id LIMIT $4",
                )
                .bind(session_id.0)
                .bind(cursor.sent_at)
                .bind(cursor.id.0)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
            }
        };
        rows.into_iter().map(ChatMessage::try_from).collect()
    }

    pub(crate) async fn message(&self, id: MessageId) -> Result<ChatMessage> {
        let row: MessageRow = sqlx::query_as(
            "SELECT id, session_id, message, sender_type, data_type, sent_at FROM chat_messages WHERE id = $1",
        )
        .bind(id.0)
        .fetch_one(&self.read)
        .await
        .map_err(not_found("message"))?;
        row.try_into()
    }

    pub(crate) async fn list_messages(
        &self,
        filter: &MessageFilter,
        sort: Sort<MessageSort>,
        page: PageRequest,
    ) -> Result<Page<ChatMessage>> {
        self.list::<MessageRow, _, _>(MESSAGE_COLS, "chat_messages", &filter.conds().0, sort, page)
            .await
    }

    pub(crate) async fn delete_message(&self, id: MessageId, audit: Audit<'_>) -> Result<()> {
        match self.delete_messages(&[id], audit).await? {
            0 => Err(Error::NotFound { entity: "message" }),
            _ => Ok(()),
        }
    }

    pub(crate) async fn delete_messages(&self, ids: &[MessageId], audit: Audit<'_>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let mut deleted = 0;
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<Db>::new("DELETE FROM chat_messages WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.0);
            }
            qb.push(") RETURNING id, session_id, message");
            let gone: Vec<(i64, uuid::Uuid, String)> =
                qb.build_query_as().fetch_all(&mut *tx).await?;
            // The session is recorded so that erasing it later can scrub these previews.
            let entries: Vec<(String, String, serde_json::Value)> = gone
                .iter()
                .map(|(id, session, message)| {
                    (
                        id.to_string(),
                        preview(message),
                        serde_json::json!({ "session_id": SessionId(*session).to_string() }),
                    )
                })
                .collect();
            record_many(
                &mut tx,
                &audit,
                AuditAction::Delete,
                "chathistory",
                &entries,
            )
            .await?;
            deleted += gone.len() as u64;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub(crate) async fn list_sessions(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
    ) -> Result<Page<SessionSummary>> {
        self.sessions_page(filter, None, page.clamped_limit(), page.clamped_offset())
            .await
    }

    pub(crate) async fn list_sessions_after(
        &self,
        filter: &SessionFilter,
        after: Option<crate::chat::SessionCursor>,
        limit: u32,
    ) -> Result<Page<SessionSummary>> {
        self.sessions_page(filter, after, i64::from(limit), 0).await
    }

    /// A page of session rows, most recently active first, after `after` and `offset`.
    async fn sessions_page(
        &self,
        filter: &SessionFilter,
        after: Option<crate::chat::SessionCursor>,
        limit: i64,
        offset: i64,
    ) -> Result<Page<SessionSummary>> {
        let search = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let push_filter = |qb: &mut QueryBuilder<Db>| match search {
            Some(text) if text.contains('\0') => {
                qb.push(" WHERE 1 = 0");
            }
            Some(text) => {
                qb.push(" WHERE session_id IN (SELECT session_id FROM chat_messages WHERE ");
                push_fts(qb, "chat_messages_fts", text);
                push_like(qb, &["message"], &crate::query::like_pattern(text));
                qb.push(")");
            }
            None => {
                qb.push(" WHERE 1 = 1");
            }
        };
        let (total, estimated) = self
            .bounded_count("chat_sessions", search.is_none(), push_filter)
            .await?;
        let mut select = QueryBuilder::<Db>::new(
            "SELECT session_id, client_id, message_count, first_message_at AS first_sent_at, \
             last_message_at AS last_sent_at, last_message_preview, last_sender_type \
             FROM chat_sessions",
        );
        push_filter(&mut select);
        if let Some(cursor) = after {
            // Written so that the (last_message_at DESC, session_id) index starts at the cursor.
            select
                .push(" AND last_message_at <= ")
                .push_bind(cursor.last_sent_at);
            select
                .push(" AND (last_message_at < ")
                .push_bind(cursor.last_sent_at);
            select
                .push(" OR session_id > ")
                .push_bind(cursor.session_id.0)
                .push(")");
        }
        select.push(" ORDER BY last_message_at DESC, session_id LIMIT ");
        select.push_bind(limit + 1);
        select.push(" OFFSET ").push_bind(offset);
        let rows: Vec<SessionRow> = select.build_query_as().fetch_all(&self.read).await?;
        paged(rows, limit, total, estimated)
    }

    pub(crate) async fn list_messages_after(
        &self,
        filter: &MessageFilter,
        after: Option<HistoryCursor>,
        limit: u32,
    ) -> Result<Page<ChatMessage>> {
        let conds = filter.conds().0;
        let (total, estimated) = self
            .bounded_count("chat_messages", conds.is_empty(), |qb| {
                push_where(qb, &conds)
            })
            .await?;
        let mut all = conds.clone();
        if let Some(cursor) = after {
            all.push(Cond::AfterDesc(
                "sent_at",
                cursor.sent_at.into(),
                cursor.id.0,
            ));
        }
        let mut select =
            QueryBuilder::<Db>::new(format!("SELECT {MESSAGE_COLS} FROM chat_messages"));
        push_where(&mut select, &all);
        select.push(" ORDER BY sent_at DESC, id DESC LIMIT ");
        let limit = i64::from(limit);
        select.push_bind(limit + 1);
        let rows: Vec<MessageRow> = select.build_query_as().fetch_all(&self.read).await?;
        paged(rows, limit, total, estimated)
    }

    pub(crate) async fn delete_session(
        &self,
        session_id: SessionId,
        audit: Audit<'_>,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM chat_messages WHERE session_id = $1")
            .bind(session_id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            let audit = Audit {
                changes: serde_json::json!({ "messages": deleted }),
                ..audit
            };
            let id = session_id.to_string();
            record(
                &mut tx,
                &audit,
                AuditAction::Delete,
                "chatsession",
                &id,
                &id,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    // ----- accounts -----

    async fn role_permissions(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT role_id, permission FROM role_permissions WHERE role_id IN (",
        );
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(")");
        Ok(qb.build_query_as().fetch_all(&self.read).await?)
    }

    async fn replace_permissions(
        tx: &mut Tx,
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
            QueryBuilder::<Db>::new(format!("INSERT INTO {table} ({owner_column}, permission) "));
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
        record(
            &mut tx,
            &audit,
            AuditAction::Create,
            "role",
            row.id,
            &role.name,
        )
        .await?;
        tx.commit().await?;
        let perms: Vec<(i64, String)> = role
            .permissions
            .iter()
            .map(|p| (row.id, p.to_string()))
            .collect();
        row.into_role(&perms)
    }

    pub(crate) async fn role(&self, id: RoleId) -> Result<Role> {
        let row: RoleRow = sqlx::query_as(
            "SELECT id, name, description, created_at, updated_at FROM roles WHERE id = $1",
        )
        .bind(id.0)
        .fetch_one(&self.read)
        .await
        .map_err(not_found("role"))?;
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
        let mut qb = QueryBuilder::<Db>::new("UPDATE roles SET updated_at = ");
        qb.push_bind(now());
        if let Some(name) = &update.name {
            qb.push(", name = ").push_bind(name.clone());
        }
        if let Some(description) = &update.description {
            qb.push(", description = ").push_bind(description.clone());
        }
        qb.push(" WHERE id = ").push_bind(id.0);
        qb.push(" RETURNING name");
        let name: String =
            qb.build_query_scalar()
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match e {
                    sqlx::Error::RowNotFound => Error::NotFound { entity: "role" },
                    e => Error::from(e),
                })?;
        if let Some(permissions) = &update.permissions {
            Self::replace_permissions(&mut tx, "role_permissions", "role_id", id.0, permissions)
                .await?;
        }
        record(&mut tx, &audit, AuditAction::Update, "role", id, &name).await?;
        tx.commit().await?;
        self.role(id).await
    }

    pub(crate) async fn delete_role(&self, id: RoleId, audit: Audit<'_>) -> Result<()> {
        self.delete_returning_repr("roles", "name", "role", "role", id.0, audit)
            .await
    }

    /// Deletes one row by id, recording `repr_column` in the audit log; NotFound if absent.
    async fn delete_returning_repr(
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
        record(&mut tx, &audit, AuditAction::Delete, object_type, id, &repr).await?;
        tx.commit().await?;
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
        record(
            &mut tx,
            &audit,
            AuditAction::Create,
            "user",
            created.id,
            &created.email,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub(crate) async fn user(&self, id: UserId) -> Result<User> {
        let row: UserRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_one(&self.read)
        .await
        .map_err(not_found("user"))?;
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
        let mut qb = QueryBuilder::<Db>::new("UPDATE users SET updated_at = ");
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
            .map_err(|e| match e {
                sqlx::Error::RowNotFound => Error::NotFound { entity: "user" },
                e => Error::from(e),
            })?;
        if let Some(permissions) = &update.permissions {
            Self::replace_permissions(&mut tx, "user_permissions", "user_id", id.0, permissions)
                .await?;
        }
        let user = User::try_from(row)?;
        record(
            &mut tx,
            &audit,
            AuditAction::Update,
            "user",
            id,
            &user.email,
        )
        .await?;
        tx.commit().await?;
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
        record(&mut tx, &audit, AuditAction::Update, "user", id, &email).await?;
        tx.commit().await?;
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
        rows.iter()
            .map(|p| {
                p.parse()
                    .map_err(|_| Error::Corrupt(format!("unknown permission {p:?}")))
            })
            .collect()
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
        let mut query = QueryBuilder::<Db>::new(
            "SELECT user_id, permission FROM user_permissions WHERE user_id IN (",
        );
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.0);
        }
        query.push(")");
        let rows: Vec<(i64, String)> = query.build_query_as().fetch_all(&self.read).await?;
        for (user, permission) in rows {
            let permission = permission
                .parse()
                .map_err(|_| Error::Corrupt(format!("unknown permission {permission:?}")))?;
            held.entry(UserId(user)).or_default().insert(permission);
        }
        Ok(held)
    }

    /// `(id, text)` pairs of `table` for `ids`, in one query (`column` chosen by rivo-core).
    async fn labels_of(
        &self,
        table: &'static str,
        column: &'static str,
        ids: &[i64],
    ) -> Result<Vec<(i64, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT id, {column} FROM {table} WHERE id IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        Ok(query.build_query_as().fetch_all(&self.read).await?)
    }

    pub(crate) async fn client_names(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.labels_of("clients", "name", ids).await
    }

    pub(crate) async fn user_emails(&self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.labels_of("users", "email", ids).await
    }

    // ----- clients -----

    pub(crate) async fn create_client(
        &self,
        clean: &CleanClient,
        client: &NewClient,
        audit: Audit<'_>,
    ) -> Result<Client> {
        let mut tx = self.begin().await?;
        Self::check_ref(
            &mut tx,
            "users",
            "created_by",
            client.created_by.map(|u| u.0),
        )
        .await?;
        let at = now();
        let row: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO clients (name, email, phone, current_stage, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {CLIENT_COLS}"
        )))
        .bind(&clean.name)
        .bind(&clean.email)
        .bind(&clean.phone)
        .bind(client.stage.as_str())
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let created = Client::try_from(row)?;
        sqlx::query(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(created.id.0)
        .bind(client.chat_session_id.map(|s| s.0))
        .bind(sqlx::types::Json(&client.context))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_stage_history (client_id, from_stage, to_stage, changed_by_id, \
             remarks, created_at, updated_at) VALUES ($1, NULL, $2, $3, '', $4, $4)",
        )
        .bind(created.id.0)
        .bind(client.stage.as_str())
        .bind(client.created_by.map(|u| u.0))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            &audit,
            AuditAction::Create,
            "client",
            created.id,
            &created.name,
        )
        .await?;
        emit(
            &mut tx,
            &Event::ClientCreated(ClientCreated {
                client: created.clone(),
                chat_session_id: client.chat_session_id,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub(crate) async fn client(&self, id: ClientId) -> Result<Client> {
        let row: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_one(&self.read)
        .await
        .map_err(not_found("client"))?;
        row.try_into()
    }

    pub(crate) async fn update_client(
        &self,
        id: ClientId,
        update: &ClientUpdate,
        audit: Audit<'_>,
    ) -> Result<Client> {
        let mut tx = self.begin().await?;
        let mut qb = QueryBuilder::<Db>::new("UPDATE clients SET updated_at = ");
        qb.push_bind(now());
        for (column, value) in [
            ("name", &update.name),
            ("email", &update.email),
            ("phone", &update.phone),
        ] {
            if let Some(value) = value {
                qb.push(format_args!(", {column} = "))
                    .push_bind(value.clone());
            }
        }
        qb.push(" WHERE id = ").push_bind(id.0);
        qb.push(format_args!(" RETURNING {CLIENT_COLS}"));
        let row: ClientRow = qb
            .build_query_as()
            .fetch_one(&mut *tx)
            .await
            .map_err(not_found("client"))?;
        let client = Client::try_from(row)?;
        record(
            &mut tx,
            &audit,
            AuditAction::Update,
            "client",
            id,
            &client.name,
        )
        .await?;
        tx.commit().await?;
        Ok(client)
    }

    pub(crate) async fn delete_client(&self, id: ClientId, audit: Audit<'_>) -> Result<()> {
        self.delete_returning_repr("clients", "name", "client", "client", id.0, audit)
            .await
    }

    pub(crate) async fn list_clients(
        &self,
        filter: &ClientFilter,
        sort: Sort<ClientSort>,
        page: PageRequest,
    ) -> Result<Page<Client>> {
        self.list::<ClientRow, _, _>(CLIENT_COLS, "clients", &filter.conds().0, sort, page)
            .await
    }

    pub(crate) async fn context(&self, client_id: ClientId) -> Result<ClientContext> {
        let row: Option<ContextRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONTEXT_COLS} FROM client_contexts WHERE client_id = $1"
        )))
        .bind(client_id.0)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => {
                // A client without a context row (e.g. imported) has an empty one.
                let client = self.client(client_id).await?;
                Ok(ClientContext {
                    id: ContextId(0),
                    client_id,
                    chat_session_id: None,
                    data: serde_json::Map::new(),
                    created_at: client.created_at,
                    updated_at: client.created_at,
                })
            }
        }
    }

    pub(crate) async fn change_context(
        &self,
        client_id: ClientId,
        changes: &[ContextChange],
        limits: &crate::Limits,
        audit: Audit<'_>,
    ) -> Result<ClientContext> {
        let mut tx = self.begin().await?;
        let client_exists: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM clients WHERE id = $1{}", Db::FOR_UPDATE
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if client_exists.is_none() {
            return Err(Error::NotFound { entity: "client" });
        }
        let at = now();
        let row: Option<ContextRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CONTEXT_COLS} FROM client_contexts WHERE client_id = $1"
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let mut context = match row {
            Some(row) => ClientContext::try_from(row)?,
            None => ClientContext {
                id: ContextId(0),
                client_id,
                chat_session_id: None,
                data: serde_json::Map::new(),
                created_at: at,
                updated_at: at,
            },
        };
        for change in changes {
            change.clone().apply(&mut context);
        }
        limits.check_context(&context.data)?;
        let row: ContextRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (client_id) DO UPDATE SET \
             chat_session_id = excluded.chat_session_id, context_data = excluded.context_data, \
             updated_at = excluded.updated_at RETURNING {CONTEXT_COLS}"
        )))
        .bind(client_id.0)
        .bind(context.chat_session_id.map(|s| s.0))
        .bind(sqlx::types::Json(&context.data))
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let context = ClientContext::try_from(row)?;
        let repr = format!("context of client {client_id}");
        record(
            &mut tx,
            &audit,
            AuditAction::Update,
            "context",
            context.id,
            &repr,
        )
        .await?;
        tx.commit().await?;
        Ok(context)
    }

    pub(crate) async fn list_contexts(
        &self,
        filter: &ContextFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<ClientContext>> {
        self.list::<ContextRow, _, _>(
            CONTEXT_COLS,
            "client_contexts",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }

    pub(crate) async fn set_stage(
        &self,
        client_id: ClientId,
        to_stage: Stage,
        changed_by: Option<UserId>,
        remarks: &str,
        audit: Audit<'_>,
    ) -> Result<StageOutcome> {
        let mut tx = self.begin().await?;
        let row: Option<ClientRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE id = $1{}", Db::FOR_UPDATE
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::NotFound { entity: "client" });
        };
        let client = Client::try_from(row)?;
        if client.current_stage == to_stage {
            tx.commit().await?;
            return Ok(StageOutcome {
                client,
                change: None,
            });
        }
        let current = client.current_stage.as_str();
        Self::check_ref(&mut tx, "users", "changed_by", changed_by.map(|u| u.0)).await?;
        let at = now();
        let row: ClientRow = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE clients SET current_stage = $1, updated_at = $2 WHERE id = $3 \
             RETURNING {CLIENT_COLS}"
        )))
        .bind(to_stage.as_str())
        .bind(at)
        .bind(client_id.0)
        .fetch_one(&mut *tx)
        .await?;
        let client = Client::try_from(row)?;
        let row: StageChangeRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO client_stage_history (client_id, from_stage, to_stage, changed_by_id, \
             remarks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             RETURNING {STAGE_CHANGE_COLS}"
        )))
        .bind(client_id.0)
        .bind(current)
        .bind(to_stage.as_str())
        .bind(changed_by.map(|u| u.0))
        .bind(remarks)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let change = StageChange::try_from(row)?;
        let repr = format!(
            "client {client_id}: {} -> {}",
            change.from_stage.map(Stage::as_str).unwrap_or(""),
            change.to_stage
        );
        record(
            &mut tx,
            &audit,
            AuditAction::Create,
            "clientstagehistory",
            change.id,
            &repr,
        )
        .await?;
        emit(&mut tx, &Event::ClientStageChanged(change.clone())).await?;
        tx.commit().await?;
        Ok(StageOutcome {
            client,
            change: Some(change),
        })
    }

    pub(crate) async fn list_stage_changes(
        &self,
        filter: &StageChangeFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<StageChange>> {
        self.list::<StageChangeRow, _, _>(
            STAGE_CHANGE_COLS,
            "client_stage_history",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }

    pub(crate) async fn assign(
        &self,
        client_id: ClientId,
        assigned_to: UserId,
        assigned_by: Option<UserId>,
        remarks: &str,
        audit: Audit<'_>,
    ) -> Result<Assignment> {
        let mut tx = self.begin().await?;
        let client_exists: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM clients WHERE id = $1{}", Db::FOR_UPDATE
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if client_exists.is_none() {
            return Err(Error::NotFound { entity: "client" });
        }
        Self::check_ref(&mut tx, "users", "assigned_by", assigned_by.map(|u| u.0)).await?;
        let assignment = assign_in(
            &mut tx,
            client_id,
            assigned_to,
            assigned_by,
            remarks,
            now(),
            &audit,
            "assigned_to",
        )
        .await?;
        tx.commit().await?;
        Ok(assignment)
    }

    pub(crate) async fn unassign(
        &self,
        client_id: ClientId,
        audit: Audit<'_>,
    ) -> Result<Option<Assignment>> {
        let mut tx = self.begin().await?;
        let client_exists: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM clients WHERE id = $1{}", Db::FOR_UPDATE
        )))
        .bind(client_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if client_exists.is_none() {
            return Err(Error::NotFound { entity: "client" });
        }
        let row: Option<AssignmentRow> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE client_assignments SET is_active = $1, updated_at = $2 \
             WHERE client_id = $3 AND is_active = $4 RETURNING {ASSIGNMENT_COLS}"
        )))
        .bind(false)
        .bind(now())
        .bind(client_id.0)
        .bind(true)
        .fetch_optional(&mut *tx)
        .await?;
        let ended = row.map(Assignment::try_from).transpose()?;
        if let Some(a) = &ended {
            let repr = match a.assigned_to {
                Some(user) => format!("client {client_id} -> user {user}"),
                None => format!("client {client_id} -> awaiting assignment"),
            };
            record(
                &mut tx,
                &audit,
                AuditAction::Update,
                "clientassignment",
                a.id,
                &repr,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    pub(crate) async fn list_assignments(
        &self,
        filter: &AssignmentFilter,
        sort: Sort<HistorySort>,
        page: PageRequest,
    ) -> Result<Page<Assignment>> {
        self.list::<AssignmentRow, _, _>(
            ASSIGNMENT_COLS,
            "client_assignments",
            &filter.conds().0,
            sort,
            page,
        )
        .await
    }

    // ----- auth -----

    pub(crate) async fn insert_token(
        &self,
        user_id: UserId,
        hash: &[u8],
        kind: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_tokens (user_id, token_hash, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id.0)
        .bind(hash)
        .bind(kind)
        .bind(now())
        .bind(expires_at)
        .execute(&self.write)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_foreign_key_violation() => Error::NotFound { entity: "user" },
            _ => Error::from(e),
        })?;
        Ok(())
    }

    pub(crate) async fn token_user(&self, hash: &[u8], kind: &str) -> Result<Option<User>> {
        let cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let at = now();
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {cols} FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.kind = $2 AND t.expires_at > $3"
        )))
        .bind(hash)
        .bind(kind)
        .bind(at)
        .fetch_optional(&self.read)
        .await?;
        row.map(User::try_from).transpose()
    }

    pub(crate) async fn delete_token(&self, hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_user_tokens(&self, user_id: UserId) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
            .bind(user_id.0)
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    pub(crate) async fn purge_expired(
        &self,
        at: DateTime<Utc>,
        failures_before: DateTime<Utc>,
        webhooks_delivered_before: i64,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let tokens = sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1")
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let failures = sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
            .bind(failures_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let failures = failures
            + sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
                .bind(at.timestamp())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deliveries = outbox_purge_delivered(&mut tx, webhooks_delivered_before).await?;
        tx.commit().await?;
        Ok(tokens + failures + deliveries)
    }

    /// One atomic step of the login throttle: for every `(key, max)`, counts the failures since
    /// `since` and, when none of the keys is over its limit, records one failure for each key
    /// at `at` (a reservation: the caller deletes it again when the attempt turns out not to be
    /// a failure). Returns the ids of the recorded rows, or the oldest counted failure of the
    /// first key over its limit. Concurrent attempts on one key are serialised (the single
    /// writer on SQLite, a transaction-scoped advisory lock per key on PostgreSQL), so at most
    /// `max` attempts per window get past the check.
    pub(crate) async fn reserve_attempt(
        &self,
        keys: &[(String, i64)],
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<std::result::Result<Vec<i64>, DateTime<Utc>>> {
        let mut tx = self.begin().await?;
        let mut sorted: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        for key in sorted {
            Db::lock_throttle_key(&mut tx, key).await?;
        }
        for (key, max) in keys {
            let (count, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT count(*), min(failed_at) FROM login_failures \
                 WHERE key = $1 AND failed_at > $2",
            )
            .bind(key)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            if count >= *max {
                tx.rollback().await?;
                return Ok(Err(oldest.unwrap_or(at)));
            }
        }
        let mut ids = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO login_failures (key, failed_at) VALUES ($1, $2) RETURNING id",
            )
            .bind(key)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Ok(ids))
    }

    /// Counts one request for `key` in the fixed window of `window_secs` that contains `now`
    /// (Unix seconds) in one atomic upsert, and returns the count so far (this request
    /// included) and the end of the window.
    pub(crate) async fn count_request(
        &self,
        key: &str,
        window_secs: i64,
        now: i64,
    ) -> Result<(i64, i64)> {
        let window_secs = window_secs.max(1);
        let start = now - now.rem_euclid(window_secs);
        let end = start + window_secs;
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, expires_at, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
             RETURNING count",
        )
        .bind(key)
        .bind(start)
        .bind(end)
        .fetch_one(&self.write)
        .await?;
        Ok((count, end))
    }

    /// Deletes throttle rows by id (reservations of attempts that did not fail).
    pub(crate) async fn release_attempts(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            sqlx::query("DELETE FROM login_failures WHERE id = $1")
                .bind(id)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn clear_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn list_audit(
        &self,
        filter: &AuditFilter,
        sort: Sort<AuditSort>,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        self.list::<AuditRow, _, _>(AUDIT_COLS, "audit_log", &filter.conds().0, sort, page)
            .await
    }
}

/// A role row kept as is through [`Backend::list`], to attach permissions afterwards.
struct RoleRowOk(RoleRow);

impl TryFrom<RoleRow> for RoleRowOk {
    type Error = Error;
    fn try_from(row: RoleRow) -> Result<Self> {
        Ok(Self(row))
    }
}

// ----- privacy: retention, erasure, export, finding personal data -----

/// What an erased object's earlier audit entries keep in place of their description.
const ERASED: &str = "[erased]";

const SESSION_COLS: &str = "session_id, client_id, message_count, first_message_at AS first_sent_at, \
     last_message_at AS last_sent_at, last_message_preview, last_sender_type";


/// Replaces the description and changes of the audit entries about `object_type` objects
/// with ids `ids` by `[erased]`; returns how many entries changed.
async fn scrub_audit(tx: &mut Tx, object_type: &str, ids: &[String]) -> Result<u64> {
    let mut scrubbed = 0;
    for chunk in ids.chunks(500) {
        let mut qb = QueryBuilder::<Db>::new("UPDATE audit_log SET object_repr = ");
        qb.push_bind(ERASED)
            .push(", changes = ")
            .push_bind(sqlx::types::Json(serde_json::json!({ "erased": true })))
            .push(" WHERE object_type = ")
            .push_bind(object_type.to_owned())
            .push(" AND object_id IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        qb.push(")");
        scrubbed += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(scrubbed)
}

/// [`scrub_audit`] for the entries of deleted messages of `sessions` (which record their
/// session in `changes.session_id`).
async fn scrub_message_audit(tx: &mut Tx, sessions: &[String]) -> Result<u64> {
    let mut scrubbed = 0;
    for chunk in sessions.chunks(500) {
        let mut qb = QueryBuilder::<Db>::new("UPDATE audit_log SET object_repr = ");
        qb.push_bind(ERASED)
            .push(", changes = ")
            .push_bind(sqlx::types::Json(serde_json::json!({ "erased": true })))
            .push(" WHERE object_type = 'chathistory' AND changes ->> 'session_id' IN (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.clone());
        }
        qb.push(")");
        scrubbed += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(scrubbed)
}

/// Writes an audit entry whether or not the store acts as someone (erasures and retention
/// runs are always recorded): by `actor`, or by no user with `fallback` as its description.
#[allow(clippy::too_many_arguments)]
async fn record_always(
    tx: &mut Tx,
    actor: Option<&crate::audit::Actor>,
    fallback: &str,
    action: AuditAction,
    object_type: &str,
    object_id: &str,
    object_repr: &str,
    changes: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) \
         VALUES ((SELECT id FROM users WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.map(|a| a.id.0))
    .bind(actor.map_or(fallback, |a| a.repr.as_str()))
    .bind(action.as_str())
    .bind(object_type)
    .bind(object_id)
    .bind(object_repr)
    .bind(sqlx::types::Json(changes))
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the messages (and so, by the triggers, the session rows) of `sessions` and clears
/// every context's link to them; returns (messages deleted, links cleared).
async fn delete_conversations(tx: &mut Tx, sessions: &[uuid::Uuid]) -> Result<(u64, u64)> {
    let (mut messages, mut links) = (0, 0);
    for chunk in sessions.chunks(500) {
        let mut qb = QueryBuilder::<Db>::new("DELETE FROM chat_messages WHERE session_id IN (");
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        messages += qb.build().execute(&mut **tx).await?.rows_affected();
        let mut qb = QueryBuilder::<Db>::new("DELETE FROM chat_sessions WHERE session_id IN (");
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        qb.build().execute(&mut **tx).await?;
        let mut qb = QueryBuilder::<Db>::new(
            "UPDATE client_contexts SET chat_session_id = NULL WHERE chat_session_id IN (",
        );
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        links += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    forget_activity(tx, sessions).await?;
    outbox_forget_sessions(tx, sessions).await?;
    Ok((messages, links))
}

impl Backend {
    /// Takes the lease `name` for `holder` until `until` (Unix µs) when it is free (never taken,
    /// or expired by `now`); one atomic upsert, so of concurrent takers exactly one wins.
    pub(crate) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO maintenance_leases (name, holder, acquired_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
             WHERE maintenance_leases.expires_at <= excluded.acquired_at",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(until)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Extends `holder`'s lease `name` to `until`; `false` when `holder` no longer holds it.
    pub(crate) async fn renew_lease(&self, name: &str, holder: &str, until: i64) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(until)
        .bind(name)
        .bind(holder)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// In one transaction: records the run's summary entry (if any) and lets `holder`'s lease
    /// `name` expire at `release_at`.
    pub(crate) async fn finish_lease(
        &self,
        name: &str,
        holder: &str,
        release_at: i64,
        summary: Option<(DateTime<Utc>, serde_json::Value)>,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if let Some((cutoff, changes)) = summary {
            let id = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            record_always(
                &mut tx,
                actor,
                "rivo (chat retention)",
                AuditAction::Delete,
                "retention",
                &id,
                "chat retention run",
                &changes,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(release_at)
        .bind(name)
        .bind(holder)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sessions (and their messages) whose last message is before `cutoff`.
    pub(crate) async fn retention_preview(&self, cutoff: DateTime<Utc>) -> Result<(u64, u64)> {
        let (sessions, messages): (i64, i64) = sqlx::query_as(
            "SELECT count(*), CAST(coalesce(sum(message_count), 0) AS BIGINT) \
             FROM chat_sessions WHERE last_message_at < $1",
        )
        .bind(cutoff)
        .fetch_one(&self.read)
        .await?;
        Ok((
            u64::try_from(sessions).unwrap_or(0),
            u64::try_from(messages).unwrap_or(0),
        ))
    }

    /// One retention batch, its own transaction: up to `limit` of the oldest sessions whose
    /// last message is before `cutoff`, locked in session order (as appends lock them) and
    /// checked again under the lock (an append may just have continued one), deleted with
    /// their messages; links of contexts to them are cleared. Returns (sessions, messages).
    pub(crate) async fn retention_batch(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<(u64, u64)> {
        let mut tx = self.begin().await?;
        let candidates: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT session_id FROM chat_sessions WHERE last_message_at < $1 \
             ORDER BY last_message_at, session_id LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if candidates.is_empty() {
            tx.commit().await?;
            return Ok((0, 0));
        }
        let mut qb =
            QueryBuilder::<Db>::new("SELECT session_id FROM chat_sessions WHERE session_id IN (");
        push_uuid_list(&mut qb, &candidates);
        qb.push(") AND last_message_at < ")
            .push_bind(cutoff)
            .push(" ORDER BY session_id")
            .push(Db::FOR_UPDATE);
        let locked: Vec<uuid::Uuid> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
        if locked.is_empty() {
            tx.commit().await?;
            return Ok((0, 0));
        }
        let (messages, _links) = delete_conversations(&mut tx, &locked).await?;
        tx.commit().await?;
        Ok((locked.len() as u64, messages))
    }

    /// One session row.
    pub(crate) async fn session_row(&self, id: SessionId) -> Result<Option<SessionSummary>> {
        let row: Option<SessionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM chat_sessions WHERE session_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await?;
        row.map(SessionSummary::try_from).transpose()
    }

    /// The session rows linked to a client, or named by its context, by session id.
    pub(crate) async fn client_sessions(
        &self,
        client_id: ClientId,
        context_session: Option<SessionId>,
    ) -> Result<Vec<SessionSummary>> {
        let rows: Vec<SessionRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {SESSION_COLS} FROM chat_sessions WHERE client_id = $1 OR session_id = $2 \
             ORDER BY session_id"
        )))
        .bind(client_id.0)
        .bind(context_session.map(|s| s.0))
        .fetch_all(&self.read)
        .await?;
        rows.into_iter().map(SessionSummary::try_from).collect()
    }

    pub(crate) async fn erase_client(
        &self,
        id: ClientId,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<crate::privacy::ClientErasure> {
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM clients WHERE id = $1{}", Db::FOR_UPDATE
        )))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Err(Error::NotFound { entity: "client" });
        }
        let contexts: Vec<(i64, Option<uuid::Uuid>)> =
            sqlx::query_as("SELECT id, chat_session_id FROM client_contexts WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let linked: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT session_id FROM chat_sessions WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let sessions: Vec<uuid::Uuid> = linked
            .into_iter()
            .chain(contexts.iter().filter_map(|(_, s)| *s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stage_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM client_stage_history WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let assignment_ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM client_assignments WHERE client_id = $1")
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
        let (messages, _links) = delete_conversations(&mut tx, &sessions).await?;
        outbox_forget_client(&mut tx, id).await?;
        // The context, stage history and assignments go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let strings = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>();
        let context_ids: Vec<i64> = contexts.iter().map(|(c, _)| *c).collect();
        let mut scrubbed = scrub_audit(&mut tx, "client", &[id.0.to_string()]).await?;
        scrubbed += scrub_audit(&mut tx, "context", &strings(&context_ids)).await?;
        scrubbed += scrub_audit(&mut tx, "clientstagehistory", &strings(&stage_ids)).await?;
        scrubbed += scrub_audit(&mut tx, "clientassignment", &strings(&assignment_ids)).await?;
        let session_strings: Vec<String> =
            sessions.iter().map(|s| SessionId(*s).to_string()).collect();
        scrubbed += scrub_audit(&mut tx, "chatsession", &session_strings).await?;
        scrubbed += scrub_message_audit(&mut tx, &session_strings).await?;
        let erasure = crate::privacy::ClientErasure {
            client_id: id,
            sessions: sessions.len() as u64,
            messages,
            stage_changes: stage_ids.len() as u64,
            assignments: assignment_ids.len() as u64,
            audit_entries_scrubbed: scrubbed,
        };
        let changes = serde_json::json!({ "erasure": erasure });
        record_always(
            &mut tx,
            actor,
            "(no user)",
            AuditAction::Delete,
            "client",
            &id.0.to_string(),
            ERASED,
            &changes,
        )
        .await?;
        tx.commit().await?;
        Ok(erasure)
    }

    pub(crate) async fn erase_session(
        &self,
        session_id: SessionId,
        actor: Option<&crate::audit::Actor>,
    ) -> Result<crate::privacy::SessionErasure> {
        let mut tx = self.begin().await?;
        let (messages, links_cleared) = delete_conversations(&mut tx, &[session_id.0]).await?;
        if messages == 0 && links_cleared == 0 {
            return Err(Error::NotFound {
                entity: "chat session",
            });
        }
        let id = session_id.to_string();
        let audit_entries_scrubbed = scrub_audit(&mut tx, "chatsession", std::slice::from_ref(&id))
            .await?
            + scrub_message_audit(&mut tx, std::slice::from_ref(&id)).await?;
        let erasure = crate::privacy::SessionErasure {
            session_id,
            messages,
            links_cleared,
            audit_entries_scrubbed,
        };
        let changes = serde_json::json!({ "erasure": erasure });
        record_always(
            &mut tx,
            actor,
            "(no user)",
            AuditAction::Delete,
            "chatsession",
            &id,
            ERASED,
            &changes,
        )
        .await?;
        tx.commit().await?;
        Ok(erasure)
    }

    /// Messages of sessions linked to no client containing `needle`: an email (a
    /// case-insensitive substring, through the trigram index), or a phone's digits (compared
    /// with the message's spaces, dashes, dots, parentheses and `+` removed).
    pub(crate) async fn find_unlinked_messages(
        &self,
        needle: &str,
        phone: bool,
        limit: i64,
    ) -> Result<Vec<ChatMessage>> {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {MESSAGE_COLS} FROM chat_messages WHERE NOT EXISTS (SELECT 1 FROM \
             chat_sessions s WHERE s.session_id = chat_messages.session_id \
             AND s.client_id IS NOT NULL) AND "
        ));
        if phone {
            qb.push(
                "replace(replace(replace(replace(replace(replace(message, ' ', ''), '-', ''), \
                 '(', ''), ')', ''), '.', ''), '+', '') LIKE ",
            )
            .push_bind(format!("%{needle}%"));
        } else {
            push_fts(&mut qb, "chat_messages_fts", needle);
            push_like(&mut qb, &["message"], &crate::query::like_pattern(needle));
        }
        qb.push(" ORDER BY sent_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows: Vec<MessageRow> = qb.build_query_as().fetch_all(&self.read).await?;
        rows.into_iter().map(ChatMessage::try_from).collect()
    }
}
