//! The PostgreSQL backend: one pool shared by reads and writes; row locks serialise changes of
//! one client.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};

use super::StoreOptions;

type Db = Postgres;

const LIKE: &str = " ILIKE ";
const FOR_UPDATE: &str = " FOR UPDATE";

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    read: Pool<Db>,
    write: Pool<Db>,
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
        })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        super::pending(&sqlx::migrate!("../migrations/postgres"), &self.read).await
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
    }

    async fn begin(&self) -> crate::Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin().await?)
    }

    /// `sent_at` comes from the database clock, so several servers on one database agree on
    /// the order of a conversation. A transaction-scoped advisory lock on the session (taken in
    /// the same statement, released at its commit) makes concurrent appends to one session
    /// take their id and their time in the same order, so history order always agrees with ids;
    /// appends to different sessions do not wait for each other.
    pub(crate) async fn append(
        &self,
        session_id: crate::SessionId,
        message: &str,
        sender_type: crate::SenderType,
    ) -> crate::Result<crate::ChatMessage> {
        let row: (i64, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
            "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) \
             SELECT $1, $2, $3, clock_timestamp() FROM (SELECT pg_advisory_xact_lock($4)) AS l \
             RETURNING id, sent_at",
        )
        .bind(session_id.0)
        .bind(message)
        .bind(sender_type.as_str())
        .bind(session_lock_key(&session_id))
        .fetch_one(&self.write)
        .await?;
        Ok(crate::ChatMessage {
            id: crate::MessageId(row.0),
            session_id,
            message: message.to_owned(),
            sender_type,
            sent_at: row.1,
        })
    }
}

/// Serialises throttle checks of one key until the end of `tx` (a transaction-scoped advisory
/// lock in its own key space, class 1, so it works through a transaction-mode pooler too).
async fn lock_throttle_key(
    tx: &mut sqlx::Transaction<'static, Db>,
    key: &str,
) -> crate::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(1, hashtext($1))")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The advisory lock key of a session: its first 8 bytes.
fn session_lock_key(session: &crate::SessionId) -> i64 {
    let bytes = session.0.as_bytes();
    let mut key = [0u8; 8];
    key.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(key)
}

include!("common.rs");
include!("import_common.rs");
