//! `GET /api/v1/chat/history/` page by page (`?limit=&after=`, keyset on `(sent_at, id)`), and
//! the original unpaginated form unchanged when those parameters are absent. Runs on SQLite, and
//! on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use common::{Client, SESSION, TestDb, append, text};
use poem::http::StatusCode;
use rivo_core::{SenderType, SessionId};
use serde_json::Value;

async fn get(c: &Client, query: &str) -> (StatusCode, String) {
    let resp = c.get(format!("/api/v1/chat/history/?{query}")).send().await;
    let status = resp.0.status();
    (status, text(resp).await)
}

async fn seed(db: &TestDb, n: usize) {
    let session: SessionId = SESSION.parse().unwrap();
    for i in 0..n {
        append(
            &db.store,
            session,
            &format!("message {i}"),
            SenderType::Client,
        )
        .await;
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

async fn pages_cover_the_whole_history_once_in_order(db: &TestDb) {
    seed(db, 25).await;
    let c = db.client();
    let (status, full) = get(&c, &format!("session_id={SESSION}")).await;
    assert_eq!(status, StatusCode::OK);
    let full = json(&full);
    let all = full["messages"].as_array().unwrap().clone();
    assert_eq!(all.len(), 25);

    let mut collected = Vec::new();
    let mut query = format!("session_id={SESSION}&limit=10");
    let mut sizes = Vec::new();
    loop {
        let (status, body) = get(&c, &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = json(&body);
        assert_eq!(page["session_id"], SESSION);
        let messages = page["messages"].as_array().unwrap();
        sizes.push(messages.len());
        collected.extend(messages.iter().cloned());
        match &page["next"] {
            Value::String(next) => query = format!("session_id={SESSION}&limit=10&after={next}"),
            Value::Null => {
                assert!(body.ends_with(r#","next":null}"#), "{body}");
                break;
            }
            other => panic!("next must be a string or null, got {other}"),
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(collected, all);
}

async fn without_paging_parameters_the_body_is_the_original(db: &TestDb) {
    seed(db, 3).await;
    let c = db.client();
    let (_, body) = get(&c, &format!("session_id={SESSION}")).await;
    // Same keys, same order, same bytes as the original: {"session_id":…,"messages":[…]}.
    let stored = db.store.history(SESSION.parse().unwrap()).await.unwrap();
    let messages: Vec<String> = stored
        .iter()
        .map(|m| {
            format!(
                r#"{{"id":{},"session_id":"{SESSION}","message":"{}","sender_type":"client","sent_at":"{}"}}"#,
                m.id.0,
                m.message,
                rivo_server::drf_datetime(&m.sent_at)
            )
        })
        .collect();
    let expected = format!(
        r#"{{"session_id":"{SESSION}","messages":[{}]}}"#,
        messages.join(",")
    );
    assert_eq!(body, expected);
}

async fn an_exact_last_page_has_a_null_next(db: &TestDb) {
    seed(db, 4).await;
    let c = db.client();
    let (_, body) = get(&c, &format!("session_id={SESSION}&limit=4")).await;
    let page = json(&body);
    assert_eq!(page["messages"].as_array().unwrap().len(), 4);
    assert_eq!(page["next"], Value::Null);
    // `after` alone pages with the default size; past the end the page is empty.
    let last_id = page["messages"][3]["id"].as_i64().unwrap();
    let (_, first) = get(&c, &format!("session_id={SESSION}&limit=3")).await;
    let cursor = json(&first)["next"].as_str().unwrap().to_owned();
    let (_, rest) = get(&c, &format!("session_id={SESSION}&after={cursor}")).await;
    let rest = json(&rest);
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    assert_eq!(rest["messages"][0]["id"].as_i64().unwrap(), last_id);
    assert_eq!(rest["next"], Value::Null);
}

async fn bad_paging_parameters_are_field_errors(db: &TestDb) {
    let c = db.client();
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("limit=ten", "limit"),
        ("after=nonsense", "after"),
        ("limit=5&after=12.x", "after"),
    ] {
        let (status, body) = get(&c, &format!("session_id={SESSION}&{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let errors = json(&body);
        assert!(errors[field].is_array(), "{query}: {body}");
    }
    // A huge limit is cut to the maximum page, not refused.
    let (status, body) = get(&c, &format!("session_id={SESSION}&limit=999999")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["next"], Value::Null);
}

on_every_backend!(
    pages_cover_the_whole_history_once_in_order,
    without_paging_parameters_the_body_is_the_original,
    an_exact_last_page_has_a_null_next,
    bad_paging_parameters_are_field_errors,
);
