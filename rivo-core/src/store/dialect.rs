//! What differs between the SQL backends, as one trait: every per-backend constant and the few
//! per-backend operations of the shared SQL code ([`super::sql::Sql`]), implemented for
//! [`sqlx::Postgres`] and [`sqlx::Sqlite`]. A third backend is one more `impl Dialect`.
//!
//! The trait also carries every sqlx bound the shared code needs (executors, argument and row
//! types), so that `DB: Dialect` alone is enough in `impl<DB: Dialect> Sql<DB>`. Rust implies a
//! trait's supertraits and the associated-type bounds written in them, but not its other
//! where-clauses: a bound on a type such as `i64` is therefore written as a bound on
//! `<DB as Is<i64>>::It`, which every dialect defines as `i64` itself.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::database::HasStatementCache;
use sqlx::types::Json;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Postgres, Sqlite, Type,
};
use uuid::Uuid;

use super::append::NewMessage;
use super::sql::{Sql, Tx};
use crate::chat::ChatMessage;
use crate::error::Result;
use crate::streams::Mark;

/// `T` itself, named through a dialect: `Is<T, It = T> + Is<T, It: Bound>` among a trait's
/// supertraits says `T: Bound` in a way that every `DB: Dialect` bound implies.
pub(crate) trait Is<T: ?Sized> {
    /// Always `T`.
    type It: ?Sized;
}

impl<T: ?Sized> Is<T> for Postgres {
    type It = T;
}

impl<T: ?Sized> Is<T> for Sqlite {
    type It = T;
}

/// A type the shared code binds as a parameter and reads back from a row.
pub(crate) trait Scalar<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync
{
}

impl<DB: Database, T> Scalar<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync
{
}

/// A type the shared code binds as a parameter only.
pub(crate) trait Param<DB: Database>:
    for<'q> Encode<'q, DB> + Type<DB> + Send + Sync
{
}

impl<DB: Database, T: ?Sized> Param<DB> for T where
    T: for<'q> Encode<'q, DB> + Type<DB> + Send + Sync
{
}

