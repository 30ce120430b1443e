//! The database itself on every backend: migrations are idempotent and run without the
//! statement timeout, and PostgreSQL cancels a statement that outlives it.

use crate::*;

behaviours!(migrate_is_idempotent);

/// `RIVO_TEST_POSTGRES_URL` when it reaches PostgreSQL itself; `None` when it is unset or a
/// transaction-mode pooler (which forwards no connection options, so no statement timeout).
fn direct_postgres_url() -> Option<String> {
    std::env::var("RIVO_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.contains("pooler=transaction"))
}

/// A store on `url` whose statements time out after `millis` ms.
async fn timing_out_store(url: &str, millis: u64) -> Store {
    let options = StoreOptions {
        statement_timeout: Some(std::time::Duration::from_millis(millis)),
        ..StoreOptions::default()
    };
    Store::open_with(url, options).await.unwrap()
}

/// Migrations serve no request: a store whose statements time out after 20 ms still applies
/// every migration (each one file, one statement, which takes longer), while its ordinary
/// statements keep the timeout. A 10M-message 0003 backfill was cancelled at 30 s before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_without_the_statement_timeout() {
    let Some(url) = direct_postgres_url() else {
        return;
    };
    let scratch = rivo_testkit::ScratchDb::postgres_on(url, "rivo_core").await;
    let store = timing_out_store(&scratch.url, 20).await;
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    let err = store
        .fetch_texts("SELECT CAST(count(*) AS TEXT) FROM pg_sleep(1)")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database(db) if db.code().as_deref() == Some("57014")),
        "{err:?}"
    );
    store.close().await;
    scratch.remove().await;
}

/// Issue 15, finding 12: with a statement timeout the PostgreSQL server cancels a slow
/// statement itself (SQLSTATE 57014), so a request that timed out stops costing the database.
/// PostgreSQL only (SQLite runs in-process); skipped through a transaction-mode pooler, which
/// forwards no connection options (there the role carries the setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_a_slow_postgres_query() {
    let Some(url) = direct_postgres_url() else {
        return;
    };
    let store = timing_out_store(&url, 300).await;
    let err = store
        .fetch_texts("SELECT CAST(count(*) AS TEXT) FROM pg_sleep(30)")
        .await
        .unwrap_err();
    match &err {
        Error::Database(db) => {
            assert_eq!(db.code().as_deref(), Some("57014"), "{err:?}")
        }
        other => panic!("expected the server to cancel the statement, got {other:?}"),
    }
    // The connection stays usable, and quick statements are unaffected.
    assert_eq!(store.fetch_texts("SELECT 'ok'").await.unwrap(), ["ok"]);
    store.close().await;
}

async fn migrate_is_idempotent(store: &Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.ping().await.unwrap();
}
