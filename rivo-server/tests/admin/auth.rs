//! Authentication: tokens, cookie sessions with CSRF, secure cookies and the login throttle.

use std::time::Duration;

use poem::http::StatusCode;
use rivo_core::SessionId;
use rivo_core::auth::LoginPolicy;
use rivo_server::Config;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, TestDb, assert_answer, bearer, body_json, deactivate, get, header, make_user,
    set_cookies, text, try_login, with_login_policy,
};
use crate::on_every_backend;

on_every_backend!(
    login_answers_a_token_and_the_user,
    login_errors_follow_the_contract,
    failed_logins_are_throttled,
    cookie_sessions_need_csrf_on_unsafe_methods,
    session_cookies_are_secure_outside_debug,
);

async fn login_answers_a_token_and_the_user(db: &TestDb) {
    let c = db.client();
    let user = make_user(&db.store, "ann", true, false).await;
    let resp = try_login(&c, "ANN@example.com", PASSWORD).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let body = body_json(resp).await;
    assert_eq!(
        body["user"],
        json!({"id": user.id.0, "email": "ann@example.com", "name": "ann"})
    );
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    // Both spellings of the header work.
    for value in [format!("Bearer {token}"), format!("Token {token}")] {
        let resp = c
            .get("/api/v1/account/me/")
            .header("authorization", value)
            .send()
            .await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        let me = body_json(resp).await;
        assert_eq!(me["email"], "ann@example.com");
        assert_eq!(me["permissions"], json!([]));
        assert_eq!(me["csrf_token"], Value::Null);
    }
    // The token is revoked by logout.
    let resp = c
        .post("/api/v1/account/logout/")
        .header("authorization", bearer(&token))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
    let resp = get(&c, &token, "/api/v1/account/me/").await;
    assert_answer(
        resp,
        StatusCode::UNAUTHORIZED,
        r#"{"detail":"Incorrect authentication credentials."}"#,
    )
    .await;
}

async fn login_errors_follow_the_contract(db: &TestDb) {
    let c = db.client();
    let user = make_user(&db.store, "bob", true, false).await;
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({}))
        .send()
        .await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"email":["This field is required."],"password":["This field is required."]}"#,
    )
    .await;
    for (email, password) in [
        ("bob@example.com", "wrong"),
        ("nobody@example.com", PASSWORD),
    ] {
        let resp = try_login(&c, email, password).await;
        assert_answer(
            resp,
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid credentials"}"#,
        )
        .await;
    }
    deactivate(&db.store, user.id).await;
    let resp = try_login(&c, "bob@example.com", PASSWORD).await;
    assert_answer(
        resp,
        StatusCode::UNAUTHORIZED,
        r#"{"error":"Invalid credentials"}"#,
    )
    .await;
    let resp = c
        .post("/api/v1/account/login/")
        .content_type("text/plain")
        .body("x")
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = c
        .post("/api/v1/account/login/")
        .content_type("application/json")
        .body("{")
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(resp)
            .await
            .starts_with(r#"{"detail":"JSON parse error - "#)
    );
    // Without any credentials the account routes answer 401 in DRF's words.
    let resp = c.get("/api/v1/account/me/").send().await;
    assert_answer(
        resp,
        StatusCode::UNAUTHORIZED,
        r#"{"detail":"Authentication credentials were not provided."}"#,
    )
    .await;
}

async fn failed_logins_are_throttled(db: &TestDb) {
    let c = db.client_with(with_login_policy(LoginPolicy {
        max_failures_per_email: 3,
        max_failures_per_address: 100,
        window: Duration::from_secs(300),
    }));
    make_user(&db.store, "cat", true, false).await;
    for _ in 0..3 {
        let resp = try_login(&c, "cat@example.com", "nope").await;
        assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused now, with a Retry-After.
    let resp = try_login(&c, "cat@example.com", PASSWORD).await;
    assert_eq!(resp.0.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry));
    assert!(
        text(resp)
            .await
            .starts_with(r#"{"detail":"Request was throttled."#)
    );
    // The session login shares the throttle.
    let resp = c
        .post("/api/v1/account/session/")
        .body_json(&json!({"email": "cat@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::TOO_MANY_REQUESTS);
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn cookie_sessions_need_csrf_on_unsafe_methods(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "dee", true, true).await;
    let resp = c
        .post("/api/v1/account/session/")
        .body_json(&json!({"email": "dee@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let cookies = set_cookies(&resp);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("rivo_session="))
        .unwrap();
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("rivo_csrftoken="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "no Secure flag in DEBUG: {session}"
    );
    assert!(!csrf_cookie.contains("HttpOnly"));
    let body = body_json(resp).await;
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let cookie_header = format!("{}; {}", cookie_pair(session), cookie_pair(csrf_cookie));

    let resp = c
        .get("/api/v1/admin/clients/")
        .header("cookie", &cookie_header)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let me = body_json(
        c.get("/api/v1/account/me/")
            .header("cookie", &cookie_header)
            .send()
            .await,
    )
    .await;
    assert_eq!(me["csrf_token"], csrf.as_str());

    let create = json!({"name": "Via cookie"});
    let resp = c
        .post("/api/v1/admin/clients/")
        .header("cookie", &cookie_header)
        .body_json(&create)
        .send()
        .await;
    assert_answer(
        resp,
        StatusCode::FORBIDDEN,
        r#"{"detail":"CSRF Failed: CSRF token missing or incorrect."}"#,
    )
    .await;
    let resp = c
        .post("/api/v1/admin/clients/")
        .header("cookie", &cookie_header)
        .header("x-csrftoken", "0".repeat(64))
        .body_json(&create)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::FORBIDDEN);
    let resp = c
        .post("/api/v1/admin/clients/")
        .header("cookie", &cookie_header)
        .header("x-csrftoken", &csrf)
        .body_json(&create)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    // The public chat API never asks for CSRF, cookie or not (the original's bug).
    let resp = c
        .post("/api/v1/chat/stream/")
        .header("cookie", &cookie_header)
        .body_json(&json!({"session_id": SessionId::new_random().to_string(), "message": "hi"}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    // A forged or tampered cookie is refused.
    let tampered = cookie_header.replacen("rivo_session=", "rivo_session=0", 1);
    let resp = c
        .get("/api/v1/admin/clients/")
        .header("cookie", tampered)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    // Logout (with CSRF) ends the session and clears the cookies.
    let resp = c
        .post("/api/v1/account/logout/")
        .header("cookie", &cookie_header)
        .header("x-csrftoken", &csrf)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
    assert!(header(&resp, "set-cookie").is_some());
    let resp = c
        .get("/api/v1/admin/clients/")
        .header("cookie", &cookie_header)
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
}

async fn session_cookies_are_secure_outside_debug(db: &TestDb) {
    let config = Config {
        debug: false,
        secret_key: "a-real-secret-key-for-this-test-0123456789".to_owned(),
        allowed_hosts: Some(vec!["admin.example.com".to_owned()]),
        ..Config::default()
    };
    let c = db.client_with(config);
    make_user(&db.store, "eve", true, false).await;
    let resp = c
        .post("/api/v1/account/session/")
        .header("host", "admin.example.com")
        .body_json(&json!({"email": "eve@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 2);
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
}
