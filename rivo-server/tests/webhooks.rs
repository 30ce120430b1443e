//! Signed webhooks over HTTP and with the real binary, against a loopback receiver that checks
//! every signature: the admin API (superusers only, DRF-shaped 400s, the secret shown once,
//! SSRF refusals, deliveries with their attempts, re-send), a server killed with SIGKILL
//! mid-delivery that delivers after restart, and two servers on one PostgreSQL database that
//! deliver each event once. Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is
//! set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

#[path = "../../rivo-core/src/store/tests/receiver.rs"]
mod receiver;

use rivo_testkit::free_port;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::process::{self, Server, call};
use common::{Client, TestDb, send_bearer, staff_token};
use poem::http::StatusCode;
use receiver::{Received, Receiver};
use rivo_core::accounts::{Action, Model};
use rivo_core::{Permission, SessionId};
use rivo_server::Config;
use serde_json::{Value, json};

on_every_backend!(
    admin_api_manages_endpoints_superusers_only,
    deliveries_are_listed_and_resent_over_http,
    binary_killed_mid_delivery_delivers_after_restart,
);

/// A staff user with every permission on clients, chat history and users (or a superuser) and
/// their token.
async fn login(db: &TestDb, c: &Client, name: &str, superuser: bool) -> String {
    let all: BTreeSet<Permission> = [Model::Client, Model::ChatHistory, Model::User]
        .into_iter()
        .flat_map(|m| {
            [Action::View, Action::Add, Action::Change, Action::Delete]
                .into_iter()
                .map(move |a| Permission::new(a, m))
        })
        .collect();
    staff_token(db, c, name, (!superuser).then_some(all)).await
}

/// `POST /api/v1/admin/webhooks/` with `body` as `token`'s holder: the status and the answer.
async fn create_webhook(c: &Client, token: &str, body: Value) -> (StatusCode, Value) {
    send_bearer(
        c,
        "POST",
        Some(token),
        "/api/v1/admin/webhooks/",
        Some(body),
    )
    .await
}

fn allow_loopback() -> Config {
    let mut config = Config::default();
    config.webhooks.allow_private = true;
    config.webhooks.backoff_base = Duration::from_millis(50);
    config.webhooks.backoff_cap = Duration::from_millis(200);
    config.webhooks.poll_interval = Duration::from_millis(100);
    config.webhooks.timeout = Duration::from_secs(2);
    config
}

fn assert_signed(r: &Received, secret: &str) {
    let now = chrono::Utc::now().timestamp();
    rivo_core::webhooks::verify_signature(secret, r.header("rivo-signature"), &r.body, now, 300)
        .unwrap_or_else(|e| panic!("bad signature: {e}"));
    assert_eq!(r.json()["id"], r.header("rivo-event-id"));
}

