//! The store: one API over SQLite and PostgreSQL, chosen by URL at run time.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

pub(crate) mod append;
pub(crate) mod dialect;
pub(crate) mod observe;
mod postgres;
pub(crate) mod rows;
pub(crate) mod sql;
mod sqlite;
#[cfg(test)]
mod tests;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// SQLite (`sqlite:`).
    Sqlite,
}

impl BackendKind {
    /// The backend a database URL names, if rivo supports it.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(BackendKind::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(BackendKind::Sqlite)
        } else {
            None
        }
    }
}

impl BackendKind {
    /// `postgresql` or `sqlite` (OpenTelemetry's `db.system.name`).
    pub fn system_name(self) -> &'static str {
        match self {
            BackendKind::Postgres => "postgresql",
            BackendKind::Sqlite => "sqlite",
        }
    }
}

/// Which unique rule of the schema a driver error broke, if it is a unique violation: the SQL
/// layer's whole part in wording conflicts (the domain modules turn the rule into a field and a
/// sentence). PostgreSQL names the constraint or index (`users_email_identity`); SQLite names
/// the columns (`users.email_key`) or, for an expression index, the index
/// (`index 'users_email_key'`). Both spellings of every unique rule in `migrations/` are listed
/// here, matched exactly (never by substring).
pub(crate) fn unique_rule(e: &sqlx::Error) -> Option<crate::error::UniqueRule> {
    use crate::error::UniqueRule;
    let db = e
        .as_database_error()
        .filter(|db| db.is_unique_violation())?;
    let name = match db.constraint() {
        Some(constraint) => constraint.to_owned(),
        None => db
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or(db.message())
            .to_owned(),
    };
    Some(match name.as_str() {
        "roles_name_key" | "roles.name" => UniqueRule::RoleName,
        "users_username_key" | "users.username" => UniqueRule::UserUsername,
        "users_email_key"
        | "index 'users_email_key'"
        | "users_email_identity"
        | "users.email_key" => UniqueRule::UserEmail,
        "client_assignments_one_active" | "client_assignments.client_id" => {
            UniqueRule::OneActiveAssignment
        }
        _ => UniqueRule::Other,
    })
}

/// Gives the sqlx pool behind a backend's pool field (PostgreSQL wraps its pool).
pub(crate) trait AsPool<DB: sqlx::Database> {
    fn as_pool(&self) -> &sqlx::Pool<DB>;
}

impl<DB: sqlx::Database> AsPool<DB> for sqlx::Pool<DB> {
    fn as_pool(&self) -> &sqlx::Pool<DB> {
        self
    }
}

fn pool_stats_of<DB: sqlx::Database>(
    pool: &'static str,
    p: &sqlx::Pool<DB>,
) -> crate::observability::PoolStats {
    crate::observability::PoolStats {
        pool,
        size: p.size(),
        idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
        max: p.options().get_max_connections(),
    }
}

/// Connection settings of a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections kept open (PostgreSQL), or reader connections (SQLite, which always
    /// has exactly one writer).
    pub max_connections: u32,
    /// How long an operation waits for a connection (and, on SQLite, for a lock) before it fails
    /// with [`Error::Database`]; keeps requests from hanging while the database is down.
    pub acquire_timeout: Duration,
    /// Most messages one group commit writes (see [`Store::append`]).
    pub append_batch_max: usize,
    /// How many batches may be in flight at once (each on its own connection). One is enough
    /// on SQLite, which has a single writer.
    pub append_writers: usize,
    /// Lists count their rows exactly up to this many; beyond it the total is an estimate
    /// ([`Page::estimated`](crate::Page)), so a count never costs more than this many rows.
    pub exact_count_limit: u64,
    /// PostgreSQL: the server cancels any statement that runs longer than this
    /// (`statement_timeout`, sent as a connection option so it holds for every connection of
    /// the pool), so a request that timed out stops costing the database. `None` or zero: no
    /// limit. Ignored on SQLite. Not sent through a transaction-mode pooler (which cannot
    /// forward connection options): set it on the role there
    /// (`ALTER ROLE rivo SET statement_timeout = '30s'`).
    pub statement_timeout: Option<Duration>,
    /// PostgreSQL behind a transaction-mode connection pooler (PgBouncer `pool_mode =
    /// transaction`, Supabase's pooler on port 6543), where consecutive transactions of one
    /// connection may run on different server connections: every statement is sent unnamed
    /// (no prepared statement outlives it), migrations lock with a transaction-scoped advisory
    /// lock, and no session state (`SET`, startup options) is relied on. The URL parameter
    /// `pooler=transaction` turns it on too. Ignored on SQLite.
    pub transaction_pooler: bool,
    /// How often a live stream ([`Store::subscribe_session`], [`Store::subscribe_activity`])
    /// looks for new rows when no wake-up came: the fallback that makes a lost wake-up cost
    /// latency, never an item. Zero means the default, 2 s.
    pub subscription_poll: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            append_batch_max: 256,
            append_writers: 2,
            exact_count_limit: 10_000,
            statement_timeout: None,
            transaction_pooler: false,
            subscription_poll: Duration::from_secs(2),
        }
    }
}

