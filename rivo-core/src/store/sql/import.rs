//! Writing rows imported from the original Django app (see `crate::import`), written once for
//! every backend.
//!
//! Every insert keeps the source ids and skips rows whose id is already present
//! (`ON CONFLICT (id) DO NOTHING`), which is what `--merge` counts as skipped.

use super::sqlx::query_builder::Separated;
use super::sqlx::{self, AssertSqlSafe, QueryBuilder};
use super::{Dialect, Sql, Tx};
use crate::chat::ChatMessage;
use crate::clients::{Client, ClientContext, Stage, StageChange};
use crate::error::{Error, Result, Rule};
use crate::ids::UserId;
use crate::store::dialect::RowsAffected as _;

impl<DB: Dialect> Sql<DB> {
    /// Replaces an imported (Django) password hash that just matched with `new`, only if it is
    /// still `old`: concurrent first logins upgrade once, and nothing else changes (tokens,
    /// `updated_at`), like Django's hasher upgrade. Whether this call replaced it.
    pub(crate) async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password = $1 WHERE id = $2 AND password = $3")
            .bind(new)
            .bind(id.0)
            .bind(old)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    /// A transaction for one table group of an import.
    pub(crate) async fn import_begin(&self) -> Result<Tx<DB>> {
        self.begin().await
    }

