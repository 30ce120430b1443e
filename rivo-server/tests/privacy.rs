//! Erasure, export and finding personal data over HTTP, and `rivo-server purge`/`export`/`erase`
//! from the command line. Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::process::Output;

use common::{Client, TestDb, append, body_json, each, header, send, staff_token, text};
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model};
use rivo_core::clients::{ClientUpdate, NewClient};
use rivo_core::privacy::{ClientExport, SessionExport, TranscriptFormat};
use rivo_core::{Permission, SenderType, SessionId, Stage};
use serde_json::{Value, json};

/// A staff user of the API: the test client and the user's token.
struct Caller<'c> {
    c: &'c Client,
    token: String,
}

/// Logs in a staff user with `permissions` (or a superuser).
async fn login<'c>(
    db: &TestDb,
    c: &'c Client,
    name: &str,
    permissions: Option<&[Permission]>,
) -> Caller<'c> {
    let permissions = permissions.map(|p| p.iter().copied().collect());
    let token = staff_token(db, c, name, permissions).await;
    Caller { c, token }
}

impl Caller<'_> {
    /// `GET path`: the status and the body, whatever they are.
    async fn read(&self, path: impl AsRef<str>) -> (StatusCode, String) {
        let resp = common::get(self.c, &self.token, path.as_ref()).await;
        let status = resp.0.status();
        (status, text(resp).await)
    }

    /// `GET path`: asserts the answer's status (showing the path and the body) and answers
    /// the body.
    async fn get(&self, path: impl AsRef<str>, status: StatusCode) -> String {
        let path = path.as_ref();
        let (answered, body) = self.read(path).await;
        assert_eq!(answered, status, "{path}: {body}");
        body
    }

    /// `POST path` without a body: asserts the answer's status (showing the path and the
    /// body) and answers the body as JSON.
    async fn post(&self, path: impl AsRef<str>, status: StatusCode) -> Value {
        let path = path.as_ref();
        let resp = self
            .c
            .post(path)
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await;
        assert_eq!(resp.0.status(), status, "{path}");
        body_json(resp).await
    }
}

/// Asserts that the audit log holds an erasure of `object_id` that names only the number of
/// its messages.
async fn assert_erasure_logged(root: &Caller<'_>, object_id: &str, messages: i64) {
    let log = root
        .get("/api/v1/admin/log/?page_size=1000", StatusCode::OK)
        .await;
    let log: Value = serde_json::from_str(&log).unwrap();
    let erasure = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["changes"].get("erasure").is_some())
        .unwrap_or_else(|| panic!("no erasure entry: {log}"));
    assert_eq!(erasure["object_id"], object_id);
    assert_eq!(erasure["object_repr"], "[erased]");
    assert_eq!(erasure["changes"]["erasure"]["messages"], messages);
}

/// The bodies of `paths` read as `caller`, each answered 200 or 404, one after the other.
async fn read_all(caller: &Caller<'_>, paths: &[String]) -> String {
    let mut everything = String::new();
    for path in paths {
        let (status, body) = caller.read(path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{path}: {status} {body}"
        );
        everything += &body;
    }
    everything
}

