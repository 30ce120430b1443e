//! Scale-out: two real `rivo-server` processes on one PostgreSQL database behave as one server.
//! Writes through both land in one history that reads the same (byte for byte) through either;
//! a token or a cookie session issued by one works on the other; the login throttle counts
//! failures made on both. Nothing lives only in one process's memory.
//!
//! PostgreSQL-only (SQLite is one process's file): the test is named without a `postgres::`
//! module path so CI's count of SQLite and PostgreSQL tests stays equal. Runs when
//! `RIVO_TEST_POSTGRES_URL` is set; `RIVO_TEST_REQUIRE_POSTGRES=1` makes its absence a failure.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use rivo_testkit::free_port;
use std::time::Duration;

use common::process::{self, Resp, Server, call};
use common::{PASSWORD, TestDb};
use rivo_core::accounts::NewUser;
use serde_json::Value;

const SECRET_KEY: &str = "scale-out test key shared by both instances";

/// Starts the real binary on a free port against `database_url` and waits for `/readyz`.
fn start(database_url: &str) -> Server {
    let port = free_port();
    let mut command = process::command(port, database_url);
    command
        .env("SECRET_KEY", SECRET_KEY)
        .env("RIVO_LOGIN_MAX_FAILURES", "3");
    Server::start(command, port, "/readyz", Duration::from_secs(60))
}

fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    call(server.addr, method, path, headers, body).unwrap()
}

fn login(server: &Server, email: &str, password: &str) -> Resp {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    request(server, "POST", "/api/v1/account/login/", &[], Some(&body))
}

#[tokio::test]
async fn two_servers_share_one_database() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.store
        .create_user(NewUser::new("ada@example.com", "ada").password(PASSWORD))
        .await
        .unwrap();
    db.store
        .create_user(NewUser::new("bob@example.com", "bob").password(PASSWORD))
        .await
        .unwrap();
    let url = db.url.clone();
    let (a, b) = tokio::task::spawn_blocking(move || {
        let a = start(&url);
        let b = start(&url);
        (a, b)
    })
    .await
    .unwrap();

    let (a, b) = tokio::task::spawn_blocking(move || {
        check_history(&a, &b);
        check_tokens_and_sessions(&a, &b);
        check_throttle(&a, &b);
        (a, b)
    })
    .await
    .unwrap();
    drop((a, b));
    db.cleanup().await;
}

/// 4 writers per server, all on one session and on one session per writer, at the same time.
fn check_history(a: &Server, b: &Server) {
    const SHARED: &str = "0b9e5d3c-7a11-4d2e-9f3a-5c6d7e8f9a0b";
    const PER_WRITER: usize = 25;
    let own_session = |server: usize, writer: usize| {
        format!("00000000-0000-4000-8000-{:06}{:06}", server, writer)
    };
    std::thread::scope(|scope| {
        for (s, server) in [a, b].into_iter().enumerate() {
            for w in 0..4 {
                scope.spawn(move || {
                    for i in 0..PER_WRITER {
                        for session in [SHARED.to_owned(), own_session(s, w)] {
                            let body = format!(
                                r#"{{"session_id":"{session}","message":"server {s} writer {w} message {i}"}}"#
                            );
                            let resp =
                                request(server, "POST", "/api/v1/chat/stream/", &[], Some(&body));
                            assert_eq!(resp.status, 201, "{}", resp.body);
                        }
                    }
                });
            }
        }
    });

    let history = |server: &Server, session: &str| {
        let resp = request(
            server,
            "GET",
            &format!("/api/v1/chat/history/?session_id={session}"),
            &[],
            None,
        );
        assert_eq!(resp.status, 200);
        resp.body
    };
    let through_a = history(a, SHARED);
    let through_b = history(b, SHARED);
    assert_eq!(through_a, through_b, "both servers read the same bytes");
    let messages = serde_json::from_str::<Value>(&through_a).unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(messages.len(), 2 * 4 * PER_WRITER, "every write is there");
    // History order (sent_at, id) is id order, and each writer's messages are in its order.
    let ids: Vec<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    for s in 0..2 {
        for w in 0..4 {
            let prefix = format!("server {s} writer {w} message ");
            let seen: Vec<usize> = messages
                .iter()
                .filter_map(|m| m["message"].as_str()?.strip_prefix(&prefix)?.parse().ok())
                .collect();
            assert_eq!(seen, (0..PER_WRITER).collect::<Vec<_>>());
        }
    }
    // Each writer's own session is complete through the other server too.
    for s in 0..2 {
        for w in 0..4 {
            let session = own_session(s, w);
            let body = history(if s == 0 { b } else { a }, &session);
            assert_eq!(body, history(if s == 0 { a } else { b }, &session));
            let n = serde_json::from_str::<Value>(&body).unwrap()["messages"]
                .as_array()
                .unwrap()
                .len();
            assert_eq!(n, PER_WRITER);
        }
    }
    // Paging through one server covers what the other wrote, once each.
    let mut paged = Vec::new();
    let mut query = format!("/api/v1/chat/history/?session_id={SHARED}&limit=7");
    loop {
        let page = request(b, "GET", &query, &[], None).json();
        paged.extend(page["messages"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => {
                query = format!("/api/v1/chat/history/?session_id={SHARED}&limit=7&after={next}")
            }
            None => break,
        }
    }
    assert_eq!(paged, messages);
}

/// `GET /api/v1/account/me/` on `server` with the credentials `header` (name, value).
fn me(server: &Server, header: (&str, &str)) -> Resp {
    request(server, "GET", "/api/v1/account/me/", &[header], None)
}

fn check_tokens_and_sessions(a: &Server, b: &Server) {
    // A token issued by A works on B, and a logout on B revokes it on A.
    let resp = login(a, "ada@example.com", PASSWORD);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let token = resp.json()["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let on_b = me(b, ("Authorization", &bearer));
    assert_eq!(on_b.status, 200, "{}", on_b.body);
    assert_eq!(on_b.json()["email"], "ada@example.com");
    let out = request(
        b,
        "POST",
        "/api/v1/account/logout/",
        &[("Authorization", &bearer)],
        None,
    );
    assert!(out.status < 300, "logout: {} {}", out.status, out.body);
    let after = me(a, ("Authorization", &bearer));
    assert_eq!(after.status, 401, "{}", after.body);

    // A cookie session opened on B works on A.
    let body = serde_json::json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    let resp = request(b, "POST", "/api/v1/account/session/", &[], Some(&body));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let session = resp.cookie("rivo_session").expect("session cookie");
    let cookie = format!("rivo_session={session}");
    let on_a = me(a, ("Cookie", &cookie));
    assert_eq!(on_a.status, 200, "{}", on_a.body);
    assert_eq!(on_a.json()["email"], "ada@example.com");
}

fn check_throttle(a: &Server, b: &Server) {
    // RIVO_LOGIN_MAX_FAILURES=3: two failures on A and one on B use up the allowance, so the
    // next attempt is refused on either server, even with the right password.
    for server in [a, a, b] {
        let resp = login(server, "bob@example.com", "wrong password, twice over");
        assert_eq!(resp.status, 401, "{}", resp.body);
    }
    for server in [a, b] {
        let resp = login(server, "bob@example.com", PASSWORD);
        assert_eq!(resp.status, 429, "{}", resp.body);
    }
}