    /// The tables that must be empty for an import without merge, among those holding rows.
    pub(crate) async fn import_occupied(&self) -> Result<Vec<&'static str>> {
        let mut occupied = Vec::new();
        for table in ["users", "roles", "chat_messages", "clients"] {
            let any: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS x"
            )))
            .fetch_one(&self.read)
            .await?;
            if any > 0 {
                occupied.push(table);
            }
        }
        Ok(occupied)
    }

    /// `(id, value)` of the rows of `table` whose `column` is one of `keys` (compared with
    /// `lower()` on both sides when `lower`; only active rows when `active_only`).
    pub(crate) async fn import_present(
        &self,
        tx: &mut Tx<DB>,
        table: &str,
        column: &str,
        lower: bool,
        active_only: bool,
        keys: &[String],
    ) -> Result<Vec<(i64, String)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let value = format!("CAST({column} AS TEXT)");
        let compared = if lower {
            format!("lower({value})")
        } else {
            value.clone()
        };
        let mut qb = QueryBuilder::<DB>::new(format!("SELECT id, {value} FROM {table} WHERE "));
        if active_only {
            qb.push("is_active = ").push_bind(true).push(" AND ");
        }
        qb.push(format_args!("{compared} IN ("));
        let mut list = qb.separated(", ");
        for key in keys {
            if lower {
                list.push("lower(")
                    .push_bind_unseparated(key)
                    .push_unseparated(")");
            } else {
                list.push_bind(key);
            }
        }
        qb.push(")");
        Ok(qb.build_query_as().fetch_all(&mut **tx).await?)
    }

    pub(crate) async fn import_roles(
        &self,
        tx: &mut Tx<DB>,
        rows: &[crate::import::django::SrcRole],
    ) -> Result<Vec<i64>> {
        insert_new(
            tx,
            "roles (id, name, description, created_at, updated_at)",
            "account_role",
            rows,
            |r| r.id,
            |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(&r.name)
                    .push_bind(&r.description)
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at);
            },
        )
        .await
    }

    /// Inserts `(owner, permission)` grants, skipping those present; returns how many were new.
    pub(crate) async fn import_grants(
        &self,
        tx: &mut Tx<DB>,
        table: &str,
        owner_column: &str,
        grants: &[(i64, String)],
    ) -> Result<u64> {
        if grants.is_empty() {
            return Ok(0);
        }
        let mut qb =
            QueryBuilder::<DB>::new(format!("INSERT INTO {table} ({owner_column}, permission) "));
        qb.push_values(grants, |mut b, (owner, permission)| {
            b.push_bind(*owner).push_bind(permission);
        });
        qb.push(format_args!(
            " ON CONFLICT ({owner_column}, permission) DO NOTHING"
        ));
        Ok(qb.build().execute(&mut **tx).await?.rows_affected())
    }

    /// Inserts users without `created_by` (set afterwards by [`Self::import_user_created_by`]);
    /// returns the ids inserted.
    pub(crate) async fn import_users(
        &self,
        tx: &mut Tx<DB>,
        rows: &[crate::import::django::SrcUser],
    ) -> Result<Vec<i64>> {
        insert_new(
            tx,
            "users (id, email, username, password, first_name, last_name, phone, role_id, \
             is_active, is_staff, is_superuser, last_login, date_joined, created_at, updated_at, \
             email_key)",
            "account_user",
            rows,
            |r| r.id,
            |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(&r.email)
                    .push_bind(&r.username)
                    .push_bind(&r.password)
                    .push_bind(&r.first_name)
                    .push_bind(&r.last_name)
                    .push_bind(&r.phone)
                    .push_bind(r.role_id)
                    .push_bind(r.is_active)
                    .push_bind(r.is_staff)
                    .push_bind(r.is_superuser)
                    .push_bind(r.last_login)
                    .push_bind(r.date_joined)
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at)
                    .push_bind(crate::validate::email_identity(&r.email));
            },
        )
        .await
    }

    /// Sets `created_by_id` of imported users: `(user, creator)` pairs.
    pub(crate) async fn import_user_created_by(
        &self,
        tx: &mut Tx<DB>,
        links: &[(i64, i64)],
    ) -> Result<()> {
        for (user, creator) in links {
            sqlx::query("UPDATE users SET created_by_id = $1 WHERE id = $2")
                .bind(creator)
                .bind(user)
                .execute(&mut **tx)
                .await
                .map_err(|e| import_error(e, "account_user", [*user]))?;
        }
        Ok(())
    }

    pub(crate) async fn import_messages(
        &self,
        tx: &mut Tx<DB>,
        rows: &[ChatMessage],
    ) -> Result<u64> {
        let inserted = insert_new(
            tx,
            "chat_messages (id, session_id, message, sender_type, data_type, sent_at)",
            "chat_chathistory",
            rows,
            |r| r.id.0,
            |mut b, r| {
                b.push_bind(r.id.0)
                    .push_bind(r.session_id.0)
                    .push_bind(&r.message)
                    .push_bind(r.sender_type.as_str())
                    .push_bind(r.data_type.as_str())
                    .push_bind(r.sent_at);
            },
        )
        .await?;
        Ok(count(&inserted))
    }

    pub(crate) async fn import_clients(&self, tx: &mut Tx<DB>, rows: &[Client]) -> Result<u64> {
        let inserted = insert_new(
            tx,
            "clients (id, name, email, phone, current_stage, created_at, updated_at)",
            "client_client",
            rows,
            |r| r.id.0,
            |mut b, r| {
                b.push_bind(r.id.0)
                    .push_bind(&r.name)
                    .push_bind(&r.email)
                    .push_bind(&r.phone)
                    .push_bind(r.current_stage.as_str())
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at);
            },
        )
        .await?;
        Ok(count(&inserted))
    }

    pub(crate) async fn import_contexts(
        &self,
        tx: &mut Tx<DB>,
        rows: &[ClientContext],
    ) -> Result<u64> {
        let inserted = insert_new(
            tx,
            "client_contexts (id, client_id, chat_session_id, context_data, created_at, \
             updated_at)",
            "client_context",
            rows,
            |r| r.id.0,
            |mut b, r| {
                b.push_bind(r.id.0)
                    .push_bind(r.client_id.0)
                    .push_bind(r.chat_session_id.map(|s| s.0))
                    .push_bind(sqlx::types::Json(&r.data))
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at);
            },
        )
        .await?;
        Ok(count(&inserted))
    }

    pub(crate) async fn import_stage_changes(
        &self,
        tx: &mut Tx<DB>,
        rows: &[StageChange],
    ) -> Result<u64> {
        let inserted = insert_new(
            tx,
            "client_stage_history (id, client_id, from_stage, to_stage, changed_by_id, remarks, \
             created_at, updated_at)",
            "client_clientstagehistory",
            rows,
            |r| r.id.0,
            |mut b, r| {
                b.push_bind(r.id.0)
                    .push_bind(r.client_id.0)
                    .push_bind(r.from_stage.map(Stage::as_str))
                    .push_bind(r.to_stage.as_str())
                    .push_bind(r.changed_by.map(|u| u.0))
                    .push_bind(&r.remarks)
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at);
            },
        )
        .await?;
        Ok(count(&inserted))
    }

    pub(crate) async fn import_assignments(
        &self,
        tx: &mut Tx<DB>,
        rows: &[crate::import::django::SrcAssignment],
    ) -> Result<u64> {
        let inserted = insert_new(
            tx,
            "client_assignments (id, client_id, assigned_to_id, assigned_by_id, is_active, \
             remarks, created_at, updated_at)",
            "client_clientassignment",
            rows,
            |r| r.id,
            |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.client_id)
                    .push_bind(r.assigned_to_id)
                    .push_bind(r.assigned_by_id)
                    .push_bind(r.is_active)
                    .push_bind(&r.remarks)
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at);
            },
        )
        .await?;
        Ok(count(&inserted))
    }

    /// Makes the next id of each table one past its largest (never moving an id generator
    /// back): `setval` on PostgreSQL's identity sequences, `sqlite_sequence` on SQLite.
    pub(crate) async fn import_reset_ids(&self, tx: &mut Tx<DB>, tables: &[&str]) -> Result<()> {
        for table in tables {
            if DB::NAME == "PostgreSQL" {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT setval(s.seq, GREATEST(COALESCE((SELECT max(id) FROM {table}), 0) + 1, \
                     COALESCE(pg_sequence_last_value(s.seq) + 1, 1)), false) \
                     FROM (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) AS s"
                )))
                .execute(&mut **tx)
                .await?;
            } else {
                // Inserting explicit ids already raises `sqlite_sequence`; make sure of it.
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', 0 \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
                )))
                .execute(&mut **tx)
                .await?;
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE sqlite_sequence SET seq = max(seq, \
                     (SELECT coalesce(max(id), 0) FROM {table})) WHERE name = '{table}'"
                )))
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}

