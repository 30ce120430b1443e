//! Security checks on the real binary: `rivo-server check --deploy` lists every insecure
//! setting and fails in production mode, and no password, token, cookie, CSRF token, secret key
//! or database password ever reaches a log line (the binary's whole output is captured at
//! `RUST_LOG=trace` while logins, token use, cookie sessions, password changes, failed and
//! throttled logins happen). The log scan runs on SQLite and PostgreSQL (there with a password in
//! `DATABASE_URL`).

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::TestDb;
use common::process::{self, Resp};
use serde_json::{Value, json};

const SECRET_KEY: &str = "k3Y-very-secret-signing-key-0123456789-abcdefghijklmnopqrstuvwxyz";
const ROOT_PASSWORD: &str = "Quartz-Pass-phrase-4711-never-logged";
const WRONG_PASSWORD: &str = "Wrong-Guess-phrase-0815-never-logged";
const NEW_PASSWORD: &str = "Changed-Pass-phrase-2342-never-logged";
const DB_PASSWORD: &str = "Db-Pw-never-logged-9931";

fn rivo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivo-server"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

// ---------- check --deploy ----------

#[test]
fn check_deploy_lists_every_insecure_setting_and_fails_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("c.sqlite3").display()
    );

    // Production mode with every insecure setting the checklist knows.
    let (out, text) = run(rivo(dir.path())
        .args(["check", "--deploy"])
        .env("DATABASE_URL", &db)
        .env("DEBUG", "False")
        .env("SECRET_KEY", "short-key")
        .env("ALLOWED_HOSTS", "*")
        .env("CORS_ALLOWED_ORIGINS", "*,http://shop.example")
        .env("RIVO_LOGIN_MAX_FAILURES", "100000")
        .env("RIVO_MAX_BODY_BYTES", "1000000000")
        .env("RIVO_TOKEN_TTL_HOURS", "100000")
        .env("RIVO_DB_TIMEOUT_SECS", "600")
        .env("RIVO_REQUEST_TIMEOUT_SECS", "0"));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("9 insecure setting(s) with DEBUG=False"),
        "{text}"
    );
    for id in [
        "rivo.W004",
        "rivo.W006",
        "rivo.W007",
        "rivo.W008",
        "rivo.W010",
        "rivo.W011",
        "rivo.W012",
        "rivo.W013",
        "rivo.W014",
    ] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    assert!(!text.contains("short-key"), "the secret key was printed");
    println!(
        "FIGURES check_deploy production-insecure: exit={:?}\n{text}",
        out.status.code()
    );

    // The development key and no ALLOWED_HOSTS in production; a remote database without TLS.
    let (out, text) = run(rivo(dir.path())
        .args(["check", "--deploy"])
        .env(
            "DATABASE_URL",
            "postgres://rivo:pw@db.example.com:5432/rivo",
        )
        .env("DEBUG", "False"));
    assert!(!out.status.success(), "{text}");
    for id in ["rivo.W003", "rivo.W005", "rivo.W009"] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    assert!(!text.contains(":pw@"), "the database password was printed");

    // Development mode: listed (DEBUG itself first), but the command succeeds.
    let (out, text) = run(rivo(dir.path())
        .args(["check", "--deploy"])
        .env("DATABASE_URL", &db));
    assert!(out.status.success(), "{text}");
    for id in ["rivo.W001", "rivo.W002", "rivo.W003", "rivo.W005"] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }

    // A secure production configuration passes.
    let (out, text) = run(rivo(dir.path())
        .args(["check", "--deploy"])
        .env("DATABASE_URL", &db)
        .env("DEBUG", "False")
        .env("SECRET_KEY", SECRET_KEY)
        .env("ALLOWED_HOSTS", "api.example.com")
        .env("CORS_ALLOWED_ORIGINS", "https://shop.example"));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("deployment checklist: no issues"), "{text}");
    assert!(!text.contains(SECRET_KEY));
}

// ---------- no secret in any log line ----------

/// One request to the server on its own connection, the body (unless empty) as JSON.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let body = (!body.is_empty()).then_some(body);
    common::process::call(addr, method, path, headers, body).unwrap()
}

