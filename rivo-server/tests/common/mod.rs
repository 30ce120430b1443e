//! Test helpers: a fresh, migrated store per test on SQLite (always) or PostgreSQL (when
//! `RIVO_TEST_POSTGRES_URL` is set), and the app around it.

#![allow(dead_code, missing_docs)]

use poem::{Endpoint, EndpointExt, Response, endpoint::BoxEndpoint, test::TestClient};
use rivo_core::{Store, StoreOptions};
use rivo_server::Config;
use sqlx::Connection;

pub type Client = TestClient<BoxEndpoint<'static, Response>>;

/// A migrated store that cleans up after itself.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("rivo.sqlite3").display()
        );
        let store = Store::open(&url).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Self {
            store,
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// `None` (after saying so) when `RIVO_TEST_POSTGRES_URL` is unset, unless
    /// `RIVO_TEST_REQUIRE_POSTGRES=1`, which makes a missing database a failure.
    pub async fn postgres() -> Option<Self> {
        let Some(base) = std::env::var("RIVO_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            if std::env::var("RIVO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("RIVO_TEST_REQUIRE_POSTGRES=1 but RIVO_TEST_POSTGRES_URL is not set");
            }
            static NOTICE: std::sync::Once = std::sync::Once::new();
            // Straight to stderr, not `println!`: the harness would capture the notice.
            NOTICE.call_once(|| {
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    b"PostgreSQL suite skipped: set RIVO_TEST_POSTGRES_URL to run it\n",
                );
            });
            return None;
        };
        if base.contains("pooler=transaction") {
            // Through a transaction-mode pooler no connection option (`search_path`) reaches
            // the server: a fresh database per test instead of a schema.
            let database = format!("rivo_srv_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to RIVO_TEST_POSTGRES_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {database} TEMPLATE template0"
            )))
            .execute(&mut conn)
            .await
            .expect("create database");
            conn.close().await.ok();
            let (server, query) = base.split_once('?').unwrap_or((&base, ""));
            let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
            let url = format!("{server}/{database}?{query}");
            let store = Store::open_with(&url, StoreOptions::default())
                .await
                .expect("open postgres through the pooler");
            store.migrate().await.expect("migrate postgres");
            return Some(Self {
                store,
                url,
                _dir: None,
                pg: Some((base, format!("database:{database}"))),
            });
        }
        let schema = format!("rivo_srv_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .expect("connect to RIVO_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.ok();
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::open_with(&url, StoreOptions::default())
            .await
            .expect("open postgres");
        store.migrate().await.expect("migrate postgres");
        Some(Self {
            store,
            url,
            _dir: None,
            pg: Some((base, schema)),
        })
    }

    pub fn client(&self) -> Client {
        self.client_with(Config::default())
    }

    pub fn client_with(&self, config: Config) -> Client {
        client_for(self.store.clone(), config)
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.pg {
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect");
            if let Some(database) = schema.strip_prefix("database:") {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE {database} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .expect("drop database");
                return;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .expect("drop schema");
            conn.close().await.ok();
        }
    }
}

pub fn client_for(store: Store, config: Config) -> Client {
    TestClient::new(boxed(rivo_server::app(store, config)))
}

fn boxed(ep: impl Endpoint<Output = Response> + 'static) -> BoxEndpoint<'static, Response> {
    ep.boxed()
}

/// Runs `case` on SQLite, and on PostgreSQL when configured, each time on a fresh database.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = $crate::common::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// The body of a test response as text.
pub async fn text(resp: poem::test::TestResponse) -> String {
    resp.0.into_body().into_string().await.expect("utf-8 body")
}

/// A header of a test response.
pub fn header(resp: &poem::test::TestResponse, name: &str) -> Option<String> {
    resp.0
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
