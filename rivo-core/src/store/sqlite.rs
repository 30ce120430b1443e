//! The SQLite backend: WAL journal, one writer connection (so writers queue in the pool instead
//! of failing with `database is locked`) and several reader connections.

use std::str::FromStr;

use ::sqlx::Sqlite;
use ::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{Sql, Tx, now, outbox_enqueue_messages, sqlx};
use super::{StoreOptions, count_limit};

type Db = Sqlite;

/// `PRAGMA journal_size_limit`: the WAL file is truncated to this size after a checkpoint.
const JOURNAL_SIZE_LIMIT: u64 = 4 * 1024 * 1024;

/// The SQLite backend: the shared SQL on SQLite's pools.
pub(crate) type Backend = Sql<Sqlite>;

/// SQLite's own state of a [`Backend`].
#[derive(Debug, Clone)]
pub(crate) struct SqliteExt {
    /// The last `sent_at` this process gave a message (times never go back).
    last_sent_at: std::sync::Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>,
    /// The database file; `None` in memory.
    file: Option<std::path::PathBuf>,
    /// Each session's newest message id as this process wrote it (live-stream marks).
    marks: std::sync::Arc<std::sync::Mutex<StreamMarks>>,
}

/// Most sessions [`StreamMarks`] remembers (then it forgets them all and starts again).
const MARKS_MAX: usize = 65_536;

/// The newest message id of each session this process appended to, valid while every id
/// taken since came from this process's own batches: ids are taken under the one write lock in
/// commit order (AUTOINCREMENT never reuses one), so a batch whose first id follows the previous
/// batch's last proves that nobody (another process on the file, an import) wrote in between.
/// When that chain breaks, or a batch fails, everything is forgotten: the streams of a session
/// not remembered read the database once and then follow on in memory again.
#[derive(Debug, Default)]
struct StreamMarks {
    chain_end: Option<i64>,
    newest: std::collections::HashMap<uuid::Uuid, i64>,
}

impl StreamMarks {
    /// The marks of a committed batch (`stored` in id order, consecutive ids).
    fn committed(&mut self, stored: &[crate::ChatMessage]) -> Vec<crate::streams::Mark> {
        let (Some(first), Some(last)) = (stored.first(), stored.last()) else {
            return Vec::new();
        };
        if self.chain_end != Some(first.id.0 - 1) || self.newest.len() > MARKS_MAX {
            self.newest.clear();
        }
        self.chain_end = Some(last.id.0);
        let mut marks: Vec<crate::streams::Mark> = Vec::new();
        for m in stored {
            match marks.iter_mut().find(|k| k.session == m.session_id) {
                Some(mark) => mark.next = m.id.0,
                None => marks.push(crate::streams::Mark {
                    session: m.session_id,
                    prev: self.newest.get(&m.session_id.0).copied(),
                    next: m.id.0,
                }),
            }
        }
        for mark in &marks {
            self.newest.insert(mark.session.0, mark.next);
        }
        marks
    }

    fn forget(&mut self) {
        self.chain_end = None;
        self.newest.clear();
    }
}