/// Everything secret seen on the wire during the run, to be searched for in the logs.
async fn no_secret_in_any_log_line(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // On PostgreSQL the URL carries a password (the CI server trusts local connections, so any
    // password is accepted and the test only checks that it is never printed).
    let url = if db.url.starts_with("postgres") {
        let (scheme, rest) = db.url.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        let user = user.split(':').next().unwrap();
        format!("{scheme}://{user}:{DB_PASSWORD}@{host}")
    } else {
        db.url.clone()
    };
    let mut secrets: Vec<String> = vec![
        SECRET_KEY.into(),
        ROOT_PASSWORD.into(),
        WRONG_PASSWORD.into(),
        NEW_PASSWORD.into(),
    ];
    if url.starts_with("postgres") {
        secrets.push(DB_PASSWORD.into());
    }
    let env = |cmd: &mut Command| {
        cmd.env("DATABASE_URL", &url)
            .env("SECRET_KEY", SECRET_KEY)
            .env("RUST_LOG", "trace")
            .env("RIVO_LOGIN_MAX_FAILURES", "3");
    };
    let mut logs = String::new();

    let mut create = rivo(dir.path());
    env(&mut create);
    let (out, text) = run(create
        .args(["createsuperuser", "--email", "root@example.com"])
        .env("RIVO_SUPERUSER_PASSWORD", ROOT_PASSWORD));
    assert!(out.status.success(), "{text}");
    logs.push_str(&text);
    let mut check = rivo(dir.path());
    env(&mut check);
    let (out, text) = run(check.arg("check"));
    assert!(out.status.success(), "{text}");
    logs.push_str(&text);

    let port = rivo_testkit::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut serve = rivo(dir.path());
    env(&mut serve);
    let child = serve
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    process::wait_for(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "server did not start",
        || TcpStream::connect(addr).ok(),
    );

    let login = |password: &str| {
        http(
            addr,
            "POST",
            "/api/v1/account/login/",
            &[],
            &json!({"email": "root@example.com", "password": password}).to_string(),
        )
    };
    let ok = login(ROOT_PASSWORD);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let token = serde_json::from_str::<Value>(&ok.body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(token.clone());
    let bearer = format!("Bearer {token}");
    assert_eq!(login(WRONG_PASSWORD).status, 401);
    let me_as = |authorization: &str| {
        http(
            addr,
            "GET",
            "/api/v1/account/me/",
            &[("Authorization", authorization)],
            "",
        )
    };
    let me = me_as(&bearer);
    assert_eq!(me.status, 200);
    let me: Value = serde_json::from_str(&me.body).unwrap();
    let user_id = me["id"].as_i64().unwrap();
    let forged = "Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    secrets.push(forged.trim_start_matches("Bearer ").to_owned());
    assert_eq!(me_as(forged).status, 401);
    let create_client = |headers: &[(&str, &str)], name: &str| {
        let body = json!({ "name": name }).to_string();
        http(addr, "POST", "/api/v1/admin/clients/", headers, &body)
    };
    let client = create_client(&[("Authorization", &bearer)], "Ada");
    assert_eq!(client.status, 201, "{}", client.body);

    // A cookie session: the session cookie and the CSRF token are secrets too.
    let session = http(
        addr,
        "POST",
        "/api/v1/account/session/",
        &[],
        &json!({"email": "root@example.com", "password": ROOT_PASSWORD}).to_string(),
    );
    assert_eq!(session.status, 200, "{}", session.body);
    let session_cookie = session
        .cookie("rivo_session")
        .unwrap_or_else(|| panic!("no rivo_session cookie in {:?}", session.headers));
    let csrf = serde_json::from_str::<Value>(&session.body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(session_cookie.clone());
    secrets.push(csrf.clone());
    let cookie_header = format!("rivo_session={session_cookie}; rivo_csrftoken={csrf}");
    // Without the CSRF header: refused; with it: accepted.
    let refused = create_client(&[("Cookie", &cookie_header)], "Grace");
    assert_eq!(refused.status, 403, "{}", refused.body);
    let accepted = create_client(
        &[("Cookie", &cookie_header), ("X-CSRFToken", &csrf)],
        "Grace",
    );
    assert_eq!(accepted.status, 201, "{}", accepted.body);

    // A password change (ends the sessions and tokens), then throttled wrong logins.
    let changed = http(
        addr,
        "POST",
        &format!("/api/v1/admin/users/{user_id}/password/"),
        &[("Authorization", &bearer)],
        &json!({"password": NEW_PASSWORD}).to_string(),
    );
    assert!(changed.status < 300, "{} {}", changed.status, changed.body);
    let mut throttled = false;
    for _ in 0..5 {
        throttled |= login(WRONG_PASSWORD).status == 429;
    }
    assert!(throttled, "the login throttle never answered 429");
    assert_eq!(
        me_as(&bearer).status,
        401,
        "the token outlived the password change"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    logs.push_str(&String::from_utf8_lossy(&out.stdout));
    logs.push_str(&String::from_utf8_lossy(&out.stderr));

    // The capture worked: request lines are there.
    let lines = logs.lines().count();
    assert!(
        logs.contains("/api/v1/account/login/") && lines > 20,
        "logs not captured:\n{logs}"
    );
    for secret in &secrets {
        // Whole secrets and their first half (a truncated token is still a leak).
        let half = &secret[..secret.len() / 2];
        for (i, line) in logs.lines().enumerate() {
            assert!(
                !line.contains(secret.as_str()) && !line.contains(half),
                "log line {i} leaks a secret: {line}"
            );
        }
    }
    println!(
        "FIGURES log_scan {:?}: log_lines={lines} secrets_checked={} leaks=0",
        db.store.kind(),
        secrets.len()
    );
}

// ---------- headers on every response ----------

/// Django's security headers are on every response: successes, every error status, routing
/// errors, preflights, the spec and the docs.
async fn security_headers_on_every_response(db: &TestDb) {
    let config = rivo_server::Config {
        allowed_hosts: Some(vec!["api.example.com".to_owned()]),
        cors_allowed_origins: vec!["https://shop.example".to_owned()],
        max_body_bytes: 100,
        ..rivo_server::Config::default()
    };
    let c = db.client_with(config);
    let session = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    let host = "api.example.com";
    let cases = [
        (c.get("/healthz"), 200),
        (c.get("/readyz"), 200),
        (c.get("/api/v1/openapi.json").header("host", host), 200),
        (c.get("/api/docs/").header("host", host), 200),
        (
            c.post("/api/v1/chat/stream/")
                .header("host", host)
                .body_json(&json!({"session_id": session, "message": "hi"})),
            201,
        ),
        (
            c.post("/api/v1/chat/stream/")
                .header("host", host)
                .body_json(&json!({"session_id": session, "message": "x".repeat(200)})),
            413,
        ),
        (
            c.post("/api/v1/chat/stream/")
                .header("host", host)
                .content_type("text/xml")
                .body("<a/>"),
            415,
        ),
        (
            c.get("/api/v1/chat/history/")
                .header("host", "evil.example"),
            400,
        ),
        (c.get("/api/v1/chat/history/").header("host", host), 400),
        (c.get("/api/v1/admin/clients/").header("host", host), 401),
        (c.get("/api/v1/nowhere/").header("host", host), 404),
        (c.delete("/api/v1/chat/stream/").header("host", host), 405),
        (c.options("/api/v1/chat/stream/").header("host", host), 200),
        (
            c.options("/api/v1/chat/stream/")
                .header("host", host)
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "POST"),
            200,
        ),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        let resp = req.send().await;
        assert_eq!(resp.0.status().as_u16(), expected, "case {i}");
        for (name, value) in [
            ("x-frame-options", "SAMEORIGIN"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("cross-origin-opener-policy", "same-origin"),
        ] {
            assert_eq!(
                common::header(&resp, name).as_deref(),
                Some(value),
                "case {i} ({expected}) lacks {name}"
            );
        }
    }
}

on_every_backend!(
    no_secret_in_any_log_line,
    security_headers_on_every_response
);
