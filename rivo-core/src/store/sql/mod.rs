//! The store's SQL, written once for every backend: [`Sql`] is generic over the backend's
//! [`Dialect`], which carries what differs (a few constants and operations) and every sqlx bound
//! the shared code needs. Each domain has its own file; this one holds the type, the list engine
//! (`push_where`, `bind_value`, …) and the helpers every domain uses (`record`, `emit`, …).

use self::sqlx::{AssertSqlSafe, QueryBuilder};
use chrono::{DateTime, SubsecRound, Utc};

use super::dialect::{Dialect, RowsAffected as _};
use crate::audit::{Audit, AuditAction};
use crate::clients::Assignment;
use crate::error::{Error, Result, Rule};
use crate::events::Event;
use crate::ids::{ClientId, UserId};
use crate::query::{Cond, Page, PageRequest, Sort, SortField, Value};
use crate::store::rows::{ASSIGNMENT_COLS, AssignmentRow};

mod accounts;
mod audit;
mod chat;
mod client_views;
mod clients;
mod import;
mod leads;
mod privacy;
mod subscribe;
mod summaries;
mod tokens;
mod webhooks;

pub(crate) use webhooks::outbox_enqueue_messages;

pub(crate) use summaries::summaries_enqueue;

/// A transaction of the backend `DB`.
pub(crate) type Tx<DB> = sqlx::Transaction<'static, DB>;

/// A backend's pools and state; the shared SQL of every domain is implemented on it.
pub(crate) struct Sql<DB: Dialect> {
    /// Reads that need no transaction.
    pub(crate) read: DB::Pool,
    /// Writes (the same pool as `read` on PostgreSQL; SQLite's one writer connection).
    pub(crate) write: DB::Pool,
    /// [`StoreOptions::exact_count_limit`](super::StoreOptions::exact_count_limit).
    pub(crate) count_limit: i64,
    /// The backend's own state ([`Dialect::Ext`]).
    pub(crate) ext: DB::Ext,
}

impl<DB: Dialect> Clone for Sql<DB> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            write: self.write.clone(),
            count_limit: self.count_limit,
            ext: self.ext.clone(),
        }
    }
}

impl<DB: Dialect> std::fmt::Debug for Sql<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("backend", &DB::NAME)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("count_limit", &self.count_limit)
            .field("ext", &self.ext)
            .finish()
    }
}

/// `sqlx`, except that the query constructors (and [`QueryBuilder`]'s builds) send unnamed
/// statements once a PostgreSQL store of this process runs behind a transaction-mode pooler: a
/// named (prepared) statement lives in one server connection, which a pooler hands to other
/// clients between transactions (`prepared statement "sqlx_s_1" already exists`). The shared
/// query code calls `sqlx::query(…)` and resolves to these.
pub(crate) mod sqlx {
    pub use ::sqlx::*;

    use std::sync::atomic::{AtomicBool, Ordering};

    use ::sqlx::query::{Query, QueryAs, QueryScalar};

    use super::super::dialect::Dialect;

    static UNNAMED: AtomicBool = AtomicBool::new(false);

    /// Statements of every PostgreSQL store of this process are unnamed from now on.
    pub(crate) fn set_unnamed() {
        UNNAMED.store(true, Ordering::Relaxed);
    }

    /// Whether PostgreSQL statements are prepared and kept ([`set_unnamed`] not called).
    pub(crate) fn persistent() -> bool {
        !UNNAMED.load(Ordering::Relaxed)
    }

    pub fn query<'a, DB: Dialect>(sql: impl SqlSafeStr) -> Query<'a, DB, DB::Arguments> {
        ::sqlx::query(sql).persistent(DB::persistent())
    }

    pub fn query_as<'q, DB: Dialect, O>(sql: impl SqlSafeStr) -> QueryAs<'q, DB, O, DB::Arguments>
    where
        O: for<'r> FromRow<'r, DB::Row>,
    {
        ::sqlx::query_as(sql).persistent(DB::persistent())
    }