/// What the group commit of [`Store::append`] has done since the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCommitStats {
    /// Batches committed.
    pub batches: u64,
    /// Messages committed in them.
    pub messages: u64,
    /// The largest batch.
    pub largest_batch: u64,
    /// Appends waiting in the queue now (each is one caller's messages).
    pub queued: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Postgres(postgres::Backend),
    Sqlite(sqlite::Backend),
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::Postgres(_) => BackendKind::Postgres,
            Backend::Sqlite(_) => BackendKind::Sqlite,
        }
    }
}

/// Calls the same backend method on whichever backend the store runs on, as one observed
/// operation (in-flight count, `db` span, duration and error metrics: [`observe::run`]).
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        $crate::store::observe::run(
            &$self.appender.stats.in_flight,
            stringify!($method),
            $self.kind().system_name(),
            async {
                match &$self.backend {
                    $crate::store::Backend::Postgres(b) => b.$method($($arg),*).await,
                    $crate::store::Backend::Sqlite(b) => b.$method($($arg),*).await,
                }
            },
        )
        .await
    };
}
pub(crate) use dispatch;

/// A handle to Rivo's database. Cheap to clone (clones share the connection pools).
///
/// Open it with a URL — `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…` — then
/// call [`Store::migrate`] once. Every operation validates its input first (so an embedding app
/// gets the same rules as the server) and runs in one transaction.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rivo_core::Error> {
/// use rivo_core::{SenderType, SessionId, Store};
/// let store = Store::open("sqlite::memory:").await?;
/// store.migrate().await?;
/// let session = SessionId::new_random();
/// let msg = store.append(session, "Hello!", SenderType::Client).await?;
/// assert_eq!(store.history(session).await?, vec![msg]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) actor: Option<std::sync::Arc<crate::audit::Actor>>,
    pub(crate) appender: std::sync::Arc<append::Appender>,
    pub(crate) limits: std::sync::Arc<crate::limits::Limits>,
    /// Wake-ups of live streams ([`crate::streams`]).
    pub(crate) streams: std::sync::Arc<crate::streams::Hub>,
    pub(crate) webhooks: std::sync::Arc<crate::webhooks::Shared>,
    /// Settings of [`Store::capture`].
    pub(crate) lead_capture: std::sync::Arc<crate::leads::LeadCaptureOptions>,
    /// The AI summary worker's wake-up and options ([`crate::summaries`]).
    pub(crate) summaries: std::sync::Arc<crate::summaries::Shared>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the URL: it may hold a password.
        f.debug_struct("Store")
            .field("backend", &self.kind())
            .finish()
    }
}