impl Backend {
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> crate::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(options.acquire_timeout)
            .pragma("temp_store", "memory")
            // After a checkpoint resets the WAL, truncate the file back to at most 4 MiB
            // instead of leaving it at its largest size (issue 15, finding 1).
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string());
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
            return Ok(Sql {
                read: pool.clone(),
                write: pool,
                count_limit: count_limit(options),
                ext: SqliteExt {
                    last_sent_at: Default::default(),
                    file: None,
                    marks: Default::default(),
                },
            });
        }
        let file = Some(connect.get_filename().to_path_buf());
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
        Ok(Sql {
            read,
            write,
            count_limit: count_limit(options),
            ext: SqliteExt {
                last_sent_at: Default::default(),
                file,
                marks: Default::default(),
            },
        })
    }

    pub(crate) async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.write)
            .await?;
        // Migration 0004's `email_key` is computed in Rust.
        self.backfill_email_keys().await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn migrate_until(&self, version: i64) -> crate::Result<()> {
        super::migrations_until(sqlx::migrate!("../migrations/sqlite"), version)
            .run(&self.write)
            .await?;
        Ok(())
    }

    pub(crate) async fn pending_migrations(&self) -> crate::Result<Vec<String>> {
        super::pending(&sqlx::migrate!("../migrations/sqlite"), &self.write).await
    }

    /// Closes the readers first, then checkpoints the whole WAL into the main file and
    /// truncates it (`wal_checkpoint(TRUNCATE)`) on the writer, then closes the writer: after
    /// a clean stop the main database file alone holds every row, so a file copy is a
    /// complete backup. (A read-only connection closing last cannot checkpoint, so the order
    /// matters.) A failed checkpoint is logged, not returned: the data is safe in the WAL and
    /// the next open replays it.
    pub(crate) async fn close(&self) {
        self.read.close().await;
        if !self.write.is_closed() {
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_all(&self.write)
                .await
            {
                Ok(rows) if rows.first().is_some_and(|r| r.0 != 0) => {
                    tracing::warn!("the WAL checkpoint at close was blocked by another connection")
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "the WAL checkpoint at close failed"),
            }
        }
        self.write.close().await;
    }

    /// Takes an exclusive lock on `<database file>.lock`, held until the returned file is
    /// dropped (or the process exits, which the OS releases). `None` in memory.
    pub(crate) fn lock_exclusive(&self) -> crate::Result<Option<std::fs::File>> {
        let Some(db) = &self.ext.file else {
            return Ok(None);
        };
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let in_use = |detail: String| {
            crate::Error::InUse(format!(
                "the SQLite database {} is in use by another rivo-server process ({detail}); \
                 one SQLite file serves one server process: stop the other one, or use \
                 PostgreSQL to run several servers",
                db.display()
            ))
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| {
                in_use(format!(
                    "cannot open the lock file {}: {err}",
                    path.display()
                ))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(in_use(format!("{} is locked", path.display())))
            }
            Err(std::fs::TryLockError::Error(err)) => {
                Err(in_use(format!("cannot lock {}: {err}", path.display())))
            }
        }
    }

    /// Writes a consistent copy of the database to `path` with `VACUUM INTO`, which reads one
    /// snapshot (so writers may go on meanwhile) and writes a compact file with no WAL.
    /// `VACUUM INTO` needs a connection that is not read-only; it runs on a connection of its
    /// own, so appends on the writer connection go on meanwhile (in memory, on the only one).
    pub(crate) async fn backup_to(&self, path: &str) -> crate::Result<()> {
        use sqlx::Connection;
        let Some(file) = &self.ext.file else {
            sqlx::query("VACUUM INTO $1")
                .bind(path)
                .execute(&self.write)
                .await?;
            return Ok(());
        };
        let options = SqliteConnectOptions::new()
            .filename(file)
            .busy_timeout(std::time::Duration::from_secs(30));
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let result = sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&mut conn)
            .await;
        conn.close().await?;
        result?;
        Ok(())
    }

    /// Writes a batch of messages in one `BEGIN IMMEDIATE … COMMIT` on the writer and returns
    /// them in the batch's order. Triggers keep the session rows and the trigram index in the
    /// same transaction.
    ///
    /// `sent_at` comes from this process's clock, taken while holding the write lock and never
    /// earlier than the previous batch's, so it never goes backwards relative to ids.
    pub(crate) async fn append_batch(
        &self,
        rows: &[&super::append::NewMessage],
        _origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let written = self.append_batch_tx(rows).await;
        let mut marks = self
            .ext
            .marks
            .lock()
            .map_err(|_| crate::Error::Internal("stream marks poisoned".into()))?;
        match written {
            Ok(stored) => {
                let batch_marks = marks.committed(&stored);
                Ok((stored, batch_marks))
            }
            Err(e) => {
                marks.forget();
                Err(e)
            }
        }
    }

    async fn append_batch_tx(
        &self,
        rows: &[&super::append::NewMessage],
    ) -> crate::Result<Vec<crate::ChatMessage>> {
        let mut tx = self.begin().await?;
        let (stored, _) = self.append_in(&mut tx, rows, "").await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The live-stream marks of rows committed through [`Backend::append_in`] outside the
    /// group commit (lead capture), taken after their commit like a batch's.
    pub(crate) fn committed_marks(
        &self,
        stored: &[crate::ChatMessage],
        _marks: Vec<crate::streams::Mark>,
    ) -> crate::Result<Vec<crate::streams::Mark>> {
        let mut marks = self
            .ext
            .marks
            .lock()
            .map_err(|_| crate::Error::Internal("stream marks poisoned".into()))?;
        Ok(marks.committed(stored))
    }

    /// The inserts of [`Backend::append_batch`] inside an open transaction (lead capture
    /// stores its message this way, then changes the client in the same transaction).
    /// The marks come after the commit ([`Backend::committed_marks`]): none here.
    pub(crate) async fn append_in(
        &self,
        tx: &mut Tx<Db>,
        rows: &[&super::append::NewMessage],
        _origin: &str,
    ) -> crate::Result<(Vec<crate::ChatMessage>, Vec<crate::streams::Mark>)> {
        let sent_at = {
            let mut last = self
                .ext
                .last_sent_at
                .lock()
                .map_err(|_| crate::Error::Internal("clock poisoned".into()))?;
            let t = now().max(*last);
            *last = t;
            t
        };
        let mut stored = Vec::with_capacity(rows.len());
        // One multi-row INSERT per chunk (SQLite binds at most 32,766 parameters). Holding the
        // write lock, an AUTOINCREMENT table gives the rows of one statement consecutive ids,
        // so the last rowid names them all.
        for chunk in rows.chunks(1024) {
            let mut qb = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO chat_messages (session_id, message, sender_type, data_type, sent_at) ",
            );
            qb.push_values(chunk, |mut b, row| {
                b.push_bind(row.session_id.0)
                    .push_bind(row.message.as_str())
                    .push_bind(row.sender_type.as_str())
                    .push_bind(row.data_type.as_str())
                    .push_bind(sent_at);
            });
            let last = qb.build().execute(&mut **tx).await?.last_insert_rowid();
            let first = last - chunk.len() as i64 + 1;
            for (i, row) in chunk.iter().enumerate() {
                stored.push(crate::ChatMessage {
                    id: crate::MessageId(first + i as i64),
                    session_id: row.session_id,
                    message: row.message.clone(),
                    sender_type: row.sender_type,
                    data_type: row.data_type,
                    sent_at,
                });
            }
        }
        if let (Some(first), Some(last)) = (stored.first(), stored.last()) {
            outbox_enqueue_messages(tx, first.id.0, last.id.0, sent_at.timestamp_micros()).await?;
        }
        Ok((stored, Vec::new()))
    }

    /// Indexes up to `limit` messages above the search index's mark (`chat_messages_fts_state`,
    /// migration 0012) in one write transaction, in id order, and moves the mark; returns how
    /// many. Appends leave new rows to this (run by the store's background indexer), so the
    /// trigram index costs one FTS5 segment per pass instead of one per append batch.
    ///
    /// Whether there is anything to index is read first, outside the write lock: an idle store
    /// takes no write transaction (the writer stays free for appends, and for other processes
    /// on the same file).
    pub(crate) async fn index_search_tail(&self, limit: i64) -> crate::Result<u64> {
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM chat_messages WHERE id > \
             (SELECT indexed_upto FROM chat_messages_fts_state) LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        if pending.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let upto: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(id) FROM (SELECT id FROM chat_messages WHERE id > \
             (SELECT indexed_upto FROM chat_messages_fts_state) ORDER BY id LIMIT {limit})"
        )))
        .fetch_one(&mut *tx)
        .await?;
        let Some(upto) = upto else {
            tx.commit().await?;
            return Ok(0);
        };
        let indexed = sqlx::query(
            "INSERT INTO chat_messages_fts (rowid, message) SELECT id, message FROM chat_messages \
             WHERE id > (SELECT indexed_upto FROM chat_messages_fts_state) AND id <= $1 \
             ORDER BY id",
        )
        .bind(upto)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE chat_messages_fts_state SET indexed_upto = $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(indexed)
    }

    /// Nothing to do: the insert trigger kept the session rows right row by row. The import
    /// wrote ids of its own: the live-stream marks are forgotten.
    pub(crate) async fn refresh_imported_sessions(&self, _tx: &mut Tx<Db>) -> crate::Result<()> {
        if let Ok(mut marks) = self.ext.marks.lock() {
            marks.forget();
        }
        Ok(())
    }

    /// A cheap upper bound of a table's rows (its rowid span). Two subqueries: SQLite answers
    /// a lone `max(rowid)` or `min(rowid)` from the b-tree's edge, but both in one SELECT scan.
    pub(crate) async fn estimate_rows(&self, table: &str) -> crate::Result<Option<i64>> {
        let span: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT max(rowid) FROM {table}) - (SELECT min(rowid) FROM {table}) + 1"
        )))
        .fetch_one(&self.read)
        .await?;
        Ok(span)
    }
}