    pub fn query_scalar<'q, DB: Dialect, O>(
        sql: impl SqlSafeStr,
    ) -> QueryScalar<'q, DB, O, DB::Arguments>
    where
        (O,): for<'r> FromRow<'r, DB::Row>,
    {
        ::sqlx::query_scalar(sql).persistent(DB::persistent())
    }

    /// [`::sqlx::QueryBuilder`] whose builds follow the pooler setting.
    pub struct QueryBuilder<DB: Database>(::sqlx::QueryBuilder<DB>);

    impl<DB: Dialect> QueryBuilder<DB> {
        pub fn new(init: impl Into<String>) -> Self {
            Self(::sqlx::QueryBuilder::new(init))
        }

        pub fn build(&mut self) -> Query<'_, DB, DB::Arguments> {
            self.0.build().persistent(DB::persistent())
        }

        pub fn build_query_as<'q, T: FromRow<'q, DB::Row>>(
            &'q mut self,
        ) -> QueryAs<'q, DB, T, DB::Arguments> {
            self.0.build_query_as().persistent(DB::persistent())
        }

        pub fn build_query_scalar<'q, T>(&'q mut self) -> QueryScalar<'q, DB, T, DB::Arguments>
        where
            (T,): for<'r> FromRow<'r, DB::Row>,
        {
            self.0.build_query_scalar().persistent(DB::persistent())
        }
    }

    impl<DB: Database> std::ops::Deref for QueryBuilder<DB> {
        type Target = ::sqlx::QueryBuilder<DB>;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }

    impl<DB: Database> std::ops::DerefMut for QueryBuilder<DB> {
        fn deref_mut(&mut self) -> &mut Self::Target {
            &mut self.0
        }
    }
}

impl<DB: Dialect> Sql<DB> {
    /// The read and the write pool (one pool twice on PostgreSQL), for
    /// [`Store::pool_stats`](crate::Store::pool_stats).
    pub(crate) fn pools(&self) -> [&sqlx::Pool<DB>; 2] {
        [
            super::AsPool::as_pool(&self.read),
            super::AsPool::as_pool(&self.write),
        ]
    }

    /// A write transaction ([`Dialect::begin`]).
    pub(crate) async fn begin(&self) -> Result<Tx<DB>> {
        Ok(DB::begin(&self.write).await?)
    }
}

/// The current time at the precision both backends store (microseconds).
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn not_found(entity: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| match e {
        sqlx::Error::RowNotFound => Error::NotFound { entity },
        other => Error::from(other),
    }
}

pub(crate) fn bind_value<DB: Dialect>(qb: &mut QueryBuilder<DB>, value: &Value) {
    match value {
        Value::Int(v) => qb.push_bind(*v),
        Value::Bool(v) => qb.push_bind(*v),
        Value::Text(v) => qb.push_bind(v.clone()),
        Value::Uuid(v) => qb.push_bind(*v),
        Value::Time(v) => qb.push_bind(*v),
    };
}

/// Whether a condition compares with text holding NUL: no stored text holds one (validation
/// refuses it, PostgreSQL text cannot hold it), so the condition matches nothing.
pub(crate) fn compares_nul(cond: &Cond) -> bool {
    match cond {
        Cond::Eq(_, Value::Text(t))
        | Cond::AtLeast(_, Value::Text(t))
        | Cond::Before(_, Value::Text(t))
        | Cond::Search(_, t)
        | Cond::IndexedSearch(_, t, _, _) => t.contains('\0'),
        _ => false,
    }
}