async fn client_erasure_leaves_nothing_readable_over_http(db: &TestDb) {
    let c = db.client();
    let root = login(db, &c, "root", None).await;
    let view_clients = Permission::new(Action::View, Model::Client);
    let view_chats = Permission::new(Action::View, Model::ChatHistory);
    let viewer = login(db, &c, "viewer", Some(&[view_clients, view_chats])).await;
    let boss = db.store.user_by_email("root@example.com").await.unwrap();
    let as_root = db.store.acting_as(&boss);

    let chat = SessionId::new_random();
    for text in [
        "Hello, I'm Ada Lovelace",
        "mail ada.lovelace@example.org, \"urgent\"\nthanks",
    ] {
        append(&db.store, chat, text, SenderType::Client).await;
    }
    let ada = as_root
        .create_client(NewClient {
            email: "ada.lovelace@example.org".into(),
            phone: "+44 20 7946 0000".into(),
            chat_session_id: Some(chat),
            ..NewClient::new("Ada Lovelace")
        })
        .await
        .unwrap();
    as_root
        .update_client(
            ada.id,
            ClientUpdate {
                phone: Some("+44 20 7946 0001".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    as_root
        .set_stage(ada.id, Stage::Contacted, Some(boss.id), "rang Ada")
        .await
        .unwrap();
    as_root
        .assign(ada.id, boss.id, Some(boss.id), "Ada is VIP")
        .await
        .unwrap();

    // Export: JSON that parses into rivo-core's typed export and equals the store's data.
    let ada_admin = format!("/api/v1/admin/clients/{}", ada.id);
    let body = viewer
        .get(format!("{ada_admin}/export/"), StatusCode::OK)
        .await;
    let parsed: ClientExport = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, db.store.export_client(ada.id).await.unwrap());
    assert_eq!(parsed.sessions[0].messages.len(), 2);

    // Transcripts download as CSV or text.
    let resp = common::get(
        &c,
        &viewer.token,
        &format!("{ada_admin}/transcript/?format=csv"),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert!(
        header(&resp, "content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        header(&resp, "content-disposition").unwrap(),
        format!("attachment; filename=\"client-{}.csv\"", ada.id)
    );
    assert_eq!(text(resp).await, parsed.transcript(TranscriptFormat::Csv));
    let body = viewer
        .get(format!("{ada_admin}/transcript/"), StatusCode::OK)
        .await;
    assert_eq!(body, parsed.transcript(TranscriptFormat::Text));
    let body = viewer
        .get(
            format!("{ada_admin}/transcript/?format=pdf"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(body.contains("format"), "{body}");

    // Erasing needs its own permission.
    viewer
        .post(format!("{ada_admin}/erase/"), StatusCode::FORBIDDEN)
        .await;
    assert_eq!(db.store.client(ada.id).await.unwrap().name, "Ada Lovelace");

    let erased = root
        .post(format!("{ada_admin}/erase/"), StatusCode::OK)
        .await;
    assert_eq!(erased["client"], ada.id.0);
    assert_eq!(erased["sessions"], 1);
    assert_eq!(erased["messages"], 2);
    assert_eq!(erased["stage_changes"], 2);
    assert_eq!(erased["assignments"], 1);

    // Nothing of her through any read of the API.
    let id = ada.id;
    for path in [
        format!("/api/v1/admin/clients/{id}/"),
        format!("/api/v1/admin/clients/{id}/context/"),
        format!("/api/v1/admin/clients/{id}/export/"),
        format!("/api/v1/admin/chat/sessions/{chat}/"),
        format!("/api/v1/admin/chat/sessions/{chat}/export/"),
        format!("/api/v1/admin/chat/sessions/{chat}/transcript/"),
    ] {
        root.get(&path, StatusCode::NOT_FOUND).await;
    }
    let everything = read_all(
        &root,
        &[
            "/api/v1/admin/clients/?page_size=1000".to_owned(),
            "/api/v1/admin/clients/?search=Ada".to_owned(),
            "/api/v1/admin/contexts/?page_size=1000".to_owned(),
            "/api/v1/admin/stage-history/?page_size=1000".to_owned(),
            "/api/v1/admin/assignments/?page_size=1000".to_owned(),
            format!("/api/v1/admin/clients/{id}/stage-history/"),
            format!("/api/v1/admin/clients/{id}/assignments/"),
            "/api/v1/admin/chat/sessions/?page_size=1000".to_owned(),
            "/api/v1/admin/chat/sessions/?search=lovelace".to_owned(),
            "/api/v1/admin/chat/messages/?page_size=1000".to_owned(),
            "/api/v1/admin/chat/personal-data/?email=ada.lovelace@example.org".to_owned(),
            "/api/v1/admin/log/?page_size=1000".to_owned(),
            "/api/v1/admin/log/?search=Ada".to_owned(),
            format!("/api/v1/chat/history/?session_id={chat}"),
        ],
    )
    .await;
    for needle in [
        "Ada", "ada.", "Lovelace", "7946 000", "urgent", "VIP", "rang",
    ] {
        assert!(
            !everything.contains(needle),
            "{needle} readable: {everything}"
        );
    }
    // The erasure is in the log, without personal data.
    assert_erasure_logged(&root, &id.to_string(), 2).await;
}

async fn session_export_erasure_and_personal_data_over_http(db: &TestDb) {
    let c = db.client();
    let root = login(db, &c, "root", None).await;
    let view_chats = Permission::new(Action::View, Model::ChatHistory);
    let viewer = login(db, &c, "viewer", Some(&[view_chats])).await;
    let chat = SessionId::new_random();
    let first = append(
        &db.store,
        chat,
        "reach me at Grace@Example.net or +1 (555) 010-7777",
        SenderType::Client,
    )
    .await;
    append(&db.store, chat, "Thanks, Grace", SenderType::Bot).await;
    let chat_admin = format!("/api/v1/admin/chat/sessions/{chat}");
    let personal_data = |query: &str| format!("/api/v1/admin/chat/personal-data/?{query}");

    for query in [
        "email=grace@example.NET",
        "phone=%2B1-555-010-7777",
        "phone=5550107777",
    ] {
        let body = viewer.get(personal_data(query), StatusCode::OK).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<i64> = each(&body["results"], "id");
        assert_eq!(ids, [first.id.0], "{query}");
    }
    for query in [
        "",
        "email=a@b.c&phone=5550107777",
        "phone=12",
        "email=nobody",
    ] {
        viewer
            .get(personal_data(query), StatusCode::BAD_REQUEST)
            .await;
    }

    let body = viewer
        .get(format!("{chat_admin}/export/"), StatusCode::OK)
        .await;
    let parsed: SessionExport = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, db.store.export_session(chat).await.unwrap());
    let body = viewer
        .get(
            format!("{chat_admin}/transcript/?format=text"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(body, parsed.transcript(TranscriptFormat::Text));
    let (status, _) = viewer
        .read("/api/v1/admin/chat/sessions/not-a-uuid/export/")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Audit entries about the session that hold its words: a message deleted by an admin (its
    // preview), and a client (with no personal data of its own) whose context links to it.
    let extra = append(
        &db.store,
        chat,
        "again: Grace, 555 010 7777",
        SenderType::Client,
    )
    .await;
    let resp = send(
        &c,
        &root.token,
        "DELETE",
        &format!("/api/v1/admin/chat/messages/{}/", extra.id.0),
        Value::Null,
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
    let boss = db.store.user_by_email("root@example.com").await.unwrap();
    let walk_in = db
        .store
        .acting_as(&boss)
        .create_client(NewClient {
            chat_session_id: Some(chat),
            ..NewClient::new("Walk-in lead")
        })
        .await
        .unwrap();
    let (_, log) = root.read("/api/v1/admin/log/?page_size=1000").await;
    assert!(log.contains("Grace"), "no audit entry to scrub: {log}");

    viewer
        .post(format!("{chat_admin}/erase/"), StatusCode::FORBIDDEN)
        .await;
    let erased = root
        .post(format!("{chat_admin}/erase/"), StatusCode::OK)
        .await;
    assert_eq!(erased["messages"], 2);
    assert_eq!(erased["links_cleared"], 1);
    assert_eq!(erased["session_id"], chat.to_string());

    // Nothing of the conversation through any read of the API; the client stays, unlinked.
    for path in [
        format!("/api/v1/admin/chat/sessions/{chat}/"),
        format!("/api/v1/admin/chat/sessions/{chat}/export/"),
        format!("/api/v1/admin/chat/sessions/{chat}/transcript/"),
    ] {
        root.get(&path, StatusCode::NOT_FOUND).await;
    }
    // The public history answers like for a session never seen (it echoes the id asked for).
    let history = root
        .get(
            &format!("/api/v1/chat/history/?session_id={chat}"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&history).unwrap()["messages"],
        json!([])
    );
    let everything = read_all(
        &root,
        &[
            "/api/v1/admin/chat/sessions/?page_size=1000".to_owned(),
            "/api/v1/admin/chat/sessions/?search=grace".to_owned(),
            "/api/v1/admin/chat/messages/?page_size=1000".to_owned(),
            "/api/v1/admin/chat/messages/?search=Grace".to_owned(),
            format!("/api/v1/admin/chat/messages/?session_id={chat}"),
            "/api/v1/admin/chat/personal-data/?phone=5550107777".to_owned(),
            "/api/v1/admin/contexts/?page_size=1000".to_owned(),
            format!("/api/v1/admin/clients/{}/context/", walk_in.id),
        ],
    )
    .await;
    let log = read_all(
        &root,
        &[
            "/api/v1/admin/log/?page_size=1000".to_owned(),
            "/api/v1/admin/log/?search=Grace".to_owned(),
        ],
    )
    .await;
    for needle in ["Grace", "grace", "555", "7777", "Thanks"] {
        assert!(
            !everything.contains(needle),
            "{needle} readable: {everything}"
        );
        assert!(!log.contains(needle), "{needle} in the audit log: {log}");
    }
    // The session id itself is gone too, except as the id of the erasure's audit entry.
    assert!(
        !everything.contains(&chat.to_string()),
        "the session id is readable: {everything}"
    );
    let (_, context) = root
        .read(&format!("/api/v1/admin/clients/{}/context/", walk_in.id))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&context).unwrap()["chat_session_id"],
        Value::Null,
        "{context}"
    );
    assert_erasure_logged(&root, &chat.to_string(), 2).await;
    root.post(format!("{chat_admin}/erase/"), StatusCode::NOT_FOUND)
        .await;
    let (_, body) = viewer
        .read("/api/v1/admin/chat/personal-data/?email=grace@example.net")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["results"],
        json!([])
    );
    let (_, sessions) = root.read("/api/v1/admin/chat/sessions/").await;
    assert!(!sessions.contains(&chat.to_string()), "{sessions}");
}

/// Runs the CLI on `url`, awaiting it: the test's own store (on this one-thread runtime) keeps
/// running meanwhile, so a write transaction of its background search indexer never holds
/// SQLite's lock across a blocked runtime (the CLI would fail with "database is locked").
async fn run(url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rivo-server"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .args(args)
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn cli_purges_exports_and_erases(db: &TestDb) {
    let store = &db.store;
    let old = SessionId::new_random();
    let recent = SessionId::new_random();
    append(store, old, "old chat", SenderType::Client).await;
    append(store, old, "old reply", SenderType::Bot).await;
    append(store, recent, "new chat, \"quoted\"", SenderType::Client).await;
    // Move the old session 100 days back.
    let at = (chrono::Utc::now() - chrono::Duration::days(100))
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string();
    let statements = [
        format!(
            "UPDATE chat_messages SET sent_at = '{at}' WHERE message IN ('old chat', 'old reply')"
        ),
        format!(
            "UPDATE chat_sessions SET first_message_at = '{at}', last_message_at = '{at}' \
             WHERE last_message_preview = 'old reply'"
        ),
    ];
    for sql in &statements {
        raw(&db.url, sql).await;
    }

    let dry = run(&db.url, &["purge", "--older-than", "90d", "--dry-run"]).await;
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        stdout(&dry).contains("1 sessions with 2 messages"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(store.history(old).await.unwrap().len(), 2);

    let purged = run(&db.url, &["purge", "--older-than", "90d"]).await;
    assert!(purged.status.success(), "{purged:?}");
    assert!(
        stdout(&purged).contains("Deleted 1 sessions with 2 messages"),
        "{}",
        stdout(&purged)
    );
    assert!(store.history(old).await.unwrap().is_empty());
    assert_eq!(store.history(recent).await.unwrap().len(), 1);
    let bad = run(&db.url, &["purge", "--older-than", "soon"]).await;
    assert!(!bad.status.success());

    let export = run(&db.url, &["export", "session", &recent.to_string()]).await;
    assert!(export.status.success(), "{export:?}");
    let parsed: SessionExport = serde_json::from_str(&stdout(&export)).unwrap();
    assert_eq!(parsed, store.export_session(recent).await.unwrap());
    let csv = run(
        &db.url,
        &["export", "--format", "csv", "session", &recent.to_string()],
    )
    .await;
    assert_eq!(stdout(&csv), parsed.transcript(TranscriptFormat::Csv));

    let refused = run(&db.url, &["erase", "session", &recent.to_string()]).await;
    assert!(!refused.status.success());
    assert_eq!(store.history(recent).await.unwrap().len(), 1);
    let erased = run(&db.url, &["erase", "--yes", "session", &recent.to_string()]).await;
    assert!(erased.status.success(), "{erased:?}");
    assert!(store.history(recent).await.unwrap().is_empty());
}

/// Runs one statement on the test database directly (for states the API cannot produce).
async fn raw(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        // rivo's own `pooler=transaction` parameter is not sqlx's.
        let url = url.replace("pooler=transaction", "");
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

on_every_backend!(
    client_erasure_leaves_nothing_readable_over_http,
    session_export_erasure_and_personal_data_over_http,
    cli_purges_exports_and_erases,
);
