//! Issue 15 ("Hardening"), findings handled in rivo-server: the periodic purge of expired rows
//! (finding 3), size limits (finding 2) and email identity over HTTP (finding 7). Runs on
//! SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestDb, assert_answer, create_superuser, history_json, post_user, text};
use poem::http::StatusCode;
use rivo_core::accounts::NewUser;
use rivo_core::auth::{LoginPolicy, TokenKind};
use rivo_server::Config;
use serde_json::{Value, json};
use sqlx::Connection;

/// `SELECT count(*)` on the test database, read outside the store.
async fn count(db: &TestDb, sql: &str) -> i64 {
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        n
    }
}

// ---------- finding 3: expired rows are purged ----------

/// The server's purge task deletes expired API tokens, expired sessions and login failures
/// that left the window, and keeps live tokens. Two purgers (two servers on one database) run
/// side by side without errors.
async fn the_purge_task_deletes_expired_tokens_sessions_and_failures(db: &TestDb) {
    let store = &db.store;
    let user = store
        .create_user(NewUser::new("purge@example.com", "purge").password(PASSWORD))
        .await
        .unwrap();
    let live = store
        .issue_token(user.id, TokenKind::Api, Duration::from_secs(3600))
        .await
        .unwrap();
    for kind in [TokenKind::Api, TokenKind::Session] {
        store
            .issue_token(user.id, kind, Duration::ZERO)
            .await
            .unwrap();
    }
    let recording = LoginPolicy {
        window: Duration::from_secs(3600),
        max_failures_per_email: 100,
        max_failures_per_address: 100,
    };
    for _ in 0..3 {
        let _ = store
            .login(
                "purge@example.com",
                "wrong password",
                Some("10.0.0.1"),
                &recording,
            )
            .await;
    }
    assert_eq!(count(db, "SELECT count(*) FROM auth_tokens").await, 3);
    assert!(count(db, "SELECT count(*) FROM login_failures").await >= 3);

    // A window of zero: every recorded failure is outside it.
    let config = Config {
        purge_interval: Duration::from_millis(20),
        login_policy: LoginPolicy {
            window: Duration::ZERO,
            ..LoginPolicy::default()
        },
        ..Config::default()
    };
    let purgers: Vec<_> = (0..2)
        .map(|_| rivo_server::spawn_purger(store.clone(), &config).unwrap())
        .collect();
    let mut left = (i64::MAX, i64::MAX);
    for _ in 0..500 {
        left = (
            count(db, "SELECT count(*) FROM auth_tokens").await,
            count(db, "SELECT count(*) FROM login_failures").await,
        );
        if left == (1, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for purger in purgers {
        assert!(!purger.is_finished(), "a purge task ended");
        purger.abort();
    }
    assert_eq!(left, (1, 0), "(tokens, failures) left after purging");
    assert_eq!(
        store
            .user_for_token(&live.token, TokenKind::Api)
            .await
            .unwrap()
            .id,
        user.id
    );
    // Zero turns it off.
    let off = Config {
        purge_interval: Duration::ZERO,
        ..Config::default()
    };
    assert!(rivo_server::spawn_purger(store.clone(), &off).is_none());
}

// ---------- finding 7: one email identity on both backends ----------

/// `admİn@example.com` is not `admin@example.com` (PostgreSQL's lower() used to say it was);
/// `ÉMAIL@x.com` and `émail@x.com` are one user (SQLite's lower() used to say they were two).
async fn email_identity_is_the_same_over_http_on_both_backends(db: &TestDb) {
    let c = db.client();
    for (email, username) in [("admin@example.com", "admin"), ("ÉMAIL@x.com", "email")] {
        create_superuser(&db.store, email, username, PASSWORD).await;
    }
    let login = |email: &str| {
        c.post("/api/v1/account/login/")
            .body_json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    login("admİn@example.com")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    let resp = login("émail@x.com").await;
    resp.assert_status(StatusCode::OK);
    let body: Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(body["user"]["email"], "ÉMAIL@x.com", "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    for (email, username, status) in [
        ("émail@x.com", "email2", StatusCode::CONFLICT),
        ("admİn@example.com", "admin2", StatusCode::CREATED),
    ] {
        let resp = post_user(&c, &token, json!({"email": email, "username": username})).await;
        resp.assert_status(status);
    }
}

// ---------- finding 2: size limits over HTTP ----------

/// A message over `RIVO_MAX_MESSAGE_CHARS` gets the DRF-shaped 400 of the other chat
/// validation errors; a history over `RIVO_HISTORY_MAX_BYTES` is cut at a message and
/// carries `next`, which the paginated form continues.
async fn message_and_history_limits_over_http(db: &TestDb) {
    let config = Config::from_vars(|name| match name {
        "RIVO_MAX_MESSAGE_CHARS" => Some("16".into()),
        "RIVO_HISTORY_MAX_BYTES" => Some("2000".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.limits.max_message_chars, 16);
    let c = db.client_with(config);
    let session = "7d9f1c2e-3b4a-4c5d-8e6f-a0b1c2d3e4f5";
    let resp = c
        .post("/api/v1/chat/stream/")
        .body_json(&json!({"session_id": session, "message": "x".repeat(17)}))
        .send()
        .await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"message":["Ensure this field has no more than 16 characters."]}"#,
    )
    .await;
    for i in 0..40 {
        c.post("/api/v1/chat/stream/")
            .body_json(&json!({"session_id": session, "message": format!("message {i:02}")}))
            .send()
            .await
            .assert_status(StatusCode::CREATED);
    }
    let resp = c
        .get(format!("/api/v1/chat/history/?session_id={session}"))
        .send()
        .await;
    resp.assert_status(StatusCode::OK);
    let first: Value = serde_json::from_str(&text(resp).await).unwrap();
    let shown = first["messages"].as_array().unwrap().len();
    assert!(shown > 0 && shown < 40, "{shown}");
    let mut total = shown;
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(after) = next {
        let resp = c
            .get(format!(
                "/api/v1/chat/history/?session_id={session}&limit=1000&after={after}"
            ))
            .send()
            .await;
        let page: Value = serde_json::from_str(&text(resp).await).unwrap();
        total += page["messages"].as_array().unwrap().len();
        next = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(total, 40);
    // Defaults: the whole history and no `next` key at all (the original's form).
    let whole = history_json(&db.client(), &session).await;
    assert_eq!(whole["messages"].as_array().unwrap().len(), 40);
    assert!(whole.get("next").is_none(), "{whole}");
}

on_every_backend!(
    message_and_history_limits_over_http,
    the_purge_task_deletes_expired_tokens_sessions_and_failures,
    email_identity_is_the_same_over_http_on_both_backends,
);