pub(crate) fn push_where<DB: Dialect>(qb: &mut QueryBuilder<DB>, conds: &[Cond]) {
    for (i, cond) in conds.iter().enumerate() {
        qb.push(if i == 0 { " WHERE " } else { " AND " });
        if compares_nul(cond) {
            qb.push("1 = 0");
            continue;
        }
        match cond {
            Cond::Eq(col, v) => {
                qb.push(col).push(" = ");
                bind_value(qb, v);
            }
            Cond::AtLeast(col, v) => {
                qb.push(col).push(" >= ");
                bind_value(qb, v);
            }
            Cond::Before(col, v) => {
                qb.push(col).push(" < ");
                bind_value(qb, v);
            }
            Cond::Search(cols, pattern) => push_like(qb, cols, pattern),
            Cond::AfterDesc(col, v, id) => {
                qb.push(col).push(" <= ");
                bind_value(qb, v);
                qb.push(" AND (").push(col).push(" < ");
                bind_value(qb, v);
                qb.push(" OR id < ").push_bind(*id).push(")");
            }
            Cond::IndexedSearch(cols, pattern, fts, text) => {
                push_fts(qb, fts, text);
                push_like(qb, cols, pattern);
            }
        }
    }
}

/// `(col LIKE pattern OR …)`, case-insensitive, metacharacters escaped.
pub(crate) fn push_like<DB: Dialect>(qb: &mut QueryBuilder<DB>, cols: &[&str], pattern: &str) {
    qb.push("(");
    for (j, col) in cols.iter().enumerate() {
        if j > 0 {
            qb.push(" OR ");
        }
        qb.push(col).push(DB::LIKE);
        qb.push_bind(pattern.to_owned());
        qb.push(" ESCAPE '\\'");
    }
    qb.push(")");
}

/// On SQLite, `id IN (FTS5 trigram candidates) AND ` before the LIKE that decides; nothing on
/// PostgreSQL (whose planner uses the trigram indexes for the LIKE itself) or for a text too
/// short for trigrams.
pub(crate) fn push_fts<DB: Dialect>(qb: &mut QueryBuilder<DB>, fts: &str, text: &str) {
    if !DB::FTS_SEARCH {
        return;
    }
    if let Some(phrase) = crate::query::fts_phrase(text) {
        qb.push("(id IN (SELECT rowid FROM ")
            .push(fts)
            .push(" WHERE ")
            .push(fts)
            .push(" MATCH ")
            .push_bind(phrase)
            .push(")");
        if fts == "chat_messages_fts" {
            // Messages are indexed in the background, up to a mark: the rows above it are
            // few and the LIKE that follows checks them, so the result stays exact.
            qb.push(" OR id > (SELECT indexed_upto FROM chat_messages_fts_state)");
        }
        qb.push(") AND ");
    }
}

pub(crate) fn push_order<F: SortField, DB: Dialect>(qb: &mut QueryBuilder<DB>, sort: Sort<F>) {
    let dir = if sort.descending {
        " DESC NULLS FIRST"
    } else {
        " ASC NULLS LAST"
    };
    qb.push(" ORDER BY ").push(sort.field.column()).push(dir);
    if sort.field.column() != "id" {
        qb.push(", id")
            .push(if sort.descending { " DESC" } else { " ASC" });
    }
}

/// Writes an audit entry in the transaction of the change, when the store acts as someone.
/// Records `event` in the transaction of the change it reports: the seam through which the
/// activity stream and the webhook outbox learn of client changes (chat messages are reported
/// by the append batch itself). Called before the change's commit, so an event exists exactly
/// when its change does.
pub(crate) async fn emit<DB: Dialect>(tx: &mut Tx<DB>, event: &Event) -> Result<()> {
    record_activity(tx, event).await?;
    outbox_enqueue(tx, event).await?;
    Ok(())
}

