//! Erasure, export and finding personal data over HTTP, and `rivo-server purge`/`export`/`erase`
//! from the command line. Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::process::Output;

use common::{Client, TestDb, body_json, header, send, staff_token, text};
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model};
use rivo_core::clients::{ClientUpdate, NewClient};
use rivo_core::privacy::{ClientExport, SessionExport, TranscriptFormat};
use rivo_core::{Permission, SenderType, SessionId, Stage};
use serde_json::{Value, json};

/// A staff user with `permissions` (or a superuser) and their token.
async fn login(db: &TestDb, c: &Client, name: &str, permissions: Option<&[Permission]>) -> String {
    staff_token(
        db,
        c,
        name,
        permissions.map(|p| p.iter().copied().collect()),
    )
    .await
}

async fn get(c: &Client, token: &str, path: &str) -> (StatusCode, String) {
    let resp = common::get(c, token, path).await;
    let status = resp.0.status();
    (status, text(resp).await)
}

async fn post(c: &Client, token: &str, path: &str) -> (StatusCode, Value) {
    let resp = c
        .post(path)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    let status = resp.0.status();
    (status, body_json(resp).await)
}

async fn client_erasure_leaves_nothing_readable_over_http(db: &TestDb) {
    let c = db.client();
    let root = login(db, &c, "root", None).await;
    let viewer = login(
        db,
        &c,
        "viewer",
        Some(&[
            Permission::new(Action::View, Model::Client),
            Permission::new(Action::View, Model::ChatHistory),
        ]),
    )
    .await;
    let boss = db.store.user_by_email("root@example.com").await.unwrap();
    let as_root = db.store.acting_as(&boss);

    let chat = SessionId::new_random();
    for text in [
        "Hello, I'm Ada Lovelace",
        "mail ada.lovelace@example.org, \"urgent\"\nthanks",
    ] {
        db.store
            .append(chat, text, SenderType::Client)
            .await
            .unwrap();
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
    let (status, body) = get(
        &c,
        &viewer,
        &format!("/api/v1/admin/clients/{}/export/", ada.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let parsed: ClientExport = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, db.store.export_client(ada.id).await.unwrap());
    assert_eq!(parsed.sessions[0].messages.len(), 2);

    // Transcripts download as CSV or text.
    let resp = common::get(
        &c,
        &viewer,
        &format!("/api/v1/admin/clients/{}/transcript/?format=csv", ada.id),
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
    let (status, body) = get(
        &c,
        &viewer,
        &format!("/api/v1/admin/clients/{}/transcript/", ada.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, parsed.transcript(TranscriptFormat::Text));
    let (status, body) = get(
        &c,
        &viewer,
        &format!("/api/v1/admin/clients/{}/transcript/?format=pdf", ada.id),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("format"), "{body}");

    // Erasing needs its own permission.
    let (status, _) = post(
        &c,
        &viewer,
        &format!("/api/v1/admin/clients/{}/erase/", ada.id),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(db.store.client(ada.id).await.unwrap().name, "Ada Lovelace");

    let (status, erased) = post(
        &c,
        &root,
        &format!("/api/v1/admin/clients/{}/erase/", ada.id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
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
        let (status, body) = get(&c, &root, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let mut everything = String::new();
    for path in [
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
    ] {
        let (status, body) = get(&c, &root, &path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{path}: {status} {body}"
        );
        everything += &body;
    }
    for needle in [
        "Ada", "ada.", "Lovelace", "7946 000", "urgent", "VIP", "rang",
    ] {
        assert!(
            !everything.contains(needle),
            "{needle} readable: {everything}"
        );
    }
    // The erasure is in the log, without personal data.
    let (_, log) = get(&c, &root, "/api/v1/admin/log/?page_size=1000").await;
    let log: Value = serde_json::from_str(&log).unwrap();
    let entries = log["results"].as_array().unwrap();
    let erasure = entries
        .iter()
        .find(|e| e["changes"].get("erasure").is_some())
        .unwrap_or_else(|| panic!("no erasure entry: {log}"));
    assert_eq!(erasure["object_id"], id.to_string());
    assert_eq!(erasure["object_repr"], "[erased]");
    assert_eq!(erasure["changes"]["erasure"]["messages"], 2);
}

async fn session_export_erasure_and_personal_data_over_http(db: &TestDb) {
    let c = db.client();
    let root = login(db, &c, "root", None).await;
    let viewer = login(
        db,
        &c,
        "viewer",
        Some(&[Permission::new(Action::View, Model::ChatHistory)]),
    )
    .await;
    let chat = SessionId::new_random();
    let first = db
        .store
        .append(
            chat,
            "reach me at Grace@Example.net or +1 (555) 010-7777",
            SenderType::Client,
        )
        .await
        .unwrap();
    db.store
        .append(chat, "Thanks, Grace", SenderType::Bot)
        .await
        .unwrap();

    for query in [
        "email=grace@example.NET",
        "phone=%2B1-555-010-7777",
        "phone=5550107777",
    ] {
        let (status, body) = get(
            &c,
            &viewer,
            &format!("/api/v1/admin/chat/personal-data/?{query}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<_> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [first.id.0], "{query}");
    }
    for query in [
        "",
        "email=a@b.c&phone=5550107777",
        "phone=12",
        "email=nobody",
    ] {
        let (status, body) = get(
            &c,
            &viewer,
            &format!("/api/v1/admin/chat/personal-data/?{query}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }

    let (status, body) = get(
        &c,
        &viewer,
        &format!("/api/v1/admin/chat/sessions/{chat}/export/"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let parsed: SessionExport = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed, db.store.export_session(chat).await.unwrap());
    let (status, body) = get(
        &c,
        &viewer,
        &format!("/api/v1/admin/chat/sessions/{chat}/transcript/?format=text"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, parsed.transcript(TranscriptFormat::Text));
    let (status, _) = get(
        &c,
        &viewer,
        "/api/v1/admin/chat/sessions/not-a-uuid/export/",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Audit entries about the session that hold its words: a message deleted by an admin (its
    // preview), and a client (with no personal data of its own) whose context links to it.
    let extra = db
        .store
        .append(chat, "again: Grace, 555 010 7777", SenderType::Client)
        .await
        .unwrap();
    let resp = send(
        &c,
        &root,
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
    let (_, log) = get(&c, &root, "/api/v1/admin/log/?page_size=1000").await;
    assert!(log.contains("Grace"), "no audit entry to scrub: {log}");

    let (status, _) = post(
        &c,
        &viewer,
        &format!("/api/v1/admin/chat/sessions/{chat}/erase/"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, erased) = post(
        &c,
        &root,
        &format!("/api/v1/admin/chat/sessions/{chat}/erase/"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["messages"], 2);
    assert_eq!(erased["links_cleared"], 1);
    assert_eq!(erased["session_id"], chat.to_string());

    // Nothing of the conversation through any read of the API; the client stays, unlinked.
    for path in [
        format!("/api/v1/admin/chat/sessions/{chat}/"),
        format!("/api/v1/admin/chat/sessions/{chat}/export/"),
        format!("/api/v1/admin/chat/sessions/{chat}/transcript/"),
    ] {
        let (status, body) = get(&c, &root, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    // The public history answers like for a session never seen (it echoes the id asked for).
    let (status, history) = get(
        &c,
        &root,
        &format!("/api/v1/chat/history/?session_id={chat}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        serde_json::from_str::<Value>(&history).unwrap()["messages"],
        json!([])
    );
    let mut everything = String::new();
    let mut log = String::new();
    for path in [
        "/api/v1/admin/chat/sessions/?page_size=1000".to_owned(),
        "/api/v1/admin/chat/sessions/?search=grace".to_owned(),
        "/api/v1/admin/chat/messages/?page_size=1000".to_owned(),
        "/api/v1/admin/chat/messages/?search=Grace".to_owned(),
        format!("/api/v1/admin/chat/messages/?session_id={chat}"),
        "/api/v1/admin/chat/personal-data/?phone=5550107777".to_owned(),
        "/api/v1/admin/contexts/?page_size=1000".to_owned(),
        format!("/api/v1/admin/clients/{}/context/", walk_in.id),
        "/api/v1/admin/log/?page_size=1000".to_owned(),
        "/api/v1/admin/log/?search=Grace".to_owned(),
    ] {
        let (status, body) = get(&c, &root, &path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{path}: {status} {body}"
        );
        if path.starts_with("/api/v1/admin/log/") {
            log += &body;
        } else {
            everything += &body;
        }
    }
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
    let (_, context) = get(
        &c,
        &root,
        &format!("/api/v1/admin/clients/{}/context/", walk_in.id),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&context).unwrap()["chat_session_id"],
        Value::Null,
        "{context}"
    );
    let (_, log) = get(&c, &root, "/api/v1/admin/log/?page_size=1000").await;
    let log: Value = serde_json::from_str(&log).unwrap();
    let erasure = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["changes"].get("erasure").is_some())
        .unwrap_or_else(|| panic!("no erasure entry: {log}"));
    assert_eq!(erasure["object_id"], chat.to_string());
    assert_eq!(erasure["object_repr"], "[erased]");
    assert_eq!(erasure["changes"]["erasure"]["messages"], 2);
    let (status, _) = post(
        &c,
        &root,
        &format!("/api/v1/admin/chat/sessions/{chat}/erase/"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = get(
        &c,
        &viewer,
        "/api/v1/admin/chat/personal-data/?email=grace@example.net",
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["results"],
        json!([])
    );
    let (_, sessions) = get(&c, &root, "/api/v1/admin/chat/sessions/").await;
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
    store
        .append(old, "old chat", SenderType::Client)
        .await
        .unwrap();
    store
        .append(old, "old reply", SenderType::Bot)
        .await
        .unwrap();
    store
        .append(recent, "new chat, \"quoted\"", SenderType::Client)
        .await
        .unwrap();
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
