//! `rivo-server import-django --from <url> [--merge]`, run as the real binary: a Django database
//! (rivo-core's fixtures, in a fresh PostgreSQL schema) imported into SQLite (`sqlite::…`) and
//! into PostgreSQL (`postgres::…`). The source is always PostgreSQL: without
//! `RIVO_TEST_POSTGRES_URL` the tests print a skip notice and return; with
//! `RIVO_TEST_REQUIRE_POSTGRES=1` they fail instead.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

use std::process::{Command, Output};

use rivo_testkit::ScratchDb;

use sqlx::{AssertSqlSafe, Connection};

const SCHEMA: &str = include_str!("../../rivo-core/tests/fixtures/django_schema.sql");
const DATA: &str = include_str!("../../rivo-core/tests/fixtures/django_data.sql");
const LATER: &str = include_str!("../../rivo-core/tests/fixtures/django_later.sql");

/// The Django source (a PostgreSQL schema holding the fixtures' tables and rows) and the empty
/// rivo target (PostgreSQL or SQLite), or `None` when the PostgreSQL suite is skipped.
async fn databases(postgres_target: bool, prefix: &str) -> Option<(ScratchDb, ScratchDb)> {
    let source = ScratchDb::postgres(&format!("django_{prefix}")).await?;
    admin_exec(&source.url, format!("{SCHEMA}\n{DATA}")).await;
    let target = if postgres_target {
        ScratchDb::postgres(&format!("rivo_{prefix}"))
            .await
            .expect("the source is on the same PostgreSQL")
    } else {
        ScratchDb::sqlite()
    };
    Some((source, target))
}

async fn admin_exec(url: &str, sql: String) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

fn rivo_server(database_url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_rivo-server"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

/// Runs `rivo-server args` on `database_url`, asserts it succeeded, and answers its stdout.
fn imported(database_url: &str, args: &[&str]) -> String {
    let out = rivo_server(database_url, args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    stdout
}

/// Asserts that the import's report has each line of `rows` (columns separated by single
/// spaces).
fn assert_rows(stdout: &str, rows: &[&str]) {
    for row in rows {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == *row),
            "{row:?} missing from\n{stdout}"
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn import_django_command(postgres_target: bool) {
    let Some((source_db, target_db)) = databases(postgres_target, "cli_src").await else {
        return;
    };
    let source = source_db.url.clone();
    let target = target_db.url.clone();

    let stdout = imported(&target, &["import-django", "--from", &source]);
    assert_rows(
        &stdout,
        &[
            "account_user users 6 6 0 0",
            "chat_chathistory chat_messages 2509 2509 0 0",
            "client_clientassignment client_assignments 5 5 0 0",
        ],
    );
    assert!(stdout.contains("7 legacy@acme.example (md5)"), "{stdout}");

    // Again: refused, with the way out in the message.
    let out = rivo_server(&target, &["import-django", "--from", &source]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("already holds") && stderr.contains("--merge"),
        "{stderr}"
    );

    // With --merge: everything present is skipped.
    let stdout = imported(&target, &["import-django", "--from", &source, "--merge"]);
    assert!(stdout.contains("(merge)"), "{stdout}");
    assert_rows(&stdout, &["account_user users 6 0 6 0"]);

    // The imported login works against the target.
    let store = rivo_core::Store::open(&target).await.unwrap();
    let user = store
        .authenticate("admin@acme.example", "Admin pass 2024!")
        .await
        .unwrap();
    assert!(user.is_superuser);
    store.close().await;

    target_db.remove().await;
    source_db.remove().await;
}

/// A database of the later original (1ecf1f0): its schema is detected, its leads, contexts,
/// data types and unassigned assignments come along, and its users log in.
async fn import_django_command_later_original(postgres_target: bool) {
    let Some((source_db, target_db)) = databases(postgres_target, "cli_later").await else {
        return;
    };
    let source = source_db.url.clone();
    // Separately: the migrations drop a table the fixtures' rows have deferred checks on.
    admin_exec(&source, LATER.to_owned()).await;
    let target = target_db.url.clone();
    let stdout = imported(&target, &["import-django", "--from", &source]);
    assert_rows(
        &stdout,
        &[
            "account_user users 6 6 0 0",
            "chat_chathistory chat_messages 2517 2517 0 0",
            "client_client.context client_contexts 3 3 0 0",
            "client_clientassignment client_assignments 8 8 0 0",
            "authtoken_token - 1 0 0 1",
        ],
    );

    let store = rivo_core::Store::open(&target).await.unwrap();
    let user = store
        .authenticate("priya.sharma@acme.example", "correct horse ✓")
        .await
        .unwrap();
    assert_eq!(user.id, rivo_core::UserId(2));
    let context = store.context(rivo_core::ClientId(7)).await.unwrap();
    assert_eq!(context.data["intent"], "refinance");
    assert_eq!(
        context.chat_session_id.map(|s| s.to_string()).as_deref(),
        Some("e5000000-0000-4000-8000-000000000007")
    );
    let active = store
        .active_assignment(rivo_core::ClientId(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (active.assigned_to, active.remarks.as_str()),
        (None, "Awaiting assignment")
    );
    let history = store
        .history(context.chat_session_id.unwrap())
        .await
        .unwrap();
    assert_eq!(history[1].data_type, rivo_core::chat::DataType::Name);
    store.close().await;

    target_db.remove().await;
    source_db.remove().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn import_django_command() {
        super::import_django_command(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn import_django_command_later_original() {
        super::import_django_command_later_original(false).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn import_django_command() {
        super::import_django_command(true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn import_django_command_later_original() {
        super::import_django_command_later_original(true).await;
    }
}
