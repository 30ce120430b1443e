//! The PostgreSQL backend: one pool shared by reads and writes; row locks serialise changes of
//! one client.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

use super::{StoreOptions, count_limit};

type Db = Postgres;

const LIKE: &str = " ILIKE ";
const FOR_UPDATE: &str = " FOR UPDATE";
/// Substring search needs no rewriting: the planner uses the pg_trgm GIN indexes.
const FTS_SEARCH: bool = false;
/// The planner's row estimate (kept current by autovacuum) answers an unfiltered count of a big
/// table without reading it.
const ESTIMATE_FIRST: bool = true;

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    read: Pool<Db>,
    write: Pool<Db>,
    count_limit: i64,
}

impl Backend {
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> crate::Result<Self> {
        let connect: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(connect);
        Ok(Self {
            read: pool.clone(),
            write: pool,
            count_limit: count_limit(options),
        })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.write)
            .await?;
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
            ..all
        };
        until.run(&self.write).await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        super::pending(&sqlx::migrate!("../migrations/postgres"), &self.read).await
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
    }

    pub(crate) async fn backup_to(&self, _path: &str) -> crate::Result<()> {
        Err(crate::Error::Unsupported(
            "rivo cannot back up a PostgreSQL database itself: use `pg_dump --format=custom \
             --file=FILE DATABASE_URL` (online and consistent), restore with `pg_restore`"
                .into(),
        ))
    }

    async fn begin(&self) -> crate::Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin().await?)
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
    ) -> crate::Result<Vec<crate::ChatMessage>> {
        let sessions: Vec<uuid::Uuid> = rows.iter().map(|r| r.session_id.0).collect();
        let texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
        let senders: Vec<&str> = rows.iter().map(|r| r.sender_type.as_str()).collect();
        let stored: Vec<(i64, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(APPEND_BATCH)
            .bind(&sessions)
            .bind(&texts)
            .bind(&senders)
            .fetch_all(&self.write)
            .await?;
        Ok(stored
            .into_iter()
            .zip(rows)
            .map(|((id, sent_at), row)| crate::ChatMessage {
                id: crate::MessageId(id),
                session_id: row.session_id,
                message: row.message.clone(),
                sender_type: row.sender_type,
                sent_at,
            })
            .collect())
    }

    /// Recounts every session row from the messages, in the import's transaction (imports
    /// insert messages with their own ids and times, outside the append path).
    pub(crate) async fn import_sessions(&self, tx: &mut Tx) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO chat_sessions (session_id, client_id, message_count, first_message_at, \
                 last_message_at, last_message_preview, last_sender_type) \
             SELECT a.session_id, \
                 (SELECT c.client_id FROM client_contexts c \
                  WHERE c.chat_session_id = a.session_id ORDER BY c.id LIMIT 1), \
                 a.n, a.first_at, l.sent_at, left(l.message, 100), l.sender_type \
             FROM (SELECT session_id, count(*) AS n, min(sent_at) AS first_at \
                   FROM chat_messages GROUP BY session_id) AS a \
             CROSS JOIN LATERAL (SELECT m.sent_at, m.message, m.sender_type FROM chat_messages m \
                 WHERE m.session_id = a.session_id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) AS l \
             ON CONFLICT (session_id) DO UPDATE SET client_id = excluded.client_id, \
                 message_count = excluded.message_count, \
                 first_message_at = excluded.first_message_at, \
                 last_message_at = excluded.last_message_at, \
                 last_message_preview = excluded.last_message_preview, \
                 last_sender_type = excluded.last_sender_type",
        )
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The planner's estimate of a table's rows (`None` before its first ANALYZE).
    async fn estimate_rows(&self, table: &str) -> crate::Result<Option<i64>> {
        let estimate: Option<f32> =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
                .bind(table)
                .fetch_optional(&self.read)
                .await?;
        Ok(estimate.filter(|n| *n >= 0.0).map(|n| n as i64))
    }
}

/// One batch of appends: lock (upsert) the session rows in session order, then insert the
/// messages in batch order under those locks, with the time taken under the lock.
const APPEND_BATCH: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY
        AS t(session_id, message, sender_type, ord)
), per_session AS (
    SELECT DISTINCT ON (session_id) session_id, message, sender_type,
           count(*) OVER (PARTITION BY session_id) AS n
    FROM input ORDER BY session_id, ord DESC
), locked AS (
    INSERT INTO chat_sessions AS s (session_id, client_id, message_count, first_message_at,
                                    last_message_at, last_message_preview, last_sender_type)
    SELECT p.session_id,
           (SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = p.session_id
            ORDER BY c.id LIMIT 1),
           p.n, p.now, p.now, left(p.message, 100), p.sender_type
    FROM (SELECT per_session.*, clock_timestamp() AS now FROM per_session) AS p
    ORDER BY p.session_id
    ON CONFLICT (session_id) DO UPDATE SET
        message_count = s.message_count + excluded.message_count,
        last_message_at = greatest(s.last_message_at, clock_timestamp()),
        last_message_preview = excluded.last_message_preview,
        last_sender_type = excluded.last_sender_type
    RETURNING s.session_id, s.last_message_at
), inserted AS (
    INSERT INTO chat_messages (session_id, message, sender_type, sent_at)
    SELECT i.session_id, i.message, i.sender_type, l.last_message_at
    FROM input i JOIN locked l ON l.session_id = i.session_id
    ORDER BY i.ord
    RETURNING id, sent_at
)
SELECT id, sent_at FROM inserted ORDER BY id";

include!("common.rs");
include!("import_common.rs");
