//! The PostgreSQL backend: one pool shared by reads and writes; row locks serialise changes of
//! one client.

use std::time::Duration;

use ::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use ::sqlx::{Pool, Postgres};

use super::sql::{Sql, Tx, sqlx};
use super::{StoreOptions, count_limit};

type Db = Postgres;

/// The PostgreSQL backend: the shared SQL on PostgreSQL's pools.
pub(crate) type Backend = Sql<Postgres>;

/// PostgreSQL's own state of a [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct PgExt {
    /// Behind a transaction-mode pooler ([`StoreOptions::transaction_pooler`]).
    pooler: bool,
}

/// The connection pool. Behind a transaction-mode pooler, a statement run on the pool itself
/// (not in a transaction) runs in a transaction of its own: sqlx sends an unnamed statement's
/// Parse and its Bind in two round trips, each ending with a Sync, and between them a pooler
/// may hand the server connection to another client (`unnamed prepared statement does not
/// exist`). Inside a transaction the pooler keeps the server connection.
#[derive(Debug, Clone)]
pub(crate) struct PgPool {
    pool: Pool<Db>,
    wrap: bool,
}

impl super::AsPool<Db> for PgPool {
    fn as_pool(&self) -> &Pool<Db> {
        &self.pool
    }
}

impl PgPool {
    pub(crate) async fn begin(&self) -> Result<::sqlx::Transaction<'static, Db>, ::sqlx::Error> {
        self.pool.begin().await
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

impl<'p> ::sqlx::Executor<'p> for &'_ PgPool {
    type Database = Db;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::stream::BoxStream<
        'e,
        Result<
            ::sqlx::Either<::sqlx::postgres::PgQueryResult, ::sqlx::postgres::PgRow>,
            ::sqlx::Error,
        >,
    >
    where
        'p: 'e,
        E: 'q + ::sqlx::Execute<'q, Db>,
    {
        use futures_util::{StreamExt, TryStreamExt};
        if !self.wrap {
            return (&self.pool).fetch_many(query);
        }
        let pool = self.pool.clone();
        futures_util::stream::once(async move {
            let mut tx = pool.begin().await?;
            let items: Vec<_> = (&mut *tx).fetch_many(query).try_collect().await?;
            tx.commit().await?;
            Ok::<_, ::sqlx::Error>(futures_util::stream::iter(items.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::future::BoxFuture<'e, Result<Option<::sqlx::postgres::PgRow>, ::sqlx::Error>>
    where
        'p: 'e,
        E: 'q + ::sqlx::Execute<'q, Db>,
    {
        if !self.wrap {
            return (&self.pool).fetch_optional(query);
        }
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(query).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: ::sqlx::SqlStr,
        parameters: &'e [::sqlx::postgres::PgTypeInfo],
    ) -> futures_core::future::BoxFuture<'e, Result<::sqlx::postgres::PgStatement, ::sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    // Required while sqlx's `offline` feature is on (it is, through its macros).
    fn describe<'e>(
        self,
        sql: ::sqlx::SqlStr,
    ) -> futures_core::future::BoxFuture<'e, Result<::sqlx::Describe<Db>, ::sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).describe(sql)
    }
}

/// Removes rivo's own `pooler=transaction` URL parameter (sqlx does not know it).
fn strip_pooler_param(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), false);
    };
    let mut found = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let is_pooler = pair.eq_ignore_ascii_case("pooler=transaction");
            found |= is_pooler;
            !is_pooler && !pair.is_empty()
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), found)
    } else {
        (format!("{base}?{}", kept.join("&")), found)
    }
}