async fn admin_api_manages_endpoints_superusers_only(db: &TestDb) {
    let (_rx, url) = Receiver::start().await;
    // Default settings: loopback refused.
    let strict = db.client();
    let root = login(db, &strict, "root", true).await;
    let staff = login(db, &strict, "staff", false).await;
    let (status, body) = create_webhook(
        &strict,
        &root,
        json!({"url": url, "events": ["message.created"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["url"][0].as_str().unwrap().contains("loopback"),
        "{body}"
    );
    for (bad, field) in [
        (
            json!({"url": "ftp://example.com/x", "events": ["message.created"]}),
            "url",
        ),
        (
            json!({"url": "http://10.0.0.1/x", "events": ["message.created"]}),
            "url",
        ),
        (
            json!({"url": "http://169.254.169.254/", "events": ["message.created"]}),
            "url",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["message.deleted"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": "message.created"}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["client.created"], "secret": "short"}),
            "secret",
        ),
        (json!({"events": ["client.created"]}), "url"),
    ] {
        let (status, body) = create_webhook(&strict, &root, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} → {body}");
        assert!(body[field].is_array(), "{bad} → {body}");
    }
    // With RIVO_WEBHOOK_ALLOW_PRIVATE the loopback receiver is accepted.
    let c = db.client_with(allow_loopback());
    let (status, created) = create_webhook(
        &c,
        &root,
        json!({"url": url, "events": ["message.created", "client.created"], "description": "bot"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["secret_hint"], secret[secret.len() - 4..]);
    let id = created["id"].as_i64().unwrap();
    let hook = format!("/api/v1/admin/webhooks/{id}/");
    // Shown once: reads and lists carry only the hint.
    let (status, read) = send_bearer(&c, "GET", Some(&root), &hook, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["events"], json!(["message.created", "client.created"]));
    let (status, list) = send_bearer(&c, "GET", Some(&root), "/api/v1/admin/webhooks/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert!(list["results"][0].get("secret").is_none());
    // Update; rotation returns the new secret.
    let (status, updated) = send_bearer(
        &c,
        "PATCH",
        Some(&root),
        &hook,
        Some(json!({"active": false, "rotate_secret": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["active"], false);
    let rotated = updated["secret"].as_str().unwrap();
    assert_ne!(rotated, secret);
    // Staff with every model permission, and anonymous callers, are refused.
    for (token, expected) in [
        (Some(staff.as_str()), StatusCode::FORBIDDEN),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for (method, path, body) in [
            ("GET", "/api/v1/admin/webhooks/".to_owned(), None),
            (
                "POST",
                "/api/v1/admin/webhooks/".to_owned(),
                Some(json!({"url": url, "events": ["client.created"]})),
            ),
            ("GET", format!("/api/v1/admin/webhooks/{id}/"), None),
            (
                "PATCH",
                format!("/api/v1/admin/webhooks/{id}/"),
                Some(json!({"active": true})),
            ),
            ("DELETE", format!("/api/v1/admin/webhooks/{id}/"), None),
            (
                "GET",
                format!("/api/v1/admin/webhooks/{id}/deliveries/"),
                None,
            ),
            (
                "POST",
                "/api/v1/admin/webhooks/deliveries/1/resend/".to_owned(),
                None,
            ),
        ] {
            let (status, body) = send_bearer(&c, method, token, &path, body).await;
            assert_eq!(status, expected, "{method} {path}: {body}");
        }
    }
    // The audit log has the writes, never the secret.
    let (_, log) = send_bearer(
        &c,
        "GET",
        Some(&root),
        "/api/v1/admin/log/?object_type=webhook",
        None,
    )
    .await;
    let log = log.to_string();
    assert!(
        log.contains("webhook") && !log.contains(&secret) && !log.contains(rotated),
        "{log}"
    );
    let (status, _) = send_bearer(&c, "DELETE", Some(&root), &hook, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send_bearer(&c, "GET", Some(&root), &hook, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn deliveries_are_listed_and_resent_over_http(db: &TestDb) {
    let (rx, url) = Receiver::start().await;
    rx.fail_first.store(1, Ordering::SeqCst);
    let config = allow_loopback();
    let c = db.client_with(config.clone());
    let root = login(db, &c, "root", true).await;
    let (_, created) = create_webhook(
        &c,
        &root,
        json!({"url": url, "events": ["message.created"]}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    let (worker, stop) = rivo_server::spawn_webhook_worker(db.store.clone(), &config);
    let session = SessionId::new_random();
    let (status, _) = send_bearer(
        &c,
        "POST",
        None,
        "/api/v1/chat/stream/",
        Some(json!({"session_id": session.to_string(), "message": "hello bot", "sender_type": "client"})),
    )
    .await;
    assert!(status.is_success(), "{status}");
    assert!(
        rx.wait_until(10, |r| r.iter().any(|r| r.answered == 200))
            .await
    );
    let path = format!("/api/v1/admin/webhooks/{id}/deliveries/");
    let mut page = Value::Null;
    for _ in 0..50 {
        page = send_bearer(&c, "GET", Some(&root), &path, None).await.1;
        if page["results"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(page["count"], 1, "{page}");
    let d = &page["results"][0];
    assert_eq!(d["status"], "delivered", "{page}");
    assert_eq!(d["event_type"], "message.created");
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["attempt_log"][0]["status_code"], 500);
    assert_eq!(d["attempt_log"][0]["error"], "HTTP 500");
    assert_eq!(d["attempt_log"][1]["status_code"], 200);
    assert!(d["attempt_log"][1]["latency_ms"].is_u64());
    let delivery = d["id"].as_i64().unwrap();
    let (status, resent) = send_bearer(
        &c,
        "POST",
        Some(&root),
        &format!("/api/v1/admin/webhooks/deliveries/{delivery}/resend/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert!(
        rx.wait_until(10, |r| r.iter().filter(|r| r.answered == 200).count() == 2)
            .await
    );
    let _ = stop.send(());
    worker.await.unwrap();
    let got = rx.all();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_signed(r, &secret);
        assert_eq!(r.json()["data"]["message"], "hello bot");
        assert_eq!(r.json()["data"]["session_id"], session.to_string());
    }
    let (status, _) = send_bearer(
        &c,
        "POST",
        Some(&root),
        "/api/v1/admin/webhooks/deliveries/999999/resend/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ----- the real binary -----

/// `rivo-server serve` on `database_url` with loopback receivers allowed and fast retries.
///
/// Waits for readiness on a blocking thread: the test's own runtime (one thread) keeps running
/// the receiver and the test's store meanwhile (a store's transaction left open across a
/// blocked runtime would hold SQLite's write lock from the starting server).
async fn start(database_url: &str, dir: &std::path::Path) -> Server {
    let (url, dir) = (database_url.to_owned(), dir.to_owned());
    tokio::task::spawn_blocking(move || start_blocking(&url, &dir))
        .await
        .unwrap()
}

fn start_blocking(database_url: &str, dir: &std::path::Path) -> Server {
    let port = free_port();
    let mut command = process::command(port, database_url);
    command
        .current_dir(dir)
        .env("RIVO_WEBHOOK_ALLOW_PRIVATE", "True")
        .env("RIVO_WEBHOOK_TIMEOUT_SECS", "1")
        .env("RIVO_WEBHOOK_BACKOFF_BASE_MS", "50")
        .env("RIVO_WEBHOOK_BACKOFF_CAP_SECS", "1");
    Server::start(command, port, "/readyz", Duration::from_secs(60))
}

/// An active webhook to `url` for created messages.
fn message_hook(url: String) -> rivo_core::webhooks::NewWebhook {
    rivo_core::webhooks::NewWebhook {
        url,
        events: vec![rivo_core::events::EventKind::MessageCreated],
        active: true,
        ..Default::default()
    }
}

/// Allows loopback receivers on the test's store, then creates [`message_hook`] there.
async fn loopback_hook(db: &TestDb, url: String) -> rivo_core::webhooks::CreatedWebhook {
    db.store
        .set_webhook_options(rivo_core::webhooks::WebhookOptions {
            allow_private: true,
            ..Default::default()
        });
    db.store.create_webhook(message_hook(url)).await.unwrap()
}

/// POSTs a client message to the server at `addr`, asserting a 2xx.
fn post_message(addr: SocketAddr, session: SessionId, text: &str) {
    let body = json!({"session_id": session.to_string(), "message": text, "sender_type": "client"});
    let resp = call(
        addr,
        "POST",
        "/api/v1/chat/stream/",
        &[],
        Some(&body.to_string()),
    )
    .unwrap();
    assert!(
        (200..300).contains(&resp.status),
        "{} {}",
        resp.status,
        resp.body
    );
}

async fn binary_killed_mid_delivery_delivers_after_restart(db: &TestDb) {
    let (rx, url) = Receiver::start().await;
    let created = db.store.create_webhook(message_hook(url.clone())).await;
    // The test's store has the default (strict) options: loopback is refused there.
    assert!(created.is_err());
    let hook = loopback_hook(db, url).await;
    let dir = tempfile::tempdir().unwrap();
    // SQLite: one server per file; the test's own store lets go of nothing it locks.
    let mut server = start(&db.url, dir.path()).await;
    rx.hang.store(true, Ordering::SeqCst);
    let session = SessionId::new_random();
    post_message(server.addr, session, "in flight when killed");
    assert!(
        rx.wait_until(15, |r| !r.is_empty()).await,
        "the attempt started"
    );
    // SIGKILL while the receiver holds the request.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    rx.hang.store(false, Ordering::SeqCst);
    let server = start(&db.url, dir.path()).await;
    // The killed claim expires (lease: 2 × 1 s + 5 s) and the restarted server delivers.
    assert!(
        rx.wait_until(30, |r| r.iter().any(|r| r.answered == 200))
            .await,
        "delivered after restart"
    );
    // The restarted server records the success (after the receiver answered).
    let mut status = None;
    for _ in 0..100 {
        let d = db
            .store
            .list_webhook_deliveries(hook.webhook.id, rivo_core::PageRequest::default())
            .await
            .unwrap()
            .items
            .remove(0);
        status = Some(d.status);
        if d.status == rivo_core::webhooks::DeliveryStatus::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, Some(rivo_core::webhooks::DeliveryStatus::Delivered));
    drop(server);
    let got = rx.all();
    assert_eq!(rx.delivered().len(), 1);
    for r in &got {
        assert_signed(r, &hook.secret);
        assert_eq!(r.json()["data"]["message"], "in flight when killed");
    }
    assert_eq!(
        got[0].header("rivo-event-id"),
        got.last().unwrap().header("rivo-event-id")
    );
}

/// Two binaries on one PostgreSQL database, each running its worker: every event arrives once.
#[tokio::test]
async fn postgres_two_binaries_deliver_each_event_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (rx, url) = Receiver::start().await;
    let hook = loopback_hook(&db, url).await;
    let dir = tempfile::tempdir().unwrap();
    let a = start(&db.url, dir.path()).await;
    let b = start(&db.url, dir.path()).await;
    let posts = tokio::task::spawn_blocking(move || {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (a, b) = (a.addr, b.addr);
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let server = if (t + i) % 2 == 0 { a } else { b };
                        post_message(server, SessionId::new_random(), &format!("m{t}-{i}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        (a, b)
    });
    let (a, b) = posts.await.unwrap();
    assert!(
        rx.wait_until(30, |r| r.len() >= 80).await,
        "{}",
        rx.all().len()
    );
    // Time for a duplicate to show up, if one were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop((a, b));
    let got = rx.all();
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("rivo-event-id")).collect();
    assert_eq!((got.len(), ids.len()), (80, 80), "each event once");
    for r in &got {
        assert_signed(r, &hook.secret);
    }
    db.cleanup().await;
}