/// Ends the client's active assignment and makes `assigned_to` its active assignee, inside `tx`
/// (whose caller has locked the client row): the assignment row, its audit entry and the
/// `client.assigned` event. A user that does not exist is a validation error on `field`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn assign_in<DB: Dialect>(
    tx: &mut Tx<DB>,
    client_id: ClientId,
    assigned_to: UserId,
    assigned_by: Option<UserId>,
    remarks: &str,
    at: chrono::DateTime<chrono::Utc>,
    audit: &Audit<'_>,
    field: &'static str,
) -> Result<Assignment> {
    sqlx::query(
        "UPDATE client_assignments SET is_active = $1, updated_at = $2 \
         WHERE client_id = $3 AND is_active = $4",
    )
    .bind(false)
    .bind(at)
    .bind(client_id.0)
    .bind(true)
    .execute(&mut **tx)
    .await?;
    let row: AssignmentRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO client_assignments (client_id, assigned_to_id, assigned_by_id, is_active, \
         remarks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         RETURNING {ASSIGNMENT_COLS}"
    )))
    .bind(client_id.0)
    .bind(assigned_to.0)
    .bind(assigned_by.map(|u| u.0))
    .bind(true)
    .bind(remarks)
    .bind(at)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match e.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => {
            Error::invalid(field, Rule::DoesNotExist { id: assigned_to.0 })
        }
        _ => Error::from(e),
    })?;
    let assignment = Assignment::try_from(row)?;
    let repr = format!("client {client_id} -> user {assigned_to}");
    record(
        tx,
        audit,
        AuditAction::Create,
        "clientassignment",
        assignment.id,
        &repr,
    )
    .await?;
    emit(tx, &Event::ClientAssigned(assignment.clone())).await?;
    Ok(assignment)
}

pub(crate) async fn record<DB: Dialect>(
    tx: &mut Tx<DB>,
    audit: &Audit<'_>,
    action: AuditAction,
    object_type: &str,
    object_id: impl ToString,
    object_repr: &str,
) -> Result<()> {
    let Some(actor) = audit.actor else {
        return Ok(());
    };
    let repr: String = object_repr.chars().take(255).collect();
    // The actor may have just deleted themselves: link only while the user exists.
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) \
         VALUES ((SELECT id FROM users WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(actor.id.0)
    .bind(&actor.repr)
    .bind(action.as_str())
    .bind(object_type)
    .bind(object_id.to_string())
    .bind(repr)
    .bind(sqlx::types::Json(&audit.changes))
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page from `limit + 1` fetched rows (the extra one only says that more follow).
pub(crate) fn paged<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    total: i64,
    estimated: bool,
) -> Result<Page<T>>
where
    T: TryFrom<R, Error = Error>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    Ok(Page {
        items: rows.into_iter().map(T::try_from).collect::<Result<_>>()?,
        total: u64::try_from(total).unwrap_or(0),
        estimated,
        has_next,
    })
}

