//! Issue 15 (hardening), findings 5, 6, 13: the login throttle under concurrency over real HTTP,
//! `X-Forwarded-For` spoofing behind a trusted proxy, and the optional chat rate limits and bot
//! key. The app runs in-process behind a real TCP listener on loopback (so the server sees a
//! peer address, as behind nginx). Runs on SQLite, and on PostgreSQL when
//! `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{SESSION, TestDb, with_login_policy};
use rivo_core::accounts::NewUser;
use rivo_core::auth::LoginPolicy;
use rivo_server::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "a long enough passphrase";

/// Serves the app on a free loopback port until the test ends.
async fn serve(db: &TestDb, config: Config) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    let app = rivo_server::app(db.store.clone(), config);
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
}

/// A raw HTTP/1.1 request; returns the status, the headers (lowercase names) and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> (u16, Vec<(String, String)>, String) {
    let body = body.to_string();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let resp = common::process::parse(&String::from_utf8_lossy(&raw));
    (resp.status, resp.lowercase_headers(), resp.body)
}

async fn login(addr: SocketAddr, email: &str, password: &str, forwarded: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = forwarded
        .map(|f| vec![("X-Forwarded-For", f)])
        .unwrap_or_default();
    request(
        addr,
        "POST",
        "/api/v1/account/login/",
        &headers,
        &json!({"email": email, "password": password}),
    )
    .await
    .0
}

async fn make_user(db: &TestDb, name: &str) {
    db.store
        .create_user(NewUser {
            is_staff: true,
            ..NewUser::new(format!("{name}@example.com"), name).password(PASSWORD)
        })
        .await
        .unwrap();
}

/// Finding 5 over HTTP: 100 concurrent wrong passwords for one email under the default policy
/// (5 per email): at most 5 are evaluated (401), every other one is 429.
async fn concurrent_wrong_logins_over_http_get_at_most_five_401(db: &TestDb) {
    make_user(db, "race").await;
    let config = with_login_policy(LoginPolicy {
        max_failures_per_address: 1000,
        ..LoginPolicy::default()
    });
    let addr = serve(db, config).await;
    let attempts: Vec<_> = (0..100)
        .map(|_| tokio::spawn(login(addr, "race@example.com", "wrong", None)))
        .collect();
    let (mut unauthorized, mut throttled) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            401 => unauthorized += 1,
            429 => throttled += 1,
            other => panic!("expected 401 or 429, got {other}"),
        }
    }
    eprintln!("THROTTLE HTTP 100 concurrent: 401={unauthorized} 429={throttled}");
    assert!(unauthorized <= 5, "{unauthorized} attempts were evaluated");
    assert_eq!(unauthorized + throttled, 100);
}

/// Finding 6: behind nginx (`$proxy_add_x_forwarded_for`), a client that sends
/// `X-Forwarded-For: spoof…` arrives as `spoof…, <real address>`: the throttle counts the real
/// address, not the spoofed hop. A client talking to the server directly cannot choose its
/// address with the header either.
async fn spoofed_forwarded_for_does_not_escape_the_address_throttle(db: &TestDb) {
    let config = with_login_policy(LoginPolicy {
        max_failures_per_email: 100,
        max_failures_per_address: 5,
        window: Duration::from_secs(600),
    });
    let addr = serve(db, config).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let forwarded = format!("spoof{i}, 203.0.113.7");
        let email = format!("user{i}@example.com");
        statuses.push(login(addr, &email, "wrong", Some(&forwarded)).await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // Another real client behind the same proxy is not locked out.
    assert_eq!(
        login(addr, "x@example.com", "wrong", Some("spoof, 198.51.100.2")).await,
        401
    );
    // Directly (the peer is loopback, a trusted proxy by default): `spoof` is no address, so
    // the proxy's own address (the peer) is counted, whatever the client writes.
    let mut direct = Vec::new();
    for i in 0..7 {
        let email = format!("direct{i}@example.com");
        direct.push(login(addr, &email, "wrong", Some(&format!("spoof-{i}"))).await);
    }
    assert_eq!(direct, [401, 401, 401, 401, 401, 429, 429]);
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Finding 13: with `RIVO_CHAT_MAX_PER_ADDRESS=3` a client address (behind the trusted proxy,
/// spoofed first hops or not) posts 3 messages per window, then gets a DRF-shaped 429 with
/// `Retry-After`; another address still posts; the session limit holds for every address.
async fn chat_posts_are_rate_limited_per_address_and_session(db: &TestDb) {
    let mut config = Config::default();
    config.chat_policy.max_per_address = 3;
    config.chat_policy.max_per_session = 5;
    config.chat_policy.window = Duration::from_secs(600);
    let addr = serve(db, config).await;
    let post = |forwarded: String| async move {
        request(
            addr,
            "POST",
            "/api/v1/chat/stream/",
            &[("X-Forwarded-For", &forwarded)],
            &json!({"session_id": SESSION, "message": "hi"}),
        )
        .await
    };
    let mut statuses = Vec::new();
    for i in 0..5 {
        statuses.push(post(format!("spoof{i}, 203.0.113.7")).await.0);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    let (status, headers, body) = post("203.0.113.7".into()).await;
    assert_eq!(status, 429);
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request was throttled. Expected available in"),
        "{body}"
    );
    // Other addresses: the session has room for 2 more (5 per window).
    assert_eq!(post("198.51.100.1".into()).await.0, 201);
    assert_eq!(post("198.51.100.2".into()).await.0, 201);
    assert_eq!(post("198.51.100.3".into()).await.0, 429);
    assert_eq!(
        db.store
            .history(SESSION.parse().unwrap())
            .await
            .unwrap()
            .len(),
        5
    );
}

/// Finding 13: with `RIVO_BOT_KEY` a visitor cannot post as `bot` (403, DRF-shaped), the bot
/// backend can with `X-Rivo-Bot-Key`; client messages need no key. Without a key (the
/// default), anyone may post as bot and nothing is limited, as in the original.
async fn bot_messages_need_the_bot_key(db: &TestDb) {
    let mut config = Config::default();
    config.chat_policy.bot_key = Some("bot-backend-secret".into());
    let addr = serve(db, config).await;
    let post = |sender: &'static str, key: Option<&'static str>| async move {
        let headers: Vec<(&str, &str)> =
            key.map(|k| vec![("X-Rivo-Bot-Key", k)]).unwrap_or_default();
        request(
            addr,
            "POST",
            "/api/v1/chat/stream/",
            &headers,
            &json!({"session_id": SESSION, "message": "hello", "sender_type": sender}),
        )
        .await
    };
    let (status, _, body) = post("bot", None).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        r#"{"detail":"Posting as bot requires the X-Rivo-Bot-Key header with the bot key."}"#
    );
    assert_eq!(post("bot", Some("guess")).await.0, 403);
    assert_eq!(post("bot", Some("bot-backend-secret")).await.0, 201);
    assert_eq!(post("client", None).await.0, 201);
    let open = serve(db, Config::default()).await;
    for _ in 0..30 {
        let (status, _, _) = request(
            open,
            "POST",
            "/api/v1/chat/stream/",
            &[],
            &json!({"session_id": SESSION, "message": "free", "sender_type": "bot"}),
        )
        .await;
        assert_eq!(status, 201);
    }
}

on_every_backend!(
    concurrent_wrong_logins_over_http_get_at_most_five_401,
    spoofed_forwarded_for_does_not_escape_the_address_throttle,
    chat_posts_are_rate_limited_per_address_and_session,
    bot_messages_need_the_bot_key,
);
