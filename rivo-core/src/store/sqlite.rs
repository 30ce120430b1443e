//! The SQLite backend: WAL journal, one writer connection (so writers queue in the pool instead
//! of failing with `database is locked`) and several reader connections.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use super::StoreOptions;

type Db = Sqlite;

const LIKE: &str = " LIKE ";
const FOR_UPDATE: &str = "";

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    read: Pool<Db>,
    write: Pool<Db>,
}

impl Backend {
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> crate::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(options.acquire_timeout)
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if in_memory {
            // Every connection to `:memory:` is a separate database: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            return Ok(Self {
                read: pool.clone(),
                write: pool,
            });
        }
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await?;
        Ok(Self { read, write })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        super::pending(&sqlx::migrate!("../migrations/sqlite"), &self.write).await
    }

    pub(crate) async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that reads before it
    /// writes never fails to upgrade its lock.
    async fn begin(&self) -> crate::Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// `sent_at` comes from this process's clock, taken while holding the only writer
    /// connection, so it never goes backwards relative to ids.
    pub(crate) async fn append(
        &self,
        session_id: crate::SessionId,
        message: &str,
        sender_type: crate::SenderType,
    ) -> crate::Result<crate::ChatMessage> {
        let mut conn = self.write.acquire().await?;
        let sent_at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(session_id.0)
        .bind(message)
        .bind(sender_type.as_str())
        .bind(sent_at)
        .fetch_one(&mut *conn)
        .await?;
        Ok(crate::ChatMessage {
            id: crate::MessageId(id),
            session_id,
            message: message.to_owned(),
            sender_type,
            sent_at,
        })
    }
}

/// Throttle checks are already serialised: every write transaction holds the only writer
/// connection and starts with `BEGIN IMMEDIATE`.
async fn lock_throttle_key(
    _tx: &mut sqlx::Transaction<'static, Db>,
    _key: &str,
) -> crate::Result<()> {
    Ok(())
}

include!("common.rs");
include!("import_common.rs");
