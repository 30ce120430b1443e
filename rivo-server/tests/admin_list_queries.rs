//! A page of an admin list costs a bounded number of SQL statements, whatever its size: the
//! users list reads the permissions of the whole page at once, and the history lists name
//! their clients and users in one query per kind (no query per row). Statements are counted
//! from sqlx's own `sqlx::query` events. Runs on SQLite, and on PostgreSQL when
//! `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use common::{Client, TestDb, get, login, make_user, text};
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model, NewUser};
use rivo_core::clients::NewClient;
use rivo_core::{Permission, Stage};
use serde_json::{Value, json};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// Counts sqlx's statement events, and keeps their summaries (for failure messages).
struct CountStatements;

static STATEMENTS: AtomicUsize = AtomicUsize::new(0);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// An event's `summary` and its full `db.statement`.
#[derive(Default)]
struct Summary(String, String);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.0),
            "db.statement" => value.clone_into(&mut self.1),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.0 = format!("{value:?}"),
            "db.statement" => self.1 = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            let mut summary = Summary::default();
            event.record(&mut summary);
            // A new SQLite connection's set-up (`PRAGMA …`) is the pool's, not the page's; the
            // SQLite search indexer's background statements (which read or write the FTS
            // tables) can land inside a measured request (SQLite's statements run on its
            // connection threads, outside the request's span, so they are told apart by text).
            if summary.0.starts_with("PRAGMA") || summary.1.contains("chat_messages_fts") {
                return;
            }
            SEEN.lock().unwrap().push(summary.0);
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Installs the counter once for this test binary.
fn install_counter() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Registry::default().with(CountStatements))
            .expect("no other global subscriber in this test binary");
    });
}

/// One measurement at a time: the counter is global, and the backends' tests run in parallel.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The statements one GET costs, and its body.
async fn cost(c: &Client, token: &str, path: &str) -> (usize, Value) {
    SEEN.lock().unwrap().clear();
    let before = STATEMENTS.load(Ordering::SeqCst);
    let resp = get(c, token, path).await;
    let status = resp.0.status();
    let body: Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (STATEMENTS.load(Ordering::SeqCst) - before, body)
}

async fn a_list_page_costs_the_same_statements_at_5_and_50_rows(db: &TestDb) {
    let store = &db.store;
    make_user(store, "root", true, true).await;
    // 50 staff users, each holding a permission of their own, and 50 clients, each moved
    // along by one of them and assigned to another.
    let mut staff = Vec::new();
    for i in 0..50 {
        let user = store
            .create_user(NewUser {
                is_staff: true,
                permissions: [Permission::new(Action::View, Model::Client)].into(),
                ..NewUser::new(format!("agent{i}@example.com"), format!("agent{i}"))
            })
            .await
            .unwrap();
        staff.push(user);
    }
    for (i, user) in staff.iter().enumerate() {
        let client = store
            .create_client(NewClient::new(format!("Client {i}")))
            .await
            .unwrap();
        store
            .set_stage(client.id, Stage::Contacted, Some(user.id), "called")
            .await
            .unwrap();
        store
            .assign(
                client.id,
                staff[(i + 1) % staff.len()].id,
                Some(user.id),
                "",
            )
            .await
            .unwrap();
    }

    let c = db.client();
    let token = login(&c, "root@example.com").await;
    // Warm up (pool connections, prepared statements, the session check's first use).
    cost(&c, &token, "/api/v1/admin/users/?page_size=5").await;

    for list in [
        "/api/v1/admin/users/",
        "/api/v1/admin/stage-history/",
        "/api/v1/admin/assignments/",
        "/api/v1/admin/contexts/",
        "/api/v1/admin/clients/",
        "/api/v1/admin/roles/",
        "/api/v1/admin/chat/messages/",
        "/api/v1/admin/log/",
    ] {
        let (small, small_page) = cost(&c, &token, &format!("{list}?page_size=5")).await;
        let small_seen = SEEN.lock().unwrap().clone();
        let (large, large_page) = cost(&c, &token, &format!("{list}?page_size=50")).await;
        let large_seen = SEEN.lock().unwrap().clone();
        let rows = |page: &Value| page["results"].as_array().unwrap().len();
        if rows(&large_page) > rows(&small_page) {
            assert!(rows(&large_page) >= 50, "{list}: {}", rows(&large_page));
        }
        assert_eq!(
            small, large,
            "{list}: a page of 5 rows costs {small} statements, a page of 50 costs {large}:\n\
             {small_seen:#?}\n{large_seen:#?}"
        );
        assert!(
            (1..=8).contains(&small),
            "{list}: {small} statements for one page (none counted: the counter is broken)"
        );
    }

    // The names the UI shows come with the rows.
    let (_, history) = cost(&c, &token, "/api/v1/admin/stage-history/?page_size=50").await;
    let moved = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["changed_by"].is_i64())
        .unwrap();
    assert!(
        moved["client_name"]
            .as_str()
            .unwrap()
            .starts_with("Client ")
    );
    assert!(
        moved["changed_by_repr"]
            .as_str()
            .unwrap()
            .ends_with("@example.com")
    );
    let (_, assignments) = cost(&c, &token, "/api/v1/admin/assignments/?page_size=1").await;
    let row = &assignments["results"][0];
    assert!(
        row["assigned_to_repr"]
            .as_str()
            .unwrap()
            .starts_with("agent")
    );
    assert!(row["client_name"].as_str().unwrap().starts_with("Client "));
    // And each user's own permissions are still theirs.
    let (_, users) = cost(
        &c,
        &token,
        "/api/v1/admin/users/?page_size=50&is_superuser=false",
    )
    .await;
    for user in users["results"].as_array().unwrap() {
        assert_eq!(user["permissions"], json!(["client.view_client"]), "{user}");
    }
}

// Like `on_every_backend!`, but one database at a time from its creation on: the counter is
// global, and a migration running beside a measurement would be counted.
mod sqlite {
    #[tokio::test]
    async fn a_list_page_costs_the_same_statements_at_5_and_50_rows() {
        super::install_counter();
        let _one_at_a_time = super::MEASURING.lock().await;
        let db = super::TestDb::sqlite().await;
        super::a_list_page_costs_the_same_statements_at_5_and_50_rows(&db).await;
        db.cleanup().await;
    }
}

mod postgres {
    #[tokio::test]
    async fn a_list_page_costs_the_same_statements_at_5_and_50_rows() {
        super::install_counter();
        let _one_at_a_time = super::MEASURING.lock().await;
        let Some(db) = super::TestDb::postgres().await else {
            return;
        };
        super::a_list_page_costs_the_same_statements_at_5_and_50_rows(&db).await;
        db.cleanup().await;
    }
}