impl Backend {
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> crate::Result<Self> {
        let (url, pooler_param) = strip_pooler_param(url);
        let pooler = options.transaction_pooler || pooler_param;
        let mut connect: PgConnectOptions = url.parse()?;
        if pooler {
            // Statements of every PostgreSQL store of this process are unnamed from now on.
            sqlx::set_unnamed();
            // A pooler forwards no startup options (PgBouncer refuses unknown ones).
            connect = connect.extra_float_digits(None);
        } else if let Some(timeout) = options.statement_timeout.filter(|t| !t.is_zero()) {
            connect =
                connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(connect);
        let pool = PgPool { pool, wrap: pooler };
        Ok(Sql {
            read: pool.clone(),
            write: pool,
            count_limit: count_limit(options),
            ext: PgExt { pooler },
        })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        if self.ext.pooler {
            self.migrate_in_one_transaction().await?;
            self.backfill_email_keys().await?;
            return Ok(());
        }
        // Migrations serve no request: on a connection of their own without the store's
        // `statement_timeout` (a backfill or an index build on a big table takes minutes).
        let mut conn = self.write.pool.acquire().await?;
        ::sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        let migrated = sqlx::migrate!("../migrations/postgres")
            .run(&mut *conn)
            .await;
        ::sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        migrated?;
        // Migration 0004's `email_key` is computed in Rust.
        self.backfill_email_keys().await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn migrate_until(&self, version: i64) -> crate::Result<()> {
        let all = sqlx::migrate!("../migrations/postgres");
        let until = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                all.iter()
                    .filter(|m| m.version <= version)
                    .cloned()
                    .collect(),
            ),
            // A fresh database of one test: no concurrent migrator, and a session-level lock
            // would not survive a transaction-mode pooler.
            locking: false,
            ..all
        };
        until.run(&self.write.pool).await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        let migrator = sqlx::migrate!("../migrations/postgres");
        if self.ext.pooler {
            let mut tx = self.read.begin().await?;
            let applied = self.applied_versions(&mut tx).await?;
            tx.commit().await?;
            return Ok(migrator
                .iter()
                .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
                .map(|m| format!("{}_{}", m.version, m.description))
                .collect());
        }
        super::pending(&migrator, &self.read.pool).await
    }

