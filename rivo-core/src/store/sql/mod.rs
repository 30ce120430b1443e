//! The store's SQL, written once for every backend: [`Sql`] is generic over the backend's
//! [`Dialect`], which carries what differs (a few constants and operations) and every sqlx bound
//! the shared code needs. Each domain has its own file; this one holds the type, the list engine
//! (`push_where`, `bind_value`, …) and the helpers every domain uses (`record`, `emit`, …).
//!
//! **Every `LIMIT` is a literal number, never a bound parameter.** SQLite's planner reads a
//! bound LIMIT's value (`computeLimitRegisters`), which marks the prepared statement to be
//! prepared again at its next binding: every run of a cached statement with `LIMIT $n` paid a
//! full preparation (~180k instructions for the webhook claim, measured with callgrind). A
//! literal keeps one cached statement per distinct limit; limits are numbers the store
//! computes or clamps, never text from a caller. `OFFSET` stays bound (the planner does not
//! read it).

use self::sqlx::{AssertSqlSafe, QueryBuilder};
use chrono::{DateTime, SubsecRound, Utc};

use super::dialect::Dialect;
use crate::error::{Error, Result, Rule};
use crate::events::Event;
use crate::query::{Cond, Page, PageRequest, Sort, SortField, Value};

mod accounts;
mod audit;
mod chat;
mod client_history;
mod client_views;
mod clients;
mod import;
mod leads;
mod privacy;
mod subscribe;
mod summaries;
mod tokens;
mod webhook_outbox;
mod webhooks;

pub(crate) use audit::{commit_recorded, record, record_many};
pub(crate) use client_history::{StageStep, assign_in, stage_in};
pub(crate) use clients::{lock_client, locked_client};
pub(crate) use subscribe::{forget_activity, record_activity};
pub(crate) use summaries::summaries_enqueue;
pub(crate) use webhook_outbox::{
    outbox_enqueue, outbox_enqueue_messages, outbox_forget_client, outbox_forget_sessions,
    outbox_purge_delivered, skip_locked,
};

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

pub(crate) mod sqlx;

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

    /// The row of `table` whose id is `id` (`cols` and `table` chosen by rivo-core); none is
    /// [`Error::NotFound`] naming `entity`.
    pub(crate) async fn row_by_id<R>(
        &self,
        cols: &str,
        table: &str,
        id: i64,
        entity: &'static str,
    ) -> Result<R>
    where
        R: for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
    {
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {cols} FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.read)
        .await
        .map_err(not_found(entity))
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
        select.push(" LIMIT ").push(limit + 1);
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
            .push(self.count_limit + 1)
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
        use super::dialect::RowsAffected as _;
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
/// Runs `statement` (written by rivo-core, ending in `IN (`) for `sessions`, 500 ids a run;
/// returns how many rows it changed.
pub(crate) async fn for_sessions<DB: Dialect>(
    tx: &mut Tx<DB>,
    statement: &'static str,
    sessions: &[uuid::Uuid],
) -> Result<u64> {
    use super::dialect::RowsAffected as _;
    let mut changed = 0;
    for chunk in sessions.chunks(500) {
        let mut qb = QueryBuilder::<DB>::new(statement);
        push_uuid_list(&mut qb, chunk);
        qb.push(")");
        changed += qb.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(changed)
}

pub(crate) fn push_uuid_list<DB: Dialect>(qb: &mut QueryBuilder<DB>, ids: &[uuid::Uuid]) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
}
