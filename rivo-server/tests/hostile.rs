//! Hostile input: oversized bodies, deep and huge JSON, invalid UTF-8, NUL bytes, SQL and LIKE
//! metacharacters in search and filters, header injection, path traversal under `/admin/`,
//! absurd pagination numbers and unknown enum values. Every answer must be a 4xx (or a 2xx)
//! with a JSON body: never a 5xx, never a hang, never someone else's data.
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use common::{Client, SESSION, TestDb, bearer, get, header, send, superuser_token, text};
use poem::http::{HeaderValue, StatusCode};
use rivo_server::Config;
use serde_json::{Value, json};

/// Asserts a client error (or success) with a JSON body and returns (status, body).
async fn not_5xx(what: &str, resp: poem::test::TestResponse) -> (StatusCode, Value) {
    let status = resp.0.status();
    let body = text(resp).await;
    assert!(
        !status.is_server_error(),
        "{what}: answered {status} with {body}"
    );
    let json = serde_json::from_str::<Value>(&body)
        .unwrap_or_else(|e| panic!("{what}: {status} body is not JSON ({e}): {body:.200}"));
    (status, json)
}

/// `GET path` with `token`, asserted to be no 5xx and JSON (see [`not_5xx`]).
async fn checked_get(c: &Client, token: &str, path: &str) -> (StatusCode, Value) {
    not_5xx(path, get(c, token, path).await).await
}

/// `method path` with `token` and the JSON `body` (see [`send`]), asserted to be no 5xx and
/// JSON (see [`not_5xx`]).
async fn checked_send(
    c: &Client,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let what = format!("{method} {path} {body:.200}");
    not_5xx(&what, send(c, token, method, path, body).await).await
}

/// `method` (PUT or PATCH) of the context of the client `id` with `context`, asserted to be no
/// 5xx and JSON (see [`not_5xx`]).
async fn send_context(
    c: &Client,
    token: &str,
    method: &str,
    id: i64,
    context: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/admin/clients/{id}/context/");
    checked_send(c, token, method, &path, json!({ "context": context })).await
}

/// Creates the client `name` through the admin API (never a 5xx) and answers its id.
async fn create_client(c: &Client, token: &str, name: &str) -> i64 {
    let body = json!({ "name": name });
    let (_, client) = checked_send(c, token, "POST", "/api/v1/admin/clients/", body).await;
    client["id"].as_i64().unwrap()
}