    /// Versions recorded in sqlx's `_sqlx_migrations` table (empty when it does not exist).
    async fn applied_versions(
        &self,
        conn: &mut sqlx::PgConnection,
    ) -> crate::Result<std::collections::HashSet<i64>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            return Ok(Default::default());
        }
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut *conn)
                .await?;
        Ok(versions.into_iter().collect())
    }

    /// Migrations through a transaction-mode pooler: sqlx's migrator holds a session-level
    /// advisory lock across transactions and prepares named statements, neither of which
    /// survives a pooler. Here everything pending runs in one transaction behind a
    /// transaction-scoped advisory lock (so concurrent servers apply each migration once),
    /// recorded in sqlx's own `_sqlx_migrations` table with sqlx's checksums, so the ordinary
    /// migrator agrees with it afterwards.
    async fn migrate_in_one_transaction(&self) -> crate::Result<()> {
        let migrator = sqlx::migrate!("../migrations/postgres");
        let mut tx = self.write.begin().await?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext(current_database()))")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                success BOOLEAN NOT NULL,
                checksum BYTEA NOT NULL,
                execution_time BIGINT NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await?;
        let applied = self.applied_versions(&mut tx).await?;
        for migration in migrator.iter() {
            if migration.migration_type.is_down_migration() || applied.contains(&migration.version)
            {
                continue;
            }
            let started = std::time::Instant::now();
            sqlx::raw_sql(migration.sql.clone())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, TRUE, $3, $4)",
            )
            .bind(migration.version)
            .bind(migration.description.as_ref())
            .bind(migration.checksum.as_ref())
            .bind(i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
    }

    /// Starts the one `LISTEN` task of a store (`None` behind a transaction-mode pooler, which
    /// cannot carry `LISTEN`: streams poll there). It holds one pool connection, forwards every
    /// notification to `wake`, and after a lost connection reconnects and wakes everyone.
    pub(crate) fn spawn_listener(
        &self,
        wake: tokio::sync::broadcast::Sender<crate::streams::Wake>,
        routes: std::sync::Arc<crate::streams::Routes>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.ext.pooler {
            return None;
        }
        let pool = self.write.pool.clone();
        Some(tokio::spawn(async move {
            use crate::streams::Wake;
            loop {
                let connected = async {
                    let mut listener = ::sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(crate::streams::CHANNEL).await?;
                    Ok::<_, ::sqlx::Error>(listener)
                }
                .await;
                let mut listener = match connected {
                    Ok(listener) => listener,
                    Err(::sqlx::Error::PoolClosed) => return,
                    Err(err) => {
                        tracing::warn!(%err, "live streams: LISTEN failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // (Re)connected: whatever was sent meanwhile is in the database.
                let _ = wake.send(Wake::Everything);
                routes.look(&Wake::Everything);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let (w, origin) = Wake::from_payload(n.payload());
                            // This process's own batches reached its streams in memory.
                            if !routes.is_own(origin) {
                                routes.look(&w);
                                let _ = wake.send(w);
                            }
                        }
                        // Lost and re-established: look again.
                        Ok(None) => {
                            let _ = wake.send(Wake::Everything);
                            routes.look(&Wake::Everything);
                        }
                        Err(::sqlx::Error::PoolClosed) => return,
                        Err(err) => {
                            tracing::warn!(%err, "live streams: LISTEN connection failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        }))
    }

    pub(crate) async fn backup_to(&self, _path: &str) -> crate::Result<()> {
        Err(crate::Error::Unsupported(
            "rivo cannot back up a PostgreSQL database itself: use `pg_dump --format=custom \
             --file=FILE DATABASE_URL` (online and consistent), restore with `pg_restore`"
                .into(),
        ))
    }

    /// Writes a batch of messages in one statement (one round trip, one commit) and returns
    /// them in the batch's order.
    ///
    /// `sent_at` comes from the database clock, so several servers on one database agree on
    /// the order of a conversation. The statement first upserts the batch's session rows in
    /// session order: that row lock is held until commit, so concurrent batches touching one
    /// session (from any server) take their ids and times one after the other, and history
    /// order always agrees with ids. A message's time is taken under that lock and never goes
    /// back within its session (`greatest` with the session's last time), even if the clock
    /// does. Batches touching different sessions do not wait for each other.
    pub(crate) async fn append_batch(
        &self,
        rows: &[&super::append::NewMessage],
        origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let stored = append_query(rows, origin).fetch_all(&self.write).await?;
        Ok(stored_messages(stored, rows))
    }

    /// The batch statement of [`Backend::append_batch`] inside an open transaction (lead
    /// capture stores its message this way, then changes the client in the same transaction).
    /// The marks are to be handed to this process's streams after the commit.
    pub(crate) async fn append_in(
        &self,
        tx: &mut Tx<Db>,
        rows: &[&super::append::NewMessage],
        origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let stored = append_query(rows, origin).fetch_all(&mut **tx).await?;
        Ok(stored_messages(stored, rows))
    }

    /// The live-stream marks of rows committed through [`Backend::append_in`] (PostgreSQL's
    /// come from the statement itself).
    pub(crate) fn committed_marks(
        &self,
        _stored: &[crate::ChatMessage],
        marks: Vec<crate::streams::Mark>,
    ) -> crate::Result<Vec<crate::streams::Mark>> {
        Ok(marks)
    }

    /// Recounts every session row from the messages, in the import's transaction (imports
    /// insert messages with their own ids and times, outside the append path).
    pub(crate) async fn refresh_imported_sessions(&self, tx: &mut Tx<Db>) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO chat_sessions (session_id, client_id, message_count, first_message_at, \
                 last_message_at, last_message_preview, last_sender_type, append_seq) \
             SELECT a.session_id, \
                 (SELECT c.client_id FROM client_contexts c \
                  WHERE c.chat_session_id = a.session_id ORDER BY c.id LIMIT 1), \
                 a.n, a.first_at, l.sent_at, left(l.message, 100), l.sender_type, \
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1024 \
             FROM (SELECT session_id, count(*) AS n, min(sent_at) AS first_at \
                   FROM chat_messages GROUP BY session_id) AS a \
             CROSS JOIN LATERAL (SELECT m.sent_at, m.message, m.sender_type FROM chat_messages m \
                 WHERE m.session_id = a.session_id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) AS l \
             ON CONFLICT (session_id) DO UPDATE SET client_id = excluded.client_id, \
                 message_count = excluded.message_count, \
                 first_message_at = excluded.first_message_at, \
                 last_message_at = excluded.last_message_at, \
                 last_message_preview = excluded.last_message_preview, \
                 last_sender_type = excluded.last_sender_type, \
                 append_seq = chat_sessions.append_seq + 1",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The planner's estimate of a table's rows (`None` before its first ANALYZE).
    pub(crate) async fn estimate_rows(&self, table: &str) -> crate::Result<Option<i64>> {
        let estimate: Option<f32> =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
                .bind(table)
                .fetch_optional(&self.read)
                .await?;
        Ok(estimate.filter(|n| *n >= 0.0).map(|n| n as i64))
    }
}

/// The batch statement bound to `rows` (session, text, sender, data type per row) and to this
/// process's `origin` (in its `NOTIFY`).
fn append_query<'q>(
    rows: &[&super::append::NewMessage],
    origin: &str,
) -> sqlx::query::QueryAs<
    'q,
    Db,
    (i64, chrono::DateTime<chrono::Utc>, i64, i64),
    sqlx::postgres::PgArguments,
> {
    let sessions: Vec<uuid::Uuid> = rows.iter().map(|r| r.session_id.0).collect();
    let texts: Vec<String> = rows.iter().map(|r| r.message.clone()).collect();
    let senders: Vec<&'static str> = rows.iter().map(|r| r.sender_type.as_str()).collect();
    let kinds: Vec<&'static str> = rows.iter().map(|r| r.data_type.as_str()).collect();
    sqlx::query_as(APPEND_BATCH)
        .bind(sessions)
        .bind(texts)
        .bind(senders)
        .bind(kinds)
        .bind(origin.to_owned())
}

/// The stored messages of a batch, in the batch's order, from its `(id, sent_at, seq, n)` rows,
/// and each session's live-stream mark (its `append_seq` before and after the batch).
fn stored_messages(
    stored: Vec<(i64, chrono::DateTime<chrono::Utc>, i64, i64)>,
    rows: &[&super::append::NewMessage],
) -> (Vec<crate::ChatMessage>, Vec<crate::streams::Mark>) {
    let mut marks: Vec<crate::streams::Mark> = Vec::new();
    let messages = stored
        .into_iter()
        .zip(rows)
        .map(|((id, sent_at, seq, n), row)| {
            if !marks.iter().any(|m| m.session == row.session_id) {
                marks.push(crate::streams::Mark {
                    session: row.session_id,
                    prev: Some(seq - n),
                    next: seq,
                });
            }
            crate::ChatMessage {
                id: crate::MessageId(id),
                session_id: row.session_id,
                message: row.message.clone(),
                sender_type: row.sender_type,
                data_type: row.data_type,
                sent_at,
            }
        })
        .collect();
    (messages, marks)
}

/// One batch of appends: lock (upsert) the session rows in session order, then insert the
/// messages in batch order under those locks, with the time taken under the lock. Each row
/// comes back with its session's `append_seq` after the batch and the batch's message count
/// in that session (the live-stream marks: `crate::streams::Mark`).
const APPEND_BATCH: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
        AS t(session_id, message, sender_type, data_type, ord)
), per_session AS (
    SELECT DISTINCT ON (session_id) session_id, message, sender_type,
           count(*) OVER (PARTITION BY session_id) AS n
    FROM input ORDER BY session_id, ord DESC
), locked AS (
    INSERT INTO chat_sessions AS s (session_id, client_id, message_count, first_message_at,
                                    last_message_at, last_message_preview, last_sender_type,
                                    append_seq)
    SELECT p.session_id,
           (SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = p.session_id
            ORDER BY c.id LIMIT 1),
           p.n, p.now, p.now, left(p.message, 100), p.sender_type,
           (extract(epoch FROM p.now) * 1000000)::bigint * 1024 + p.n
    FROM (SELECT per_session.*, clock_timestamp() AS now FROM per_session) AS p
    ORDER BY p.session_id
    ON CONFLICT (session_id) DO UPDATE SET
        message_count = s.message_count + excluded.message_count,
        last_message_at = greatest(s.last_message_at, clock_timestamp()),
        last_message_preview = excluded.last_message_preview,
        last_sender_type = excluded.last_sender_type,
        append_seq = s.append_seq + excluded.message_count
    RETURNING s.session_id, s.last_message_at, s.append_seq
), inserted AS (
    INSERT INTO chat_messages (session_id, message, sender_type, data_type, sent_at)
    SELECT i.session_id, i.message, i.sender_type, i.data_type, l.last_message_at
    FROM input i JOIN locked l ON l.session_id = i.session_id
    ORDER BY i.ord
    RETURNING id, session_id, sent_at
), wake AS (
    -- One wake-up per batch for live streams of other servers (sent at commit): the batch's
    -- sessions, or `m*` when they would not fit in a NOTIFY payload, then `@` and this
    -- process's origin (its own streams got the rows in memory). A volatile CTE runs once.
    SELECT pg_notify('rivo_events', CASE WHEN count(*) > 200 THEN 'm*'
                     ELSE 'm' || string_agg(session_id::text, ',') END || '@' || $5::text)
    FROM locked
), outbox AS (
    -- message.created for each active endpoint that wants it (webhooks; none: no row).
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, message_id, session_id,
                                    created_at, next_attempt_at, retry_since)
    SELECT e.id, 'msg_' || n.id, 'message.created', n.id, n.session_id, t.us, t.us, t.us
    FROM webhook_endpoints e
    CROSS JOIN inserted n
    CROSS JOIN LATERAL (SELECT (extract(epoch FROM n.sent_at) * 1000000)::bigint AS us) t
    WHERE e.active AND (e.event_mask & 1) <> 0
)
SELECT n.id, n.sent_at, l.append_seq, p.n
FROM inserted n
JOIN locked l ON l.session_id = n.session_id
JOIN per_session p ON p.session_id = n.session_id
CROSS JOIN wake ORDER BY n.id";

/// Serialises throttle checks of one key until the end of `tx` (a transaction-scoped advisory
/// lock in its own key space, class 1, so it works through a transaction-mode pooler too).
pub(crate) async fn lock_throttle_key(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &str,
) -> crate::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