/// [`record`] for many objects of one kind at once: one multi-row INSERT (a bulk delete of 500
/// messages is one statement, not 500). Each object is `(id, description, changes)`: its own
/// changes are recorded when they are an object, the audit's shared changes otherwise.
pub(crate) async fn record_many<DB: Dialect>(
    tx: &mut Tx<DB>,
    audit: &Audit<'_>,
    action: AuditAction,
    object_type: &str,
    objects: &[(String, String, serde_json::Value)],
) -> Result<()> {
    let Some(actor) = audit.actor else {
        return Ok(());
    };
    if objects.is_empty() {
        return Ok(());
    }
    let at = now();
    let mut qb = QueryBuilder::<DB>::new(
        "INSERT INTO audit_log (actor_id, actor_repr, action, object_type, object_id, \
         object_repr, changes, created_at) ",
    );
    qb.push("SELECT (SELECT id FROM users WHERE id = ");
    qb.push_bind(actor.id.0);
    qb.push("), v.* FROM (");
    qb.push_values(objects, |mut b, (id, repr, own)| {
        let changes = if own.is_object() { own } else { &audit.changes };
        b.push_bind(&actor.repr)
            .push_bind(action.as_str())
            .push_bind(object_type)
            .push_bind(id)
            .push_bind(repr.chars().take(255).collect::<String>())
            .push_bind(sqlx::types::Json(changes))
            .push_bind(at);
    });
    qb.push(") AS v");
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

pub(crate) fn preview(text: &str) -> String {
    text.chars().take(50).collect()
}

impl<DB: Dialect> Sql<DB> {
    /// `SELECT cols FROM table WHERE conds ORDER BY sort LIMIT/OFFSET` and the matching count.
    pub(crate) async fn list<R, T, F>(
        &self,
        cols: &str,
        table: &str,
        conds: &[Cond],
        sort: Sort<F>,
        page: PageRequest,
    ) -> Result<Page<T>>
    where
        R: for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
        T: TryFrom<R, Error = Error>,
        F: SortField,
    {
        let (total, estimated) = self
            .bounded_count(table, conds.is_empty(), |qb| push_where(qb, conds))
            .await?;

        let mut select = QueryBuilder::<DB>::new(format!("SELECT {cols} FROM {table}"));
        push_where(&mut select, conds);
        push_order(&mut select, sort);
        let limit = page.clamped_limit();
        select.push(" LIMIT ").push_bind(limit + 1);
        select.push(" OFFSET ").push_bind(page.clamped_offset());
        let rows: Vec<R> = select.build_query_as().fetch_all(&self.read).await?;
        paged(rows, limit, total, estimated)
    }

    /// The rows of `table` matching the `WHERE` that `filter` pushes, counted exactly up to the
    /// store's count limit (so a count never reads more rows than that) and estimated beyond:
    /// from statistics for a whole table, or as the limit + 1 (a lower bound) for a filtered one.
    pub(crate) async fn bounded_count(
        &self,
        table: &str,
        unfiltered: bool,
        filter: impl FnOnce(&mut QueryBuilder<DB>),
    ) -> Result<(i64, bool)> {
        if unfiltered && DB::ESTIMATE_FIRST {
            // Statistics that say "far more than the limit" answer at once.
            if let Some(estimate) = DB::estimate_rows(self, table).await?
                && estimate > self.count_limit.saturating_mul(2)
            {
                return Ok((estimate, true));
            }
        }
        let mut count =
            QueryBuilder::<DB>::new(format!("SELECT count(*) FROM (SELECT 1 FROM {table}"));
        filter(&mut count);
        count
            .push(" LIMIT ")
            .push_bind(self.count_limit + 1)
            .push(") AS bounded");
        let counted: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        if counted <= self.count_limit {
            return Ok((counted, false));
        }
        let estimate = if unfiltered {
            DB::estimate_rows(self, table).await?
        } else {
            None
        };
        Ok((estimate.unwrap_or(0).max(counted), true))
    }

    /// Runs a statement directly (tests only: for states the API cannot produce).
    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    /// Runs a query returning one text column (tests only).
    #[cfg(test)]
    pub(crate) async fn fetch_texts(&self, sql: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&self.write)
            .await?)
    }

    /// Checks that an optional referenced row exists, as a validation error on `field`.
    pub(crate) async fn check_ref(
        tx: &mut Tx<DB>,
        table: &str,
        field: &'static str,
        id: Option<i64>,
    ) -> Result<()> {
        let Some(id) = id else { return Ok(()) };
        let found: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(Error::invalid(field, Rule::DoesNotExist { id })),
        }
    }
}

/// `a, b, c` as binds (the caller checks that `ids` is not empty).
pub(crate) fn push_uuid_list<DB: Dialect>(qb: &mut QueryBuilder<DB>, ids: &[uuid::Uuid]) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
}