/// Over the configured limit → 413 with a JSON body, on every route that takes a body; the
/// default limit accepts the original's 2.5 MB.
async fn oversized_bodies_are_413_json(db: &TestDb) {
    let small = Config {
        max_body_bytes: 1024,
        ..Config::default()
    };
    let c = db.client_with(small);
    let token = superuser_token(db, &c).await;
    let big = format!(
        r#"{{"session_id":"{SESSION}","message":"{}"}}"#,
        "a".repeat(4096)
    );
    let routes: [(&str, &str, bool); 6] = [
        ("POST", "/api/v1/chat/stream/", false),
        ("POST", "/api/v1/account/login/", false),
        ("POST", "/api/v1/account/session/", false),
        ("POST", "/api/v1/admin/clients/", true),
        ("POST", "/api/v1/admin/users/", true),
        ("POST", "/api/v1/admin/chat/messages/bulk-delete/", true),
    ];
    for (method, path, authed) in routes {
        let mut req = match method {
            "POST" => c.post(path),
            _ => c.patch(path),
        };
        if authed {
            req = req.header("authorization", bearer(&token));
        }
        let resp = req
            .content_type("application/json")
            .body(big.clone())
            .send()
            .await;
        let (status, body) = not_5xx(path, resp).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    // The default accepts a 2.5 MB message, as the original did.
    let c = db.client();
    let message = "b".repeat(2_500_000);
    let resp = c
        .post("/api/v1/chat/stream/")
        .body_json(&json!({"session_id": SESSION, "message": message}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
}

/// Deeply nested or huge JSON is a 400, not a crash or a 5xx.
async fn deep_and_huge_json_are_rejected_cleanly(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        r#"{{"session_id":"{SESSION}","message":{}1{}}}"#,
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    );
    for body in [
        deep.as_str(),
        deep_obj.as_str(),
        "{",
        "\"",
        "nul",
        "[]",
        "1e999999",
    ] {
        let resp = c
            .post("/api/v1/chat/stream/")
            .content_type("application/json")
            .body(body.to_owned())
            .send()
            .await;
        let (status, _) = not_5xx("deep JSON on stream", resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let resp = c
            .post("/api/v1/admin/clients/")
            .header("authorization", bearer(&token))
            .content_type("application/json")
            .body(body.to_owned())
            .send()
            .await;
        let (status, _) = not_5xx("deep JSON on admin", resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // A client context with many keys and a deep (but parseable) value.
    let id = create_client(&c, &token, "Wide").await;
    let wide: serde_json::Map<String, Value> =
        (0..20_000).map(|i| (format!("k{i}"), json!(i))).collect();
    send_context(&c, &token, "PUT", id, json!(wide)).await;
    for context in [
        json!({"k\u{0}": "v"}),
        json!({"k": "v\u{0}"}),
        json!({"k": ["\u{0}"]}),
    ] {
        let (status, body) = send_context(&c, &token, "PUT", id, context.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{context}: {body}");
    }
    let mut nested = json!(1);
    for _ in 0..100 {
        nested = json!({ "n": nested });
    }
    send_context(&c, &token, "PATCH", id, json!({ "deep": nested })).await;
}

/// Invalid UTF-8 in bodies and query strings, and NUL bytes anywhere text is stored or searched.
async fn invalid_utf8_and_nul_bytes_are_400(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    let mut bad = br#"{"session_id":""#.to_vec();
    bad.extend_from_slice(SESSION.as_bytes());
    bad.extend_from_slice(b"\",\"message\":\"caf\xe9 \xff\xfe\"}");
    for content_type in [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
    ] {
        let resp = c
            .post("/api/v1/chat/stream/")
            .content_type(content_type)
            .body(bad.clone())
            .send()
            .await;
        let (status, _) = not_5xx(content_type, resp).await;
        assert!(status.is_client_error(), "{content_type}: {status}");
    }
    let resp = c
        .post("/api/v1/chat/stream/")
        .content_type("application/x-www-form-urlencoded")
        .body(format!("session_id={SESSION}&message=%FF%FE%00"))
        .send()
        .await;
    let (status, _) = not_5xx("form %FF", resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // NUL bytes: DRF's "Null characters are not allowed." (PostgreSQL could not store them).
    let resp = c
        .post("/api/v1/chat/stream/")
        .body_json(&json!({"session_id": SESSION, "message": "a\u{0}b"}))
        .send()
        .await;
    let (status, body) = not_5xx("NUL message", resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for (path, body) in [
        ("/api/v1/admin/clients/", json!({"name": "a\u{0}b"})),
        (
            "/api/v1/admin/clients/",
            json!({"name": "ok", "email": "a\u{0}@x.io"}),
        ),
        (
            "/api/v1/admin/users/",
            json!({"email": "n\u{0}ul@example.com", "username": "nul\u{0}"}),
        ),
        (
            "/api/v1/admin/roles/",
            json!({"name": "r\u{0}", "description": "d"}),
        ),
        (
            "/api/v1/account/login/",
            json!({"email": "root@example.com\u{0}", "password": "x\u{0}"}),
        ),
    ] {
        let (status, answer) = checked_send(&c, &token, "POST", path, body).await;
        assert!(status.is_client_error(), "NUL {path}: {status} {answer}");
    }
    // NUL and invalid UTF-8 in query strings (search, filters, session ids).
    for query in [
        "/api/v1/admin/clients/?search=%00",
        "/api/v1/admin/clients/?search=a%00b",
        "/api/v1/admin/clients/?search=%FF",
        "/api/v1/admin/chat/messages/?search=%00",
        "/api/v1/admin/chat/sessions/?search=%00",
        "/api/v1/admin/users/?search=%00",
        "/api/v1/admin/roles/?search=%00",
        "/api/v1/admin/log/?search=%00",
        "/api/v1/admin/log/?object_id=%00",
        "/api/v1/admin/log/?object_type=%00",
        "/api/v1/admin/contexts/?chat_session_id=%00",
        "/api/v1/chat/history/?session_id=%00",
        "/api/v1/chat/history/?session_id=%FF",
    ] {
        checked_get(&c, &token, query).await;
    }
}

/// `%`, `_`, `\`, quotes and SQL in search and filter parameters match literally.
async fn sql_and_like_metacharacters_match_literally(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    for name in [
        "100% sure",
        "under_score",
        "back\\slash",
        "O'Brien",
        "plain",
    ] {
        let resp = send(
            &c,
            &token,
            "POST",
            "/api/v1/admin/clients/",
            json!({"name": name}),
        )
        .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
    }
    for (search, expected) in [
        ("%25", 1),
        ("_", 1),
        ("%5C", 1),
        ("'", 1),
        ("%27%20OR%20%271%27%3D%271", 0),
        ("%27%3B%20DROP%20TABLE%20clients%3B--", 0),
        ("%22", 0),
        ("%5B%5D", 0),
        ("*", 0),
    ] {
        let path = format!("/api/v1/admin/clients/?search={search}");
        let (status, body) = checked_get(&c, &token, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["count"], expected, "{path}: {body}");
    }
    // Filters and ordering with SQL in them are refused or ignored, never executed.
    for query in [
        "/api/v1/admin/clients/?ordering=name;DROP%20TABLE%20clients",
        "/api/v1/admin/clients/?ordering=-(select%201)",
        "/api/v1/admin/clients/?current_stage=lead%27%20OR%201=1--",
        "/api/v1/admin/log/?action=%27",
        "/api/v1/admin/log/?object_type=client%27--",
        "/api/v1/admin/chat/messages/?session_id=%27%20OR%201=1--",
        "/api/v1/admin/chat/messages/?sent_at_after=%27",
        "/api/v1/admin/users/?role=1%20OR%201=1",
        "/api/v1/admin/stage-history/?client=1;DELETE",
    ] {
        checked_get(&c, &token, query).await;
    }
    let resp = get(&c, &token, "/api/v1/admin/clients/").await;
    let (_, body) = not_5xx("clients after", resp).await;
    assert_eq!(body["count"], 5, "the table is intact");
}

/// Header injection: hostile request ids are replaced, not echoed; odd Host and Origin
/// values are refused or ignored; credentials headers with junk are 401.
async fn header_injection_is_not_echoed(db: &TestDb) {
    let config = Config {
        allowed_hosts: Some(vec!["api.example.com".to_owned()]),
        cors_allowed_origins: vec!["https://shop.example".to_owned()],
        ..Config::default()
    };
    let c = db.client_with(config);
    let long = "x".repeat(10_000);
    for id in [
        b"evil id with spaces".as_slice(),
        b"a\tb",
        long.as_bytes(),
        "\u{e9}t\u{e9}".as_bytes(),
        b"\xff\xfe",
    ] {
        let resp = c
            .get("/api/v1/chat/history/")
            .query("session_id", &SESSION)
            .header("host", "api.example.com")
            .header("x-request-id", HeaderValue::from_bytes(id).unwrap())
            .send()
            .await;
        let echoed = header(&resp, "x-request-id").unwrap();
        assert_ne!(echoed.as_bytes(), id, "a hostile request id was echoed");
        assert!(echoed.len() <= 128);
        not_5xx("request id", resp).await;
    }
    for host in [
        "evil.example.com",
        "api.example.com.evil.com",
        "api.example.com@evil.com",
        "api.example.com:80@evil",
        "",
        "[::1]:",
        "api.example.com%0d%0aSet-Cookie:x=y",
    ] {
        let resp = c
            .get("/api/v1/chat/history/")
            .query("session_id", &SESSION)
            .header("host", host)
            .send()
            .await;
        let (status, _) = not_5xx(host, resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "Host {host:?}");
    }
    for origin in [
        "https://shop.example.evil.com",
        "https://evil.example",
        "null",
        "https://shop.example/",
    ] {
        let resp = c
            .post("/api/v1/chat/stream/")
            .header("host", "api.example.com")
            .header("origin", origin)
            .body_json(&json!({"session_id": SESSION, "message": "hi"}))
            .send()
            .await;
        assert!(
            header(&resp, "access-control-allow-origin").is_none(),
            "CORS granted to {origin}"
        );
        not_5xx(origin, resp).await;
    }
    let resp = c
        .get("/api/v1/admin/clients/")
        .header("host", "api.example.com")
        .header("origin", "https://shop.example")
        .header("authorization", "Bearer x")
        .send()
        .await;
    assert!(
        header(&resp, "access-control-allow-origin").is_none(),
        "CORS on an admin route"
    );
    for authorization in [
        "Bearer",
        "Bearer ",
        "Bearer \t",
        "Token ' OR 1=1 --",
        "Basic cm9vdDpyb290",
        "Bearer a b c",
        long.as_str(),
    ] {
        let resp = c
            .get("/api/v1/account/me/")
            .header("host", "api.example.com")
            .header("authorization", authorization)
            .send()
            .await;
        let (status, _) = not_5xx(authorization, resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:.40}");
    }
    let resp = c
        .get("/api/v1/account/me/")
        .header("host", "api.example.com")
        .header("cookie", "rivo_session=../../etc/passwd; csrftoken=%00")
        .send()
        .await;
    let (status, _) = not_5xx("cookie", resp).await;
    assert!(status.is_client_error());
}

/// `..` and encoded variants under `/admin/` and `/api/v1/admin/` never reach a file.
async fn path_traversal_under_admin_is_404(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    for path in [
        "/admin/../Cargo.toml",
        "/admin/..%2f..%2fCargo.toml",
        "/admin/%2e%2e/%2e%2e/etc/passwd",
        "/admin/....//....//etc/passwd",
        "/admin/..\\..\\Cargo.toml",
        "/admin/%c0%ae%c0%ae/etc/passwd",
        "/admin/index.html%00.js",
        "/admin//etc/passwd",
        "/api/v1/admin/../../../etc/passwd",
        "/api/v1/admin/%2e%2e/%2e%2e/Cargo.toml",
        "/api/v1/admin/clients/..%2f..%2fusers/",
        "/api/v1/admin/clients/%2e%2e/",
        "/api/docs/../../Cargo.toml",
        "/api/docs/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let resp = get(&c, &token, path).await;
        let status = resp.0.status();
        let body = text(resp).await;
        assert!(!status.is_server_error(), "{path}: {status}");
        for secret in ["[package]", "root:x:0:0", "[workspace]"] {
            assert!(!body.contains(secret), "{path} served a file: {body:.200}");
        }
        assert!(
            status.is_client_error() || status.is_redirection() || body.contains("<html"),
            "{path}: {status} {body:.200}"
        );
    }
}

/// Negative, zero, huge and non-numeric pagination and ids are 4xx (or a clamped 200).
async fn absurd_numbers_are_refused(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    for list in [
        "/api/v1/admin/clients/",
        "/api/v1/admin/users/",
        "/api/v1/admin/chat/messages/",
        "/api/v1/admin/chat/sessions/",
        "/api/v1/admin/log/",
    ] {
        for query in [
            "page=-1",
            "page=0",
            "page=99999999999999999999999",
            "page=9223372036854775807",
            "page=1e3",
            "page=abc",
            "page_size=-5",
            "page_size=0",
            "page_size=99999999999",
            "page_size=18446744073709551616",
            "page=2147483648&page_size=2147483647",
        ] {
            let path = format!("{list}?{query}");
            checked_get(&c, &token, &path).await;
        }
    }
    for path in [
        "/api/v1/admin/clients/-1/",
        "/api/v1/admin/clients/0/",
        "/api/v1/admin/clients/99999999999999999999999/",
        "/api/v1/admin/clients/9223372036854775807/",
        "/api/v1/admin/clients/1.5/",
        "/api/v1/admin/users/-9223372036854775808/",
        "/api/v1/admin/chat/messages/abc/",
        "/api/v1/admin/chat/sessions/not-a-uuid/",
        "/api/v1/chat/history/?session_id=x&limit=-1",
        "/api/v1/chat/history/?session_id=1b4e28ba-2fa1-11d2-883f-0016d3cca427&limit=99999999999999999999",
        "/api/v1/chat/history/?session_id=1b4e28ba-2fa1-11d2-883f-0016d3cca427&after=-1",
        "/api/v1/chat/history/?session_id=1b4e28ba-2fa1-11d2-883f-0016d3cca427&after=9223372036854775807",
    ] {
        checked_get(&c, &token, path).await;
    }
    for body in [
        json!({"ids": [-1, 0, 9223372036854775807_i64]}),
        json!({"ids": [1e300]}),
        json!({"ids": "all"}),
        json!({"ids": (0..10_000).collect::<Vec<_>>()}),
    ] {
        let bulk_delete = "/api/v1/admin/chat/messages/bulk-delete/";
        checked_send(&c, &token, "POST", bulk_delete, body).await;
    }
    // One id over the bulk bound: a 400 on `ids`, in rivo-core's words.
    let resp = send(
        &c,
        &token,
        "POST",
        "/api/v1/admin/chat/messages/bulk-delete/",
        json!({"ids": (0..=rivo_core::chat::MAX_BULK_IDS).collect::<Vec<_>>()}),
    )
    .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_json(json!({"ids": ["Ensure this field has no more than 1000 elements."]}))
        .await;
    let assign_huge = "/api/v1/admin/clients/9223372036854775807/assign/";
    checked_send(&c, &token, "POST", assign_huge, json!({"assigned_to": -1})).await;
}

/// Unknown enum values (sender types, stages, booleans, ordering fields) are 400, never 5xx.
async fn unknown_enum_values_are_400(db: &TestDb) {
    let c = db.client();
    let token = superuser_token(db, &c).await;
    let resp = c
        .post("/api/v1/chat/stream/")
        .body_json(&json!({"session_id": SESSION, "message": "hi", "sender_type": "alien"}))
        .send()
        .await;
    let (status, body) = not_5xx("sender_type", resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["sender_type"].is_array(), "{body}");
    let martian = json!({"name": "Enum", "current_stage": "martian"});
    let (status, _) = checked_send(&c, &token, "POST", "/api/v1/admin/clients/", martian).await;
    assert!(status.is_client_error() || status == StatusCode::CREATED);
    let id = create_client(&c, &token, "Enum").await;
    for stage in [
        json!("martian"),
        json!(""),
        json!(7),
        json!(null),
        json!(["lead"]),
    ] {
        let path = format!("/api/v1/admin/clients/{id}/stage/");
        let (status, _) = checked_send(&c, &token, "POST", &path, json!({"to_stage": stage})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "to_stage {stage}");
    }
    for query in [
        "/api/v1/admin/clients/?current_stage=martian",
        "/api/v1/admin/stage-history/?to_stage=martian",
        "/api/v1/admin/chat/messages/?sender_type=alien",
        "/api/v1/admin/users/?is_active=perhaps",
        "/api/v1/admin/assignments/?is_active=2",
        "/api/v1/admin/log/?action=explode",
        "/api/v1/admin/clients/?ordering=password",
        "/api/v1/admin/users/?ordering=password",
        "/api/v1/admin/users/?ordering=-password_hash",
    ] {
        let (status, body) = checked_get(&c, &token, query).await;
        if status == StatusCode::OK {
            // Ignored like DRF's OrderingFilter does with unknown fields: no hashes leak.
            assert!(!body.to_string().contains("argon2"), "{query}: {body}");
        }
    }
}

on_every_backend!(
    oversized_bodies_are_413_json,
    deep_and_huge_json_are_rejected_cleanly,
    invalid_utf8_and_nul_bytes_are_400,
    sql_and_like_metacharacters_match_literally,
    header_injection_is_not_echoed,
    path_traversal_under_admin_is_404,
    absurd_numbers_are_refused,
    unknown_enum_values_are_400,
);
