//! The store: one API over SQLite and PostgreSQL, chosen by URL at run time.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

mod postgres;
pub(crate) mod rows;
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

/// Connection settings of a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections kept open (PostgreSQL), or reader connections (SQLite, which always
    /// has exactly one writer).
    pub max_connections: u32,
    /// How long an operation waits for a connection (and, on SQLite, for a lock) before it fails
    /// with [`Error::Database`]; keeps requests from hanging while the database is down.
    pub acquire_timeout: Duration,
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
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
            transaction_pooler: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Postgres(postgres::Backend),
    Sqlite(sqlite::Backend),
}

/// Calls the same backend method on whichever backend the store runs on.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.backend {
            $crate::store::Backend::Postgres(b) => b.$method($($arg),*).await,
            $crate::store::Backend::Sqlite(b) => b.$method($($arg),*).await,
        }
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
        let backend = match BackendKind::from_url(url) {
            Some(BackendKind::Postgres) => {
                Backend::Postgres(postgres::Backend::connect(url, &options).await?)
            }
            Some(BackendKind::Sqlite) => {
                Backend::Sqlite(sqlite::Backend::connect(url, &options).await?)
            }
            None => {
                return Err(Error::Database(sqlx::Error::Configuration(
                    format!(
                        "unsupported database URL scheme {:?}: use postgres:// or sqlite:",
                        url.split(':').next().unwrap_or_default()
                    )
                    .into(),
                )));
            }
        };
        Ok(Self {
            backend,
            actor: None,
        })
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

    #[cfg(test)]
    pub(crate) async fn fetch_texts(&self, sql: &str) -> Result<Vec<String>> {
        dispatch!(self.fetch_texts(sql))
    }

    /// Closes every connection, waiting for the ones in use to be returned.
    pub async fn close(&self) {
        dispatch!(self.close())
    }
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
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| format!("{}_{}", m.version, m.description))
        .collect())
}