/// The rows a statement changed, whatever the backend.
pub(crate) trait RowsAffected {
    /// How many rows the statement inserted, updated or deleted.
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// The connection pool type of a backend (PostgreSQL wraps sqlx's pool, see `postgres.rs`).
pub(crate) trait HasPool: Database {
    /// The pool the shared code runs single statements on (`&pool` is an executor).
    type Pool: super::AsPool<Self> + Clone + std::fmt::Debug + Send + Sync + 'static;
}

/// The contract between the shared SQL code and a backend.
pub(crate) trait Dialect:
    Database<Arguments: IntoArguments<Self>, QueryResult: RowsAffected>
    + HasStatementCache
    + HasPool
    + for<'c> Is<&'c mut Self::Connection, It = &'c mut Self::Connection>
    + for<'c> Is<&'c mut Self::Connection, It: Executor<'c, Database = Self>>
    + for<'p> Is<&'p Self::Pool, It = &'p Self::Pool>
    + for<'p> Is<&'p Self::Pool, It: Executor<'p, Database = Self>>
    + for<'p> Is<&'p sqlx::Pool<Self>, It = &'p sqlx::Pool<Self>>
    + for<'p> Is<&'p sqlx::Pool<Self>, It: Executor<'p, Database = Self>>
    + Is<usize, It = usize>
    + Is<usize, It: ColumnIndex<Self::Row>>
    + for<'s> Is<&'s str, It = &'s str>
    + for<'s> Is<&'s str, It: ColumnIndex<Self::Row> + Param<Self>>
    + for<'s> Is<&'s String, It = &'s String>
    + for<'s> Is<&'s String, It: Param<Self>>
    + for<'s> Is<&'s [u8], It = &'s [u8]>
    + for<'s> Is<&'s [u8], It: Param<Self>>
    + Is<bool, It = bool>
    + Is<bool, It: Scalar<Self>>
    + Is<i32, It = i32>
    + Is<i32, It: Scalar<Self>>
    + Is<i64, It = i64>
    + Is<i64, It: Scalar<Self>>
    + Is<f64, It = f64>
    + Is<f64, It: Scalar<Self>>
    + Is<String, It = String>
    + Is<String, It: Scalar<Self>>
    + Is<Vec<u8>, It = Vec<u8>>
    + Is<Vec<u8>, It: Scalar<Self>>
    + Is<Uuid, It = Uuid>
    + Is<Uuid, It: Scalar<Self>>
    + Is<DateTime<Utc>, It = DateTime<Utc>>
    + Is<DateTime<Utc>, It: Scalar<Self>>
    + Is<Json<serde_json::Value>, It = Json<serde_json::Value>>
    + Is<Json<serde_json::Value>, It: Scalar<Self>>
    + for<'j> Is<Json<&'j serde_json::Value>, It = Json<&'j serde_json::Value>>
    + for<'j> Is<Json<&'j serde_json::Value>, It: Param<Self>>
    + for<'j> Is<Json<&'j JsonMap>, It = Json<&'j JsonMap>>
    + for<'j> Is<Json<&'j JsonMap>, It: Param<Self>>
    + Is<Option<i32>, It = Option<i32>>
    + Is<Option<i32>, It: Param<Self>>
    + Is<Option<i64>, It = Option<i64>>
    + Is<Option<i64>, It: Param<Self>>
    + Is<Option<Uuid>, It = Option<Uuid>>
    + Is<Option<Uuid>, It: Param<Self>>
    + Is<Option<String>, It = Option<String>>
    + Is<Option<String>, It: Param<Self>>
    + for<'s> Is<Option<&'s str>, It = Option<&'s str>>
    + for<'s> Is<Option<&'s str>, It: Encode<'s, Self> + Type<Self>>
    + Is<Option<DateTime<Utc>>, It = Option<DateTime<Utc>>>
    + Is<Option<DateTime<Utc>>, It: Param<Self>>
{
    /// The case-insensitive `LIKE` operator, with spaces around it.
    const LIKE: &'static str;
    /// The row-lock suffix of a `SELECT` that precedes a change of the row (empty where the
    /// single writer already serialises changes).
    const FOR_UPDATE: &'static str;
    /// Whether substring search goes through an FTS index first ([`Cond::IndexedSearch`]).
    ///
    /// [`Cond::IndexedSearch`]: crate::query::Cond::IndexedSearch
    const FTS_SEARCH: bool;
    /// Whether an unfiltered count asks the planner's row estimate before counting.
    const ESTIMATE_FIRST: bool;
    /// A session's live-stream token (see `crate::streams::Mark`), bound to the session id.
    const SESSION_TOKEN: &'static str;
    /// The newest position of each log where an activity stream starts "now":
    /// `(message tx, message id, event tx, event id)`.
    const ACTIVITY_HEAD: &'static str;
    /// Messages of every session after a `(tx, id)` position, in position order, bound to
    /// `(tx, id)`; ends in `LIMIT `, the caller appends the number (a literal: see
    /// the `sql` module).
    const GLOBAL_MESSAGES: &'static str;
    /// Client events after a `(tx, id)` position, like [`Dialect::GLOBAL_MESSAGES`].
    const ACTIVITY_EVENTS: &'static str;
    /// The statement that queues the wake-up of a client event, if the backend sends one.
    const NOTIFY_ACTIVITY: Option<&'static str>;

    /// Per-backend state of a [`Sql`] besides its pools.
    type Ext: Clone + std::fmt::Debug + Send + Sync + 'static;

    /// Whether statements are prepared and kept (not behind a transaction-mode pooler).
    fn persistent() -> bool;

    /// Opens a write transaction.
    fn begin(
        pool: &Self::Pool,
    ) -> impl Future<Output = std::result::Result<Tx<Self>, sqlx::Error>> + Send;

    /// A cheap estimate of a table's rows (`None` when there is none).
    fn estimate_rows(
        sql: &Sql<Self>,
        table: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Serialises throttle checks of one key until the end of `tx`.
    fn lock_throttle_key(tx: &mut Tx<Self>, key: &str) -> impl Future<Output = Result<()>> + Send;

    /// The append batch's statements inside an open transaction, and the live-stream marks
    /// known before the commit.
    fn append_in(
        sql: &Sql<Self>,
        tx: &mut Tx<Self>,
        rows: &[&NewMessage],
        origin: &str,
    ) -> impl Future<Output = Result<(Vec<ChatMessage>, Vec<Mark>)>> + Send;

    /// The live-stream marks of rows committed through [`Dialect::append_in`].
    fn committed_marks(
        sql: &Sql<Self>,
        stored: &[ChatMessage],
        marks: Vec<Mark>,
    ) -> Result<Vec<Mark>>;

    /// Brings the session rows up to date after an import wrote messages.
    fn import_sessions(
        sql: &Sql<Self>,
        tx: &mut Tx<Self>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// A JSON object.
type JsonMap = serde_json::Map<String, serde_json::Value>;

impl HasPool for Postgres {
    type Pool = super::postgres::PgPool;
}

impl HasPool for Sqlite {
    type Pool = sqlx::Pool<Sqlite>;
}

/// The [`Dialect`] operations that each backend implements as inherent methods of its
/// `Sql<Self>` of the same name (in `postgres.rs` and `sqlite.rs`).
macro_rules! backend_methods {
    () => {
        fn estimate_rows(
            sql: &Sql<Self>,
            table: &str,
        ) -> impl Future<Output = Result<Option<i64>>> + Send {
            sql.estimate_rows(table)
        }

        fn append_in(
            sql: &Sql<Self>,
            tx: &mut Tx<Self>,
            rows: &[&NewMessage],
            origin: &str,
        ) -> impl Future<Output = Result<(Vec<ChatMessage>, Vec<Mark>)>> + Send {
            sql.append_in(tx, rows, origin)
        }

        fn committed_marks(
            sql: &Sql<Self>,
            stored: &[ChatMessage],
            marks: Vec<Mark>,
        ) -> Result<Vec<Mark>> {
            sql.committed_marks(stored, marks)
        }

        fn import_sessions(
            sql: &Sql<Self>,
            tx: &mut Tx<Self>,
        ) -> impl Future<Output = Result<()>> + Send {
            sql.refresh_imported_sessions(tx)
        }
    };
}

impl Dialect for Postgres {
    const LIKE: &'static str = " ILIKE ";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Substring search needs no rewriting: the planner uses the pg_trgm GIN indexes.
    const FTS_SEARCH: bool = false;
    /// The planner's row estimate (kept current by autovacuum) answers an unfiltered count of a
    /// big table without reading it.
    const ESTIMATE_FIRST: bool = true;
    /// The session row's `append_seq`, raised by every batch that appends to it, under the
    /// row's lock (see `APPEND_BATCH` in `postgres.rs`).
    const SESSION_TOKEN: &'static str =
        "SELECT (SELECT append_seq FROM chat_sessions WHERE session_id = $1)";
    /// Below the oldest transaction still running (rows of later transactions are still to
    /// come).
    const ACTIVITY_HEAD: &'static str = "SELECT h, 0::bigint, h, 0::bigint FROM \
        (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS h) AS s";
    /// Only from transactions older than every one still running: those are final, so nothing
    /// can later appear before a row already given.
    const GLOBAL_MESSAGES: &'static str = "SELECT id, session_id, message, sender_type, \
        data_type, sent_at, tx::text::bigint AS tx FROM chat_messages \
        WHERE tx IS NOT NULL AND (tx, id) > ($1::text::xid8, $2) \
        AND tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx, id LIMIT ";
    const ACTIVITY_EVENTS: &'static str = "SELECT tx::text::bigint, id, payload \
        FROM activity_events WHERE (tx, id) > ($1::text::xid8, $2) \
        AND tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx, id LIMIT ";
    /// Sent at commit; duplicates in one transaction fold.
    const NOTIFY_ACTIVITY: Option<&'static str> = Some("SELECT pg_notify('rivo_events', 'a')");

    type Ext = super::postgres::PgExt;

    fn persistent() -> bool {
        super::sql::sqlx::persistent()
    }

    fn begin(
        pool: &Self::Pool,
    ) -> impl Future<Output = std::result::Result<Tx<Self>, sqlx::Error>> + Send {
        pool.begin()
    }

    fn lock_throttle_key(tx: &mut Tx<Self>, key: &str) -> impl Future<Output = Result<()>> + Send {
        super::postgres::lock_throttle_key(tx, key)
    }

    backend_methods!();
}

impl Dialect for Sqlite {
    const LIKE: &'static str = " LIKE ";
    const FOR_UPDATE: &'static str = "";
    /// Substring search goes through the FTS5 trigram tables first.
    const FTS_SEARCH: bool = true;
    /// SQLite keeps no row statistics (the rowid span is only an upper bound): always count, up
    /// to the limit.
    const ESTIMATE_FIRST: bool = false;
    /// The id of the session's newest message (the writer hands a batch's rows over with the id
    /// it knows to be the newest before them, see `StreamMarks` in `sqlite.rs`).
    const SESSION_TOKEN: &'static str = "SELECT max(id) FROM chat_messages WHERE session_id = $1";
    /// The newest id of each log (one writer: ids are taken in commit order).
    const ACTIVITY_HEAD: &'static str = "SELECT 0, (SELECT coalesce(max(id), 0) FROM \
        chat_messages), 0, (SELECT coalesce(max(id), 0) FROM activity_events)";
    /// After an id (the `tx` of a position is always 0 here).
    const GLOBAL_MESSAGES: &'static str = "SELECT id, session_id, message, sender_type, \
        data_type, sent_at, 0 AS tx FROM chat_messages WHERE $1 IS NOT NULL AND id > $2 \
        ORDER BY id LIMIT ";
    const ACTIVITY_EVENTS: &'static str = "SELECT 0, id, payload FROM activity_events \
        WHERE $1 IS NOT NULL AND id > $2 ORDER BY id LIMIT ";
    /// No `NOTIFY`: the store wakes this process's streams after the commit.
    const NOTIFY_ACTIVITY: Option<&'static str> = None;

    type Ext = super::sqlite::SqliteExt;

    fn persistent() -> bool {
        true
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that reads before it
    /// writes never fails to upgrade its lock.
    fn begin(
        pool: &Self::Pool,
    ) -> impl Future<Output = std::result::Result<Tx<Self>, sqlx::Error>> + Send {
        pool.begin_with("BEGIN IMMEDIATE")
    }

    /// Throttle checks are already serialised: every write transaction holds the only writer
    /// connection and starts with `BEGIN IMMEDIATE`.
    async fn lock_throttle_key(_tx: &mut Tx<Self>, _key: &str) -> Result<()> {
        Ok(())
    }

    backend_methods!();
}
