//! The admin's chat reads at scale, over HTTP: session rows (last message, sender, client),
//! keyset paging (`?cursor=`) of sessions and messages, and `count_is_estimate`.
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::collections::HashSet;

use common::{Client, TestDb, append, body_json, superuser_token};
use poem::http::StatusCode;
use rivo_core::clients::NewClient;
use rivo_core::{SenderType, SessionId};
use serde_json::{Value, json};

async fn get(c: &Client, token: &str, path: &str) -> (StatusCode, Value) {
    let resp = common::get(c, token, path).await;
    let status = resp.0.status();
    (status, body_json(resp).await)
}

/// Follows `next` links from `first` and returns every row's `key`.
async fn walk(c: &Client, token: &str, first: &str, key: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = first.to_owned();
    loop {
        let (status, page) = get(c, token, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(page["previous"], Value::Null);
        assert_eq!(page["count_is_estimate"], false);
        for row in page["results"].as_array().unwrap() {
            seen.push(row[key].to_string());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("cursor=") && !next.contains("page="),
                    "{next}"
                );
                path = next
                    .split_once("://")
                    .unwrap()
                    .1
                    .split_once('/')
                    .unwrap()
                    .1
                    .to_owned();
                path.insert(0, '/');
            }
            None => return seen,
        }
    }
}

async fn session_list_shows_rows_and_pages_by_cursor(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    let linked = SessionId::new_random();
    let client = db
        .store
        .create_client(NewClient {
            chat_session_id: Some(linked),
            ..NewClient::new("Ada")
        })
        .await
        .unwrap();
    append(
        &db.store,
        linked,
        "Hello, I need a loan",
        SenderType::Client,
    )
    .await;
    append(&db.store, linked, &"Sure! ".repeat(40), SenderType::Bot).await;
    let (status, page) = get(&c, &token, "/api/v1/admin/chat/sessions/").await;
    assert_eq!(status, StatusCode::OK);
    let row = &page["results"][0];
    assert_eq!(row["message_count"], 2);
    assert_eq!(row["last_sender_type"], "bot");
    assert_eq!(row["client"], client.id.0);
    assert_eq!(
        row["last_message_preview"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        100
    );

    for i in 0..29 {
        append(
            &db.store,
            SessionId::new_random(),
            &format!("visitor {i}"),
            SenderType::Client,
        )
        .await;
    }
    let by_offset = walk_offset(&c, &token).await;
    let by_cursor = walk(
        &c,
        &token,
        "/api/v1/admin/chat/sessions/?cursor=&page_size=7",
        "session_id",
    )
    .await;
    assert_eq!(by_cursor.len(), 30);
    assert_eq!(by_cursor, by_offset, "cursor pages equal page-number pages");
    let messages = walk(
        &c,
        &token,
        "/api/v1/admin/chat/messages/?cursor=&page_size=4",
        "id",
    )
    .await;
    assert_eq!(messages.len(), 31);
    assert_eq!(messages.iter().collect::<HashSet<_>>().len(), 31);

    let (status, body) = get(&c, &token, "/api/v1/admin/chat/sessions/?cursor=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"cursor": ["Invalid cursor."]}));
    let (status, _) = get(&c, &token, "/api/v1/admin/chat/messages/?cursor=12.x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The admin index says its counts are exact at this size.
    let (_, index) = get(&c, &token, "/api/v1/admin/").await;
    for section in index["sections"].as_array().unwrap() {
        assert_eq!(section["count_is_estimate"], false, "{section}");
    }
}

async fn walk_offset(c: &Client, token: &str) -> Vec<String> {
    let (_, page) = get(c, token, "/api/v1/admin/chat/sessions/?page_size=1000").await;
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].to_string())
        .collect()
}

on_every_backend!(session_list_shows_rows_and_pages_by_cursor);