/// Inserts `rows` into `into` (`table (columns)`), each row bound by `bind` in the order of
/// the columns, skipping ids already present (what `--merge` counts as skipped); returns the
/// ids inserted. A refused row is reported with its source table and the ids of the batch.
async fn insert_new<DB: Dialect, T>(
    tx: &mut Tx<DB>,
    into: &str,
    source_table: &str,
    rows: &[T],
    id: impl Fn(&T) -> i64,
    bind: impl FnMut(Separated<'_, DB, &'static str>, &T),
) -> Result<Vec<i64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<DB>::new(format!("INSERT INTO {into} "));
    qb.push_values(rows, bind);
    qb.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
    qb.build_query_scalar()
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| import_error(e, source_table, rows.iter().map(id)))
}

/// How many rows [`insert_new`] inserted.
fn count(inserted: &[i64]) -> u64 {
    u64::try_from(inserted.len()).unwrap_or(u64::MAX)
}

/// An insert of imported rows failed: name the Django table and the ids of the batch.
fn import_error(e: sqlx::Error, table: &str, ids: impl IntoIterator<Item = i64>) -> Error {
    let mut ids = ids.into_iter();
    let first = ids.next().unwrap_or_default();
    let last = ids.last().unwrap_or(first);
    let rows = if first == last {
        format!("id {first}")
    } else {
        format!("ids {first} to {last}")
    };
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => Error::Conflict {
            field: "target",
            message: format!(
                "{table} {rows}: a value is already taken in the target database: {}",
                db.message()
            ),
        },
        Some(db) if db.is_foreign_key_violation() => Error::invalid(
            "source",
            Rule::Other(format!(
                "{table} {rows}: a row links to one that was not imported: {}",
                db.message()
            )),
        ),
        _ => {
            tracing::error!(table, rows = %rows, error = %e, "importing rows failed");
            Error::from(e)
        }
    }
}

impl<DB: Dialect> Sql<DB> {
    /// Brings the session rows up to date after the import wrote messages, in its transaction
    /// ([`Dialect::import_sessions`]).
    pub(crate) async fn import_sessions(&self, tx: &mut Tx<DB>) -> Result<()> {
        DB::import_sessions(self, tx).await
    }
}