/// Writes a client event to the activity log in the change's transaction (and, on PostgreSQL,
/// queues the wake-up `NOTIFY`, sent at commit). Message events are not written here: the
/// activity stream reads them from `chat_messages` itself.
pub(crate) async fn record_activity<DB: Dialect>(tx: &mut Tx<DB>, event: &Event) -> Result<()> {
    let (client_id, session_id) = match event {
        Event::MessageCreated(_) => return Ok(()),
        Event::ClientCreated(c) => (c.client.id.0, c.chat_session_id.map(|s| s.0)),
        Event::ClientStageChanged(s) => (s.client_id.0, None),
        Event::ClientAssigned(a) => (a.client_id.0, None),
    };
    let payload = serde_json::to_string(event)
        .map_err(|e| Error::Internal(format!("event not serialisable: {e}")))?;
    sqlx::query(
        "INSERT INTO activity_events (kind, client_id, session_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.kind().as_str())
    .bind(client_id)
    .bind(session_id)
    .bind(payload)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    if let Some(notify) = DB::NOTIFY_ACTIVITY {
        sqlx::query(notify).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes one outbox row per active endpoint subscribed to `event`'s kind, in the transaction
/// of the change it reports (called from `emit`). Nothing when no endpoint subscribes.
pub(crate) async fn outbox_enqueue<DB: Dialect>(tx: &mut Tx<DB>, event: &Event) -> Result<()> {
    let kind = event.kind();
    let (session_id, client_id) = match event {
        Event::MessageCreated(m) => (Some(m.session_id.0), None),
        Event::ClientCreated(c) => (c.chat_session_id.map(|s| s.0), Some(c.client.id.0)),
        Event::ClientStageChanged(c) => (None, Some(c.client_id.0)),
        Event::ClientAssigned(a) => (None, Some(a.client_id.0)),
    };
    let payload = serde_json::to_string(event)
        .map_err(|e| Error::Internal(format!("event serialisation: {e}")))?;
    let at = crate::webhooks::micros(now());
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, session_id, \
         client_id, created_at, next_attempt_at, retry_since) \
         SELECT id, $1, $2, $3, $4, $5, $6, $6, $6 FROM webhook_endpoints \
         WHERE active AND (event_mask & $7) <> 0",
    )
    .bind(crate::webhooks::new_event_id())
    .bind(kind.as_str())
    .bind(payload)
    .bind(session_id)
    .bind(client_id)
    .bind(at)
    .bind(crate::webhooks::kind_bit(kind))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The row lock suffix of a worker's claim: `FOR UPDATE SKIP LOCKED` on PostgreSQL (each due
/// row goes to one claimer), nothing on SQLite (the single writer serialises claims).
pub(crate) fn skip_locked<DB: Dialect>() -> &'static str {
    if DB::FOR_UPDATE.is_empty() {
        ""
    } else {
        " FOR UPDATE SKIP LOCKED"
    }
}

/// Erasure: removes the activity rows of erased sessions (a deleted client's rows go with it by
/// `ON DELETE CASCADE`). Called from `delete_conversations`, in the erasure's transaction.
pub(crate) async fn forget_activity<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[uuid::Uuid],
) -> Result<u64> {
    let mut deleted = 0;
    for chunk in sessions.chunks(500) {
        let mut qb = QueryBuilder::<DB>::new("DELETE FROM activity_events WHERE session_id IN (");
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        deleted += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(deleted)
}

/// Erasure: deletes the outbox rows carrying data of `sessions` (their messages, or a lead
/// created from them).
pub(crate) async fn outbox_forget_sessions<DB: Dialect>(
    tx: &mut Tx<DB>,
    sessions: &[uuid::Uuid],
) -> Result<u64> {
    let mut deleted = 0;
    for chunk in sessions.chunks(500) {
        let mut qb =
            QueryBuilder::<DB>::new("DELETE FROM webhook_deliveries WHERE session_id IN (");
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        deleted += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(deleted)
}

/// Erasure: deletes the outbox rows carrying data of the client `id`.
pub(crate) async fn outbox_forget_client<DB: Dialect>(
    tx: &mut Tx<DB>,
    id: ClientId,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM webhook_deliveries WHERE client_id = $1")
            .bind(id.0)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// The purge: deletes deliveries delivered before `before` (µs), with their attempts.
pub(crate) async fn outbox_purge_delivered<DB: Dialect>(
    tx: &mut Tx<DB>,
    before: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND finished_at < $1",
    )
    .bind(before)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