impl Store {
    /// Opens a store with default [`StoreOptions`]. Does not apply migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// Opens a store. The backend is chosen from the URL scheme. PostgreSQL connects lazily
    /// (so a server can start while the database is still coming up); SQLite opens (and
    /// creates, with `mode=rwc`) the file at once.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self> {
        let writers = options.append_writers;
        let backend = match BackendKind::from_url(url) {
            Some(BackendKind::Postgres) => {
                Backend::Postgres(postgres::Backend::connect(url, &options).await?)
            }
            Some(BackendKind::Sqlite) => {
                Backend::Sqlite(sqlite::Backend::connect(url, &options).await?)
            }
            None => {
                return Err(Error::Config(format!(
                    "unsupported database URL scheme {:?}: use postgres:// or sqlite:",
                    url.split(':').next().unwrap_or_default()
                )));
            }
        };
        let writers = match backend {
            Backend::Sqlite(_) => 1,
            Backend::Postgres(_) => writers,
        };
        // The writers hand each committed batch to this process's streams; on PostgreSQL the
        // batch's statement also sends a NOTIFY (heard by every other server).
        let streams = std::sync::Arc::new(crate::streams::Hub::new(options.subscription_poll));
        let webhooks = std::sync::Arc::new(crate::webhooks::Shared::default());
        let appender = append::Appender::start(
            backend.clone(),
            writers,
            options.append_batch_max,
            streams.clone(),
            webhooks.clone(),
        );
        Ok(Self {
            backend,
            actor: None,
            appender: std::sync::Arc::new(appender),
            limits: Default::default(),
            streams,
            webhooks,
            lead_capture: Default::default(),
            summaries: Default::default(),
        })
    }

    /// What the group commit of appends has done so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        let (batches, messages, largest_batch) = self.appender.stats.snapshot();
        GroupCommitStats {
            batches,
            messages,
            largest_batch,
            queued: self.appender.queued() as u64,
        }
    }

    /// The connections of each pool now: one `main` pool on PostgreSQL, a `read` pool and a
    /// one-connection `write` pool on SQLite. Cheap (no database round trip).
    pub fn pool_stats(&self) -> Vec<crate::observability::PoolStats> {
        match &self.backend {
            Backend::Postgres(b) => vec![pool_stats_of("main", b.pools()[1])],
            Backend::Sqlite(b) => {
                let [read, write] = b.pools();
                vec![pool_stats_of("read", read), pool_stats_of("write", write)]
            }
        }
    }

    /// Store operations running now (each holds or waits for a connection), group-commit
    /// batches being written included. Beyond the connections in use
    /// ([`PoolStats::in_use`](crate::observability::PoolStats::in_use)), the rest wait for a
    /// connection.
    pub fn operations_in_flight(&self) -> usize {
        self.appender
            .stats
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The database this store runs on.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Postgres(_) => BackendKind::Postgres,
            Backend::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// Applies the embedded migrations of this backend. Running it again is a no-op.
    pub async fn migrate(&self) -> Result<()> {
        dispatch!(self.migrate())
    }

    /// Names of the embedded migrations not yet applied to the database.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        dispatch!(self.pending_migrations())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        dispatch!(self.ping())
    }

    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64> {
        dispatch!(self.execute_raw(sql))
    }

    /// Applies the embedded migrations up to `version` only (tests of later migrations).
    #[cfg(test)]
    pub(crate) async fn migrate_until(&self, version: i64) -> Result<()> {
        dispatch!(self.migrate_until(version))
    }

    #[cfg(test)]
    pub(crate) async fn fetch_texts(&self, sql: &str) -> Result<Vec<String>> {
        dispatch!(self.fetch_texts(sql))
    }

    /// Stops taking appends, writes the ones already queued, then closes every connection,
    /// waiting for the ones in use to be returned. On SQLite it then checkpoints the
    /// write-ahead log into the main file and truncates the log, so that after a clean stop the
    /// main database file alone holds every row.
    pub async fn close(&self) {
        self.appender.close().await;
        self.streams.stop();
        dispatch!(self.close())
    }

    /// Writes a consistent copy of the database to the file `path`, online (other connections
    /// may go on writing; the copy is one snapshot). SQLite only (`VACUUM INTO`: the copy is a
    /// compact database file without a WAL, and `path` must not exist yet); on PostgreSQL it
    /// answers [`Error::Unsupported`], whose text explains `pg_dump`.
    pub async fn backup(&self, path: &std::path::Path) -> Result<()> {
        let path = path.to_str().ok_or_else(|| {
            Error::Unsupported(format!("the backup path {} is not UTF-8", path.display()))
        })?;
        dispatch!(self.backup_to(path))
    }

    /// Makes this process the only server of an SQLite database: takes an exclusive advisory
    /// lock (`flock`) on the file `<database>.lock` next to it, held while the returned guard
    /// lives and released by the OS when the process exits, however it exits. A second process
    /// calling this on the same file gets [`Error::InUse`]. Two servers on one SQLite file would
    /// each take `sent_at` from their own clock and break the id-order promise of history.
    ///
    /// [`Store::open`] does not take the lock, so an embedding app (or a test) may open one
    /// database several times in one process; `rivo-server serve` takes it. On PostgreSQL and
    /// in-memory SQLite there is nothing to lock and the guard is empty: several servers may
    /// share one PostgreSQL database.
    pub fn lock_exclusive(&self) -> Result<StoreLock> {
        let file = match &self.backend {
            Backend::Postgres(_) => None,
            Backend::Sqlite(b) => b.lock_exclusive()?,
        };
        Ok(StoreLock { _file: file })
    }
}

/// The current time at the precision both backends store (microseconds).
pub(crate) fn now_micros() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// [`StoreOptions::exact_count_limit`] as the backends bind it.
pub(crate) fn count_limit(options: &StoreOptions) -> i64 {
    i64::try_from(options.exact_count_limit)
        .unwrap_or(i64::MAX - 1)
        .clamp(0, i64::MAX - 1)
}

/// The guard of [`Store::lock_exclusive`]: the lock is released when it is dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: Option<std::fs::File>,
}

/// Migrations of `migrator` that the database behind `pool` has not applied.
async fn pending<DB>(
    migrator: &sqlx::migrate::Migrator,
    pool: &sqlx::Pool<DB>,
) -> Result<Vec<String>>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    use sqlx::migrate::Migrate;
    let mut conn = pool.acquire().await?;
    let applied: std::collections::HashSet<i64> =
        match conn.list_applied_migrations(&migrator.table_name).await {
            Ok(list) => list.into_iter().map(|m| m.version).collect(),
            // No migrations table yet: nothing is applied.
            Err(_) => Default::default(),
        };
    Ok(unapplied(migrator, &applied))
}

/// The migrations of `migrator` not in `applied`, as `<version>_<description>`.
fn unapplied(
    migrator: &sqlx::migrate::Migrator,
    applied: &std::collections::HashSet<i64>,
) -> Vec<String> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| format!("{}_{}", m.version, m.description))
        .collect()
}

/// `all` cut after migration `version` (tests: a database as an older release left it).
#[cfg(test)]
fn migrations_until(all: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ),
        ..all
    }
}
