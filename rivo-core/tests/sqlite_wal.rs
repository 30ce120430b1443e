//! SQLite's write-ahead log under chat-only traffic (issue 15, finding 1): appends must let
//! SQLite checkpoint, so the `-wal` file stays bounded, and a clean close leaves every row in
//! the main database file. SQLite-only, so these tests are not in the `sqlite::`/`postgres::`
//! parametrised pattern.

#![allow(clippy::unwrap_used)] // Tests: a failure should panic.

use rivo_core::{SenderType, SessionId, Store};

fn url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("rivo.sqlite3").display())
}

/// A migrated store on the database file of `dir` (see [`url`]).
async fn migrated(dir: &std::path::Path) -> Store {
    let store = Store::open(&url(dir)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated store in a fresh directory, with one session of `n` client messages
/// `{prefix} 0` to `{prefix} {n-1}`.
async fn store_with_session(prefix: &str, n: usize) -> (tempfile::TempDir, Store, SessionId) {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path()).await;
    let session = SessionId::new_random();
    append_numbered(&store, session, prefix, n, SenderType::Client).await;
    (dir, store, session)
}

/// Appends `{prefix} 0` to `{prefix} {n-1}` to `session` from `sender`.
async fn append_numbered(
    store: &Store,
    session: SessionId,
    prefix: &str,
    n: usize,
    sender: SenderType,
) {
    for i in 0..n {
        store
            .append(session, &format!("{prefix} {i}"), sender)
            .await
            .unwrap();
    }
}

fn wal_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("rivo.sqlite3-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The WAL bound: SQLite's auto-checkpoint runs every 1000 pages (4 MiB at the 4 KiB page size)
/// and `journal_size_limit` truncates the file back to 4 MiB after a checkpoint; 16 MiB leaves
/// room for a checkpoint that could not finish at once because a reader was in the way.
const WAL_BOUND: u64 = 16 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_keep_the_wal_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path()).await;
    let session = SessionId::new_random();
    // ~400 bytes per message: 20k appends write ~8 MB of rows, several auto-checkpoints' worth.
    let text = "x".repeat(400);
    // RELIABILITY.md's figure: `RIVO_TEST_WAL_APPENDS=100000 cargo test -p rivo-core --test
    // sqlite_wal appends_keep -- --nocapture`.
    let appends: usize = std::env::var("RIVO_TEST_WAL_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut largest = 0;
    for i in 0..appends {
        store
            .append(session, &text, SenderType::Client)
            .await
            .unwrap();
        if i % 500 == 0 {
            largest = largest.max(wal_len(dir.path()));
        }
    }
    largest = largest.max(wal_len(dir.path()));
    let main = std::fs::metadata(dir.path().join("rivo.sqlite3"))
        .unwrap()
        .len();
    println!(
        "{appends} appends: largest WAL seen {largest} bytes, WAL now {} bytes, main file {main} bytes",
        wal_len(dir.path())
    );
    assert!(
        largest <= WAL_BOUND,
        "the WAL reached {largest} bytes after {appends} appends (bound {WAL_BOUND})"
    );
    assert_eq!(store.history(session).await.unwrap().len(), appends);
    store.close().await;
}

/// Rows in `chat_messages` of the database file at `path`, opened on its own (no WAL next to
/// it), or `None` when the file has no such table.
async fn rows_in_file_alone(path: &std::path::Path) -> Option<usize> {
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.sqlite3");
    std::fs::copy(path, &copy).unwrap();
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", copy.display()))
        .await
        .unwrap();
    let count: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM chat_messages")
        .fetch_one(&mut conn)
        .await
        .ok();
    conn.close().await.unwrap();
    count.map(|c| c as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clean_close_the_main_file_alone_holds_the_data() {
    let (dir, store, session) = store_with_session("message", 50).await;
    // Readers too, as a server has them open.
    assert_eq!(store.history(session).await.unwrap().len(), 50);
    store.close().await;
    assert_eq!(
        wal_len(dir.path()),
        0,
        "the WAL was not checkpointed at close"
    );
    assert_eq!(
        rows_in_file_alone(&dir.path().join("rivo.sqlite3")).await,
        Some(50)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_a_complete_copy_taken_online() {
    let (dir, store, session) = store_with_session("before", 100).await;
    // A writer keeps going while the backup runs.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            append_numbered(&store, session, "during", 300, SenderType::Bot).await;
        })
    };
    let backup = dir.path().join("backup.sqlite3");
    store.backup(&backup).await.unwrap();
    writer.await.unwrap();
    let copied = rows_in_file_alone(&backup).await.unwrap();
    assert!(
        (100..=400).contains(&copied),
        "the backup holds {copied} rows"
    );
    // One snapshot: the copied rows are a prefix of the history, with no gap.
    let copy = Store::open(&format!("sqlite://{}", backup.display()))
        .await
        .unwrap();
    let history = copy.history(session).await.unwrap();
    let all = store.history(session).await.unwrap();
    assert_eq!(history[..], all[..history.len()]);
    copy.close().await;
    // The target must not exist yet: a second backup to the same file is refused.
    assert!(store.backup(&backup).await.is_err());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_exclusive_lock_on_one_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = migrated(dir.path()).await;
    // A second open in the same process works (embedding apps and tests do it) ...
    let second = Store::open(&url(dir.path())).await.unwrap();
    let guard = first.lock_exclusive().unwrap();
    // ... but a second exclusive lock, as a second server process would take, is refused.
    let err = second.lock_exclusive().unwrap_err();
    assert!(matches!(err, rivo_core::Error::InUse(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("in use by another rivo-server process"),
        "{err}"
    );
    drop(guard);
    // Released with the guard (and by the OS when a process exits).
    let again = second.lock_exclusive().unwrap();
    drop(again);
    // In memory there is nothing to lock.
    let memory = Store::open("sqlite::memory:").await.unwrap();
    let _a = memory.lock_exclusive().unwrap();
    let _b = memory.lock_exclusive().unwrap();
    first.close().await;
    second.close().await;
}
