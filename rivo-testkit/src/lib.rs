//! Rivo's shared test helpers (a dev-dependency of every crate of the workspace, never
//! published): a throwaway database per test on SQLite (always) or PostgreSQL (when
//! `RIVO_TEST_POSTGRES_URL` is set), and free loopback ports.
//!
//! It knows nothing of rivo-core: a test opens its own `Store` on [`ScratchDb::url`]. (A
//! testkit depending on rivo-core would hand rivo-core's own unit tests a second, different
//! copy of its types.)
//!
//! Environment:
//! - `RIVO_TEST_POSTGRES_URL`: a PostgreSQL server URL. Each database is a fresh schema there
//!   (a `search_path` option in the URL), or a fresh database when the URL says
//!   `pooler=transaction` (a transaction-mode pooler forwards no connection option).
//! - `RIVO_TEST_REQUIRE_POSTGRES=1`: a missing URL is a failure, not a skip (CI sets it).

use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;

/// A throwaway database: its URL, and what to remove once the test is done
/// ([`ScratchDb::remove`]). A SQLite one lives in a temporary directory removed on drop.
#[derive(Debug)]
pub struct ScratchDb {
    /// The database URL to open stores on.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Schema { server: String, schema: String },
    Database { server: String, database: String },
}

static SKIP_NOTICE: AtomicBool = AtomicBool::new(false);

/// The PostgreSQL server of the tests (`RIVO_TEST_POSTGRES_URL`), or `None` after saying once
/// on stderr that the PostgreSQL suite is skipped.
///
/// # Panics
/// When the URL is unset and `RIVO_TEST_REQUIRE_POSTGRES=1`.
pub fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var("RIVO_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    assert!(
        !std::env::var("RIVO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
        "RIVO_TEST_REQUIRE_POSTGRES=1 but RIVO_TEST_POSTGRES_URL is not set"
    );
    if !SKIP_NOTICE.swap(true, Ordering::Relaxed) {
        // Straight to stderr, not `eprintln!`: the harness would capture the notice.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"PostgreSQL suite skipped: set RIVO_TEST_POSTGRES_URL to run it\n",
        );
    }
    None
}

/// A loopback TCP port free right now (for a test server or receiver to bind).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

impl ScratchDb {
    /// An empty SQLite database file in a fresh temporary directory.
    ///
    /// # Panics
    /// When no temporary directory can be made.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rivo.sqlite3").display()
        );
        Self {
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// An empty PostgreSQL database (a fresh schema, or a fresh database behind a
    /// transaction-mode pooler) named `{prefix}_{uuid}`, or `None` when the PostgreSQL suite is
    /// skipped ([`postgres_url`]).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create it.
    pub async fn postgres(prefix: &str) -> Option<Self> {
        Some(Self::postgres_on(postgres_url()?, prefix).await)
    }

    /// An empty PostgreSQL database named `{prefix}_{uuid}` on the server at `server` (a fresh
    /// schema, or a fresh database when the URL says `pooler=transaction`), for callers with a
    /// server of their own (the benchmarks' `RIVO_BENCH_POSTGRES_URL`).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create it.
    pub async fn postgres_on(server: String, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .expect("connect to RIVO_TEST_POSTGRES_URL");
        if server.contains("pooler=transaction") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name} TEMPLATE template0"
            )))
            .execute(&mut conn)
            .await
            .expect("create database");
            let _ = conn.close().await;
            let (base, query) = server.split_once('?').unwrap_or((&server, ""));
            let host = base.rsplit_once('/').map_or(base, |(host, _)| host);
            return Self {
                url: format!("{host}/{name}?{query}"),
                cleanup: Cleanup::Database {
                    server,
                    database: name,
                },
            };
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let _ = conn.close().await;
        let separator = if server.contains('?') { '&' } else { '?' };
        Self {
            url: format!("{server}{separator}options=-c%20search_path%3D{name}"),
            cleanup: Cleanup::Schema {
                server,
                schema: name,
            },
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        !matches!(self.cleanup, Cleanup::Sqlite(_))
    }

    /// Removes the database (close every store on it first).
    ///
    /// # Panics
    /// When PostgreSQL refuses.
    pub async fn remove(self) {
        let (server, sql) = match self.cleanup {
            Cleanup::Sqlite(_) => return,
            Cleanup::Schema { server, schema } => (server, format!("DROP SCHEMA {schema} CASCADE")),
            Cleanup::Database { server, database } => {
                (server, format!("DROP DATABASE {database} WITH (FORCE)"))
            }
        };
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .expect("connect to RIVO_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("drop the test database");
        let _ = conn.close().await;
    }
}
