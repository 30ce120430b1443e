//! The account and admin API: authentication (tokens, cookie sessions with CSRF, throttle), the
//! permission matrix over every admin route, DRF pagination, search, ordering and filters,
//! transactional stage changes and assignments under concurrency, and the audit log.
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::{Client, TestDb, header, text};
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model, NewRole, NewUser};
use rivo_core::auth::LoginPolicy;
use rivo_core::clients::NewClient;
use rivo_core::{Permission, SenderType, SessionId, Store};
use rivo_server::Config;
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough passphrase";

async fn body_json(resp: poem::test::TestResponse) -> Value {
    let body = text(resp).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn make_user(store: &Store, name: &str, staff: bool, superuser: bool) -> rivo_core::User {
    store
        .create_user(NewUser {
            is_staff: staff,
            is_superuser: superuser,
            first_name: name.to_owned(),
            ..NewUser::new(format!("{name}@example.com"), name).password(PASSWORD)
        })
        .await
        .unwrap()
}

async fn login(c: &Client, email: &str) -> String {
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    body_json(resp).await["token"].as_str().unwrap().to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn get(c: &Client, token: &str, path: &str) -> poem::test::TestResponse {
    c.get(path)
        .header("authorization", bearer(token))
        .send()
        .await
}

async fn send(
    c: &Client,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> poem::test::TestResponse {
    let req = match method {
        "POST" => c.post(path),
        "PATCH" => c.patch(path),
        "PUT" => c.put(path),
        "DELETE" => c.delete(path),
        _ => c.get(path),
    };
    let req = req.header("authorization", bearer(token));
    if method == "GET" || method == "DELETE" {
        req.send().await
    } else {
        req.body_json(&body).send().await
    }
}

// ---------- authentication ----------

async fn login_answers_a_token_and_the_user(db: &TestDb) {
    let c = db.client();
    let user = make_user(&db.store, "ann", true, false).await;
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({"email": "ANN@example.com", "password": PASSWORD}))
        .send()
        .await;
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
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        text(resp).await,
        r#"{"detail":"Incorrect authentication credentials."}"#
    );
}

async fn login_errors_follow_the_contract(db: &TestDb) {
    let c = db.client();
    let user = make_user(&db.store, "bob", true, false).await;
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        text(resp).await,
        r#"{"email":["This field is required."],"password":["This field is required."]}"#
    );
    for (email, password) in [
        ("bob@example.com", "wrong"),
        ("nobody@example.com", PASSWORD),
    ] {
        let resp = c
            .post("/api/v1/account/login/")
            .body_json(&json!({"email": email, "password": password}))
            .send()
            .await;
        assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(text(resp).await, r#"{"error":"Invalid credentials"}"#);
    }
    db.store
        .update_user(
            user.id,
            rivo_core::accounts::UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({"email": "bob@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(text(resp).await, r#"{"error":"Invalid credentials"}"#);
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
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        text(resp).await,
        r#"{"detail":"Authentication credentials were not provided."}"#
    );
}

async fn failed_logins_are_throttled(db: &TestDb) {
    let config = Config {
        login_policy: LoginPolicy {
            max_failures_per_email: 3,
            max_failures_per_address: 100,
            window: Duration::from_secs(300),
        },
        ..Config::default()
    };
    let c = db.client_with(config);
    make_user(&db.store, "cat", true, false).await;
    for _ in 0..3 {
        let resp = c
            .post("/api/v1/account/login/")
            .body_json(&json!({"email": "cat@example.com", "password": "nope"}))
            .send()
            .await;
        assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused now, with a Retry-After.
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({"email": "cat@example.com", "password": PASSWORD}))
        .send()
        .await;
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
    let cookies: Vec<String> = resp
        .0
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
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
    assert_eq!(resp.0.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        text(resp).await,
        r#"{"detail":"CSRF Failed: CSRF token missing or incorrect."}"#
    );
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
    let cookies: Vec<String> = resp
        .0
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 2);
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
}

// ---------- permissions ----------

/// Every admin operation: (operation id, method, path with `{id}` placeholders, permission
/// needed; `None` = superuser only, `Some(None)` = any active staff).
/// (operation id, method, path template, permission needed, body).
type Route = (
    &'static str,
    &'static str,
    &'static str,
    Option<Option<Permission>>,
    Value,
);

fn admin_routes() -> Vec<Route> {
    use Action::*;
    use Model::*;
    let p = |a, m| Some(Some(Permission::new(a, m)));
    vec![
        (
            "admin_index",
            "GET",
            "/api/v1/admin/",
            Some(None),
            json!(null),
        ),
        (
            "admin_users_list",
            "GET",
            "/api/v1/admin/users/",
            p(View, User),
            json!(null),
        ),
        (
            "admin_users_create",
            "POST",
            "/api/v1/admin/users/",
            p(Add, User),
            json!({"email": "new@example.com", "username": "new"}),
        ),
        (
            "admin_users_read",
            "GET",
            "/api/v1/admin/users/{user}/",
            p(View, User),
            json!(null),
        ),
        (
            "admin_users_update",
            "PATCH",
            "/api/v1/admin/users/{user}/",
            p(Change, User),
            json!({"first_name": "X"}),
        ),
        (
            "admin_users_set_password",
            "POST",
            "/api/v1/admin/users/{user}/password/",
            p(Change, User),
            json!({"password": "another good passphrase"}),
        ),
        (
            "admin_users_delete",
            "DELETE",
            "/api/v1/admin/users/{user}/",
            p(Delete, User),
            json!(null),
        ),
        (
            "admin_roles_list",
            "GET",
            "/api/v1/admin/roles/",
            p(View, Role),
            json!(null),
        ),
        (
            "admin_roles_create",
            "POST",
            "/api/v1/admin/roles/",
            p(Add, Role),
            json!({"name": "New role"}),
        ),
        (
            "admin_roles_read",
            "GET",
            "/api/v1/admin/roles/{role}/",
            p(View, Role),
            json!(null),
        ),
        (
            "admin_roles_update",
            "PATCH",
            "/api/v1/admin/roles/{role}/",
            p(Change, Role),
            json!({"description": "d"}),
        ),
        (
            "admin_roles_delete",
            "DELETE",
            "/api/v1/admin/roles/{role}/",
            p(Delete, Role),
            json!(null),
        ),
        (
            "admin_permissions_list",
            "GET",
            "/api/v1/admin/permissions/",
            p(View, Role),
            json!(null),
        ),
        (
            "admin_chat_messages_list",
            "GET",
            "/api/v1/admin/chat/messages/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_messages_read",
            "GET",
            "/api/v1/admin/chat/messages/{message}/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_messages_delete",
            "DELETE",
            "/api/v1/admin/chat/messages/{message}/",
            p(Delete, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_messages_bulk_delete",
            "POST",
            "/api/v1/admin/chat/messages/bulk-delete/",
            p(Delete, ChatHistory),
            json!({"ids": []}),
        ),
        (
            "admin_chat_sessions_list",
            "GET",
            "/api/v1/admin/chat/sessions/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_sessions_read",
            "GET",
            "/api/v1/admin/chat/sessions/{session}/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_sessions_delete",
            "DELETE",
            "/api/v1/admin/chat/sessions/{session}/",
            p(Delete, ChatHistory),
            json!(null),
        ),
        (
            "admin_clients_list",
            "GET",
            "/api/v1/admin/clients/",
            p(View, Client),
            json!(null),
        ),
        (
            "admin_clients_create",
            "POST",
            "/api/v1/admin/clients/",
            p(Add, Client),
            json!({"name": "Lead"}),
        ),
        (
            "admin_clients_read",
            "GET",
            "/api/v1/admin/clients/{client}/",
            p(View, Client),
            json!(null),
        ),
        (
            "admin_clients_update",
            "PATCH",
            "/api/v1/admin/clients/{client}/",
            p(Change, Client),
            json!({"phone": "123"}),
        ),
        (
            "admin_clients_context_read",
            "GET",
            "/api/v1/admin/clients/{client}/context/",
            p(View, Context),
            json!(null),
        ),
        (
            "admin_clients_summary_read",
            "GET",
            "/api/v1/admin/clients/{client}/summary/",
            p(View, Context),
            json!(null),
        ),
        (
            "admin_clients_summary_request",
            "POST",
            "/api/v1/admin/clients/{client}/summary/",
            p(Change, Context),
            json!(null),
        ),
        (
            "admin_clients_context_replace",
            "PUT",
            "/api/v1/admin/clients/{client}/context/",
            p(Change, Context),
            json!({"context_data": {"a": 1}}),
        ),
        (
            "admin_clients_context_merge",
            "PATCH",
            "/api/v1/admin/clients/{client}/context/",
            p(Change, Context),
            json!({"context_data": {"b": 2}}),
        ),
        (
            "admin_clients_set_stage",
            "POST",
            "/api/v1/admin/clients/{client}/stage/",
            p(Change, Client),
            json!({"to_stage": "contacted"}),
        ),
        (
            "admin_clients_assign",
            "POST",
            "/api/v1/admin/clients/{client}/assign/",
            p(Add, ClientAssignment),
            json!({"assigned_to": "{agent}"}),
        ),
        (
            "admin_clients_unassign",
            "POST",
            "/api/v1/admin/clients/{client}/unassign/",
            p(Change, ClientAssignment),
            json!(null),
        ),
        (
            "admin_clients_stage_history",
            "GET",
            "/api/v1/admin/clients/{client}/stage-history/",
            p(View, ClientStageHistory),
            json!(null),
        ),
        (
            "admin_clients_assignments",
            "GET",
            "/api/v1/admin/clients/{client}/assignments/",
            p(View, ClientAssignment),
            json!(null),
        ),
        (
            "admin_clients_delete",
            "DELETE",
            "/api/v1/admin/clients/{client}/",
            p(Delete, Client),
            json!(null),
        ),
        (
            "admin_contexts_list",
            "GET",
            "/api/v1/admin/contexts/",
            p(View, Context),
            json!(null),
        ),
        (
            "admin_stage_history_list",
            "GET",
            "/api/v1/admin/stage-history/",
            p(View, ClientStageHistory),
            json!(null),
        ),
        (
            "admin_assignments_list",
            "GET",
            "/api/v1/admin/assignments/",
            p(View, ClientAssignment),
            json!(null),
        ),
        (
            "admin_log_list",
            "GET",
            "/api/v1/admin/log/",
            None,
            json!(null),
        ),
        // Privacy: exports of a client also need `chat.view_chathistory` (see `also_needed`).
        (
            "admin_clients_export",
            "GET",
            "/api/v1/admin/clients/{client}/export/",
            p(View, Client),
            json!(null),
        ),
        (
            "admin_clients_transcript",
            "GET",
            "/api/v1/admin/clients/{client}/transcript/?format=csv",
            p(View, Client),
            json!(null),
        ),
        (
            "admin_clients_erase",
            "POST",
            "/api/v1/admin/clients/{client}/erase/",
            p(Erase, Client),
            json!(null),
        ),
        (
            "admin_chat_sessions_export",
            "GET",
            "/api/v1/admin/chat/sessions/{session}/export/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_sessions_transcript",
            "GET",
            "/api/v1/admin/chat/sessions/{session}/transcript/",
            p(View, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_sessions_erase",
            "POST",
            "/api/v1/admin/chat/sessions/{session}/erase/",
            p(Erase, ChatHistory),
            json!(null),
        ),
        (
            "admin_chat_personal_data",
            "GET",
            "/api/v1/admin/chat/personal-data/?email=a@example.com",
            p(View, ChatHistory),
            json!(null),
        ),
        // Webhooks: superusers only (an endpoint receives every conversation).
        (
            "admin_webhooks_list",
            "GET",
            "/api/v1/admin/webhooks/",
            None,
            json!(null),
        ),
        (
            "admin_webhooks_create",
            "POST",
            "/api/v1/admin/webhooks/",
            None,
            json!({"url": "https://93.184.216.34/hook", "events": ["client.created"]}),
        ),
        (
            "admin_webhooks_read",
            "GET",
            "/api/v1/admin/webhooks/{webhook}/",
            None,
            json!(null),
        ),
        (
            "admin_webhooks_update",
            "PATCH",
            "/api/v1/admin/webhooks/{webhook}/",
            None,
            json!({"description": "changed"}),
        ),
        (
            "admin_webhooks_deliveries",
            "GET",
            "/api/v1/admin/webhooks/{webhook}/deliveries/",
            None,
            json!(null),
        ),
        (
            "admin_webhooks_resend",
            "POST",
            "/api/v1/admin/webhooks/deliveries/{delivery}/resend/",
            None,
            json!(null),
        ),
        (
            "admin_webhooks_delete",
            "DELETE",
            "/api/v1/admin/webhooks/{webhook}/",
            None,
            json!(null),
        ),
        (
            "admin_events",
            "GET",
            "/api/v1/admin/events/",
            p(View, ChatHistory),
            json!(null),
        ),
    ]
}

/// A second permission some operations need besides the matrix's one.
fn also_needed(op: &str) -> Option<Permission> {
    matches!(op, "admin_clients_export" | "admin_clients_transcript")
        .then(|| Permission::new(Action::View, Model::ChatHistory))
}

#[test]
fn the_matrix_covers_every_admin_operation() {
    let spec: Value = serde_json::from_str(&rivo_server::openapi_json()).unwrap();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if path.starts_with("/api/v1/admin/") {
            for op in item.as_object().unwrap().values() {
                in_spec.insert(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    let tested: BTreeSet<String> = admin_routes().iter().map(|r| r.0.to_owned()).collect();
    assert_eq!(
        in_spec, tested,
        "every admin operation must be in the permission matrix"
    );
}

/// Objects the matrix's paths point at, recreated for each caller (deletes remove them).
async fn fixtures(store: &Store, agent: i64) -> Vec<(&'static str, String)> {
    let suffix = SessionId::new_random().to_string()[..8].to_owned();
    let user = store
        .create_user(NewUser::new(
            format!("target{suffix}@example.com"),
            format!("target{suffix}"),
        ))
        .await
        .unwrap();
    let role = store
        .create_role(NewRole {
            name: format!("Role {suffix}"),
            ..Default::default()
        })
        .await
        .unwrap();
    // One webhook endpoint (reused: at most 100 may exist), subscribed to client.created so
    // the client below has a delivery.
    let webhook = match store.list_webhooks().await.unwrap().pop() {
        Some(w) => w.id,
        None => {
            store
                .create_webhook(rivo_core::webhooks::NewWebhook {
                    url: "https://93.184.216.34/hook".into(),
                    events: vec![rivo_core::events::EventKind::ClientCreated],
                    active: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .webhook
                .id
        }
    };
    let session = SessionId::new_random();
    let message = store
        .append(session, "hello", SenderType::Client)
        .await
        .unwrap();
    store.append(session, "hi!", SenderType::Bot).await.unwrap();
    let client = store
        .create_client(NewClient::new(format!("Client {suffix}")))
        .await
        .unwrap();
    store
        .assign(client.id, rivo_core::UserId(agent), None, "")
        .await
        .unwrap();
    let delivery = store
        .list_webhook_deliveries(webhook, rivo_core::PageRequest::first(1))
        .await
        .unwrap()
        .items[0]
        .id;
    vec![
        ("{webhook}", webhook.to_string()),
        ("{delivery}", delivery.to_string()),
        ("{user}", user.id.to_string()),
        ("{role}", role.id.to_string()),
        ("{message}", message.id.to_string()),
        ("{session}", session.to_string()),
        ("{client}", client.id.to_string()),
        ("{agent}", agent.to_string()),
    ]
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |acc, (k, v)| acc.replace(k, v))
}

async fn every_admin_route_checks_permissions(db: &TestDb) {
    // Event streams end after 1 s here, so their bodies can be read to the end.
    let c = db.client_with(Config {
        event_streams: rivo_server::config::EventStreamLimits {
            max_duration: Duration::from_secs(1),
            ..Default::default()
        },
        ..Config::default()
    });
    let store = &db.store;
    let root = make_user(store, "root", true, true).await;
    let agent = make_user(store, "agent", true, false).await;
    let inactive = make_user(store, "inactive", true, true).await;
    make_user(store, "plain", false, false).await;
    let staff_no_perm = make_user(store, "noperm", true, false).await;
    // Tokens first: the inactive user's token stops working once they are deactivated.
    let root_token = login(&c, "root@example.com").await;
    let inactive_token = login(&c, "inactive@example.com").await;
    let plain_token = login(&c, "plain@example.com").await;
    let noperm_token = login(&c, "noperm@example.com").await;
    store
        .update_user(
            inactive.id,
            rivo_core::accounts::UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let _ = root;

    for (i, (op, method, template, needed, body)) in admin_routes().into_iter().enumerate() {
        let values = fixtures(store, agent.id.0).await;
        let path = fill(template, &values);
        let body: Value = serde_json::from_str(
            &fill(&body.to_string(), &values).replace("\"{agent}\"", &agent.id.to_string()),
        )
        .unwrap();
        let body = match body.get("assigned_to") {
            Some(Value::String(s)) => json!({"assigned_to": s.parse::<i64>().unwrap()}),
            _ => body,
        };
        let body = if op == "admin_users_create" {
            json!({"email": format!("new{i}@example.com"), "username": format!("new{i}")})
        } else if op == "admin_roles_create" {
            json!({"name": format!("New role {i}")})
        } else {
            body
        };

        // Anonymous.
        let req = match method {
            "POST" => c.post(&path),
            "PATCH" => c.patch(&path),
            "PUT" => c.put(&path),
            "DELETE" => c.delete(&path),
            _ => c.get(&path),
        };
        let resp = req.send().await;
        assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED, "{op} anonymous");
        for (who, token, expected) in [
            ("inactive", &inactive_token, StatusCode::UNAUTHORIZED),
            ("non-staff", &plain_token, StatusCode::FORBIDDEN),
        ] {
            let resp = send(&c, token, method, &path, body.clone()).await;
            assert_eq!(resp.0.status(), expected, "{op} {who}");
        }
        let resp = send(&c, &noperm_token, method, &path, body.clone()).await;
        let expected_noperm = if needed == Some(None) {
            None
        } else {
            Some(StatusCode::FORBIDDEN)
        };
        match expected_noperm {
            Some(status) => assert_eq!(resp.0.status(), status, "{op} staff without permission"),
            None => assert!(
                resp.0.status().is_success(),
                "{op} staff: {}",
                resp.0.status()
            ),
        }

        // Staff holding exactly the permission through a role.
        let granted_token = match needed {
            Some(Some(permission)) => {
                let suffix = SessionId::new_random().to_string()[..8].to_owned();
                let role = store
                    .create_role(NewRole {
                        name: format!("Only {op} {suffix}"),
                        permissions: [permission].into_iter().chain(also_needed(op)).collect(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                store
                    .create_user(NewUser {
                        is_staff: true,
                        role_id: Some(role.id),
                        ..NewUser::new(
                            format!("granted{suffix}@example.com"),
                            format!("granted{suffix}"),
                        )
                        .password(PASSWORD)
                    })
                    .await
                    .unwrap();
                Some(login(&c, &format!("granted{suffix}@example.com")).await)
            }
            Some(None) => Some(noperm_token.clone()),
            None => None,
        };
        if let Some(token) = granted_token {
            let resp = send(&c, &token, method, &path, body.clone()).await;
            let status = resp.0.status();
            let text = text(resp).await;
            assert!(
                status.is_success(),
                "{op} staff with permission: {status} {text}"
            );
        }
        // Superuser, on fresh objects.
        let values = fixtures(store, agent.id.0).await;
        let path = fill(template, &values);
        let body = if body.get("assigned_to").is_some() {
            json!({"assigned_to": agent.id.0})
        } else {
            body
        };
        let body = match op {
            "admin_users_create" => {
                json!({"email": format!("root{i}@example.com"), "username": format!("root{i}")})
            }
            "admin_roles_create" => json!({"name": format!("Root role {i}")}),
            _ => body,
        };
        let resp = send(&c, &root_token, method, &path, body).await;
        let status = resp.0.status();
        let text = text(resp).await;
        assert!(status.is_success(), "{op} superuser: {status} {text}");
    }
    let _ = staff_no_perm;
}

/// Issue 15, finding 4, over HTTP: who may create or change a user with which flags.
async fn user_grants_need_superuser_or_change_user(db: &TestDb) {
    let c = db.client();
    let store = &db.store;
    make_user(store, "root", true, true).await;
    let staff_with = |name: &str, perms: &[Permission]| NewUser {
        is_staff: true,
        permissions: perms.iter().copied().collect(),
        ..NewUser::new(format!("{name}@example.com"), name).password(PASSWORD)
    };
    let add = Permission::new(Action::Add, Model::User);
    let change = Permission::new(Action::Change, Model::User);
    store
        .create_user(staff_with("adder", &[add]))
        .await
        .unwrap();
    store
        .create_user(staff_with("changer", &[add, change]))
        .await
        .unwrap();
    let changer = store.user_by_email("changer@example.com").await.unwrap();
    let root = login(&c, "root@example.com").await;
    let adder = login(&c, "adder@example.com").await;
    let changer_token = login(&c, "changer@example.com").await;
    let users = "/api/v1/admin/users/";
    let new = |n: &str, extra: Value| {
        let mut body =
            json!({"email": format!("{n}@example.com"), "username": n, "password": PASSWORD});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // (caller, body, expected status)
    let cases = [
        ("adder", &adder, new("a1", json!({})), StatusCode::CREATED),
        (
            "adder",
            &adder,
            new("a2", json!({"is_superuser": true})),
            StatusCode::FORBIDDEN,
        ),
        (
            "adder",
            &adder,
            new("a3", json!({"is_staff": true})),
            StatusCode::FORBIDDEN,
        ),
        (
            "adder",
            &adder,
            new("a4", json!({"permissions": ["account.add_user"]})),
            StatusCode::FORBIDDEN,
        ),
        (
            "changer",
            &changer_token,
            new(
                "c1",
                json!({"is_staff": true, "permissions": ["account.add_user"]}),
            ),
            StatusCode::CREATED,
        ),
        (
            "changer",
            &changer_token,
            new("c2", json!({"is_superuser": true})),
            StatusCode::FORBIDDEN,
        ),
        (
            "root",
            &root,
            new("r1", json!({"is_superuser": true, "is_staff": true})),
            StatusCode::CREATED,
        ),
    ];
    for (who, token, body, expected) in cases {
        let resp = send(&c, token, "POST", users, body.clone()).await;
        let status = resp.0.status();
        let answer = body_json(resp).await;
        assert_eq!(status, expected, "{who} POST {body}: {answer}");
        if status == StatusCode::FORBIDDEN {
            assert!(answer["detail"].as_str().is_some(), "{answer}");
        }
    }
    // The refused superuser does not exist and cannot log in.
    let resp = c
        .post("/api/v1/account/login/")
        .body_json(&json!({"email": "a2@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
    // No self-promotion with change_user; the superuser may promote.
    let me = format!("{users}{}/", changer.id);
    let promote = json!({"is_superuser": true});
    let resp = send(&c, &changer_token, "PATCH", &me, promote.clone()).await;
    assert_eq!(resp.0.status(), StatusCode::FORBIDDEN);
    assert!(!store.user(changer.id).await.unwrap().is_superuser);
    let resp = send(&c, &root, "PATCH", &me, promote).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert!(store.user(changer.id).await.unwrap().is_superuser);
}

// ---------- lists ----------

async fn lists_paginate_like_drf(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let empty = body_json(get(&c, &token, "/api/v1/admin/clients/").await).await;
    assert_eq!(
        empty,
        json!({"count": 0, "count_is_estimate": false, "next": null, "previous": null, "results": []})
    );
    for i in 0..7 {
        db.store
            .create_client(NewClient::new(format!("Client {i}")))
            .await
            .unwrap();
    }
    let first = body_json(get(&c, &token, "/api/v1/admin/clients/?page_size=3").await).await;
    assert_eq!(first["count"], 7);
    assert_eq!(first["results"].as_array().unwrap().len(), 3);
    assert_eq!(first["results"][0]["name"], "Client 6", "newest first");
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(
        first["next"],
        "http://localhost/api/v1/admin/clients/?page_size=3&page=2"
    );
    let second =
        body_json(get(&c, &token, "/api/v1/admin/clients/?page_size=3&page=2").await).await;
    assert_eq!(
        second["previous"],
        "http://localhost/api/v1/admin/clients/?page_size=3"
    );
    let last = body_json(get(&c, &token, "/api/v1/admin/clients/?page_size=3&page=3").await).await;
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert_eq!(last["next"], Value::Null);
    assert_eq!(
        last["previous"],
        "http://localhost/api/v1/admin/clients/?page_size=3&page=2"
    );
    for bad in ["page=4&page_size=3", "page=0", "page=-1"] {
        let resp = get(&c, &token, &format!("/api/v1/admin/clients/?{bad}")).await;
        assert_eq!(resp.0.status(), StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(text(resp).await, r#"{"detail":"Invalid page."}"#);
    }
    // A page_size below 1 falls back to the default; a huge one is capped; a non-integer is a
    // malformed parameter.
    let all = body_json(get(&c, &token, "/api/v1/admin/clients/?page_size=0").await).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 7);
    let resp = get(&c, &token, "/api/v1/admin/clients/?page_size=abc").await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let resp = get(&c, &token, "/api/v1/admin/clients/?page_size=99999999999").await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let resp = get(&c, &token, "/api/v1/admin/clients/?page=abc").await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.starts_with(r#"{"detail":"#));
    // Without the trailing slash, same answer.
    let resp = get(&c, &token, "/api/v1/admin/clients?page_size=3").await;
    assert_eq!(body_json(resp).await["count"], 7);
}

async fn lists_search_order_and_filter(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    for (name, email) in [
        ("Ada", "ada@x.io"),
        ("Bea", "bea@y.io"),
        ("Cy", "cy@x.io"),
        ("100% Dee", "dee@z.io"),
    ] {
        let client = db
            .store
            .create_client(NewClient {
                email: email.into(),
                ..NewClient::new(name)
            })
            .await
            .unwrap();
        if name == "Bea" {
            db.store
                .set_stage(client.id, rivo_core::Stage::Qualified, None, "")
                .await
                .unwrap();
        }
    }
    let names = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = body_json(
        get(
            &c,
            &token,
            "/api/v1/admin/clients/?search=X.IO&ordering=name",
        )
        .await,
    )
    .await;
    assert_eq!(names(&found), ["Ada", "Cy"]);
    let found = body_json(get(&c, &token, "/api/v1/admin/clients/?ordering=-name").await).await;
    assert_eq!(names(&found), ["Cy", "Bea", "Ada", "100% Dee"]);
    let found = body_json(get(&c, &token, "/api/v1/admin/clients/?search=100%25").await).await;
    assert_eq!(names(&found), ["100% Dee"]);
    let found = body_json(get(&c, &token, "/api/v1/admin/clients/?search=%25").await).await;
    assert_eq!(found["count"], 1, "% is matched literally");
    let found =
        body_json(get(&c, &token, "/api/v1/admin/clients/?current_stage=qualified").await).await;
    assert_eq!(names(&found), ["Bea"]);
    let found = body_json(get(&c, &token, "/api/v1/admin/clients/?ordering=nonsense").await).await;
    assert_eq!(found["count"], 4, "unknown ordering is ignored, like DRF");
    let resp = get(&c, &token, "/api/v1/admin/clients/?current_stage=bogus").await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let today = chrono::Utc::now().date_naive();
    let found = body_json(
        get(
            &c,
            &token,
            &format!("/api/v1/admin/clients/?created_at_after={today}&created_at_before={today}"),
        )
        .await,
    )
    .await;
    assert_eq!(found["count"], 4);
    let resp = get(
        &c,
        &token,
        "/api/v1/admin/clients/?created_at_after=yesterday",
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        text(resp).await,
        r#"{"created_at_after":["Enter a valid date or date/time (YYYY-MM-DD or RFC 3339)."]}"#
    );
    // Users: filters by flags; chat: by sender and session.
    make_user(&db.store, "plainuser", false, false).await;
    let staff = body_json(get(&c, &token, "/api/v1/admin/users/?is_staff=true").await).await;
    assert_eq!(staff["count"], 1);
    let session = SessionId::new_random();
    db.store
        .append(session, "hello", SenderType::Client)
        .await
        .unwrap();
    db.store
        .append(session, "hi", SenderType::Bot)
        .await
        .unwrap();
    let bots = body_json(
        get(
            &c,
            &token,
            &format!(
                "/api/v1/admin/chat/messages/?session_id={}&sender_type=bot",
                session.0.simple()
            ),
        )
        .await,
    )
    .await;
    assert_eq!(bots["count"], 1);
    assert_eq!(bots["results"][0]["message"], "hi");
    let sessions = body_json(get(&c, &token, "/api/v1/admin/chat/sessions/").await).await;
    assert_eq!(sessions["results"][0]["message_count"], 2);
}

// ---------- writes ----------

async fn users_are_managed_without_exposing_passwords(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let resp = send(
        &c,
        &token,
        "POST",
        "/api/v1/admin/users/",
        json!({
            "email": "new@example.com", "username": "newbie", "password": "correct horse battery",
            "is_staff": true, "permissions": ["client.view_client"]
        }),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    let body = text(resp).await;
    assert!(
        !body.contains("correct horse") && !body.contains("argon2") && !body.contains("password"),
        "{body}"
    );
    let user: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(user["permissions"], json!(["client.view_client"]));
    let resp = send(
        &c,
        &token,
        "POST",
        "/api/v1/admin/users/",
        json!({"email": "NEW@example.com", "username": "other"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::CONFLICT);
    assert_eq!(
        text(resp).await,
        r#"{"email":["A user with that email already exists."]}"#
    );
    // Malformed fields are reported together, then the rules of rivo-core, all fields at once.
    let resp = send(&c, &token, "POST", "/api/v1/admin/users/", json!({
        "email": "bad", "username": "bad name", "is_staff": "maybe", "permissions": ["chat.fly_chathistory"], "role": "x"
    }))
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(resp).await;
    for field in ["is_staff", "permissions", "role"] {
        assert!(errors.get(field).is_some(), "{field} missing in {errors}");
    }
    let resp = send(
        &c,
        &token,
        "POST",
        "/api/v1/admin/users/",
        json!({"email": "bad", "username": "bad name", "password": "123"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(resp).await;
    for field in ["email", "username", "password"] {
        assert!(errors.get(field).is_some(), "{field} missing in {errors}");
    }
    let id = user["id"].as_i64().unwrap();
    let resp = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/users/{id}/password/"),
        json!({"password": "short"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("too short"));
    let resp = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/users/{id}/password/"),
        json!({"password": "a long enough passphrase"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
    login(&c, "new@example.com").await;
    let resp = send(
        &c,
        &token,
        "PATCH",
        &format!("/api/v1/admin/users/{id}"),
        json!({"role": null, "last_name": "Smith"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert_eq!(body_json(resp).await["last_name"], "Smith");
    let resp = send(
        &c,
        &token,
        "GET",
        "/api/v1/admin/users/999999/",
        json!(null),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(resp).await, r#"{"detail":"Not found."}"#);
}

async fn stage_changes_and_assignments_are_transactional(db: &TestDb) {
    let c = db.client();
    let root = make_user(&db.store, "root", true, true).await;
    let agent = make_user(&db.store, "agent", true, false).await;
    let token = login(&c, "root@example.com").await;
    let resp = send(&c, &token, "POST", "/api/v1/admin/clients/", json!({
        "name": "Lead", "chat_session_id": "{1B4E28BA-2FA1-11D2-883F-0016D3CCA427}", "context_data": {"amount": 5}
    }))
    .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    let id = body_json(resp).await["id"].as_i64().unwrap();
    let context =
        body_json(get(&c, &token, &format!("/api/v1/admin/clients/{id}/context/")).await).await;
    assert_eq!(
        context["chat_session_id"],
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    );
    assert_eq!(context["context_data"], json!({"amount": 5}));
    let merged = body_json(
        send(
            &c,
            &token,
            "PATCH",
            &format!("/api/v1/admin/clients/{id}/context/"),
            json!({"context_data": {"city": "Oslo"}, "remove": ["amount"]}),
        )
        .await,
    )
    .await;
    assert_eq!(merged["context_data"], json!({"city": "Oslo"}));
    let resp = send(
        &c,
        &token,
        "PUT",
        &format!("/api/v1/admin/clients/{id}/context/"),
        json!({"context_data": [1]}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        text(resp).await,
        r#"{"context_data":["Expected a JSON object."]}"#
    );

    let moved = body_json(
        send(
            &c,
            &token,
            "POST",
            &format!("/api/v1/admin/clients/{id}/stage/"),
            json!({"to_stage": "contacted", "remarks": "called"}),
        )
        .await,
    )
    .await;
    assert_eq!(moved["changed"], true);
    assert_eq!(moved["client"]["current_stage"], "contacted");
    assert_eq!(moved["history"]["from_stage"], "lead");
    assert_eq!(moved["history"]["changed_by"], root.id.0);
    let again = body_json(
        send(
            &c,
            &token,
            "POST",
            &format!("/api/v1/admin/clients/{id}/stage/"),
            json!({"to_stage": "contacted"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (again["changed"].clone(), again["history"].clone()),
        (json!(false), Value::Null)
    );
    let resp = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{id}/stage/"),
        json!({"to_stage": "promoted"}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        text(resp).await,
        r#"{"to_stage":["\"promoted\" is not a valid choice."]}"#
    );

    // Concurrent stage changes over HTTP: the history still replays to the current stage.
    let stages = [
        "qualified",
        "docs_pending",
        "lost",
        "active",
        "closed",
        "contacted",
    ];
    let mut tasks = Vec::new();
    for i in 0..12 {
        let c = db.client();
        let token = token.clone();
        let stage = stages[i % stages.len()];
        tasks.push(tokio::spawn(async move {
            send(
                &c,
                &token,
                "POST",
                &format!("/api/v1/admin/clients/{id}/stage/"),
                json!({"to_stage": stage}),
            )
            .await
            .0
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let history = body_json(
        get(
            &c,
            &token,
            &format!("/api/v1/admin/clients/{id}/stage-history/?ordering=id&page_size=100"),
        )
        .await,
    )
    .await;
    let mut current = Value::Null;
    for entry in history["results"].as_array().unwrap() {
        assert_eq!(entry["from_stage"], current);
        current = entry["to_stage"].clone();
    }
    let client = body_json(get(&c, &token, &format!("/api/v1/admin/clients/{id}/")).await).await;
    assert_eq!(client["current_stage"], current);

    // Concurrent assigns: exactly one active assignment.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = db.client();
        let token = token.clone();
        let to = if i % 2 == 0 { agent.id.0 } else { root.id.0 };
        tasks.push(tokio::spawn(async move {
            send(
                &c,
                &token,
                "POST",
                &format!("/api/v1/admin/clients/{id}/assign/"),
                json!({"assigned_to": to}),
            )
            .await
            .0
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let active = body_json(
        get(
            &c,
            &token,
            &format!("/api/v1/admin/assignments/?client={id}&is_active=true"),
        )
        .await,
    )
    .await;
    assert_eq!(active["count"], 1);
    let all = body_json(
        get(
            &c,
            &token,
            &format!("/api/v1/admin/clients/{id}/assignments/"),
        )
        .await,
    )
    .await;
    assert_eq!(all["count"], 16);
    let resp = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{id}/assign/"),
        json!({"assigned_to": 999999}),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        text(resp).await,
        r#"{"assigned_to":["Invalid pk \"999999\" - object does not exist."]}"#
    );
    let ended = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{id}/unassign/"),
        json!(null),
    )
    .await;
    assert_eq!(ended.0.status(), StatusCode::OK);
    assert_eq!(body_json(ended).await["is_active"], false);
    let none = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{id}/unassign/"),
        json!(null),
    )
    .await;
    assert_eq!(none.0.status(), StatusCode::NOT_FOUND);
}

async fn admin_writes_are_in_the_audit_log(db: &TestDb) {
    let c = db.client();
    let root = make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let created = body_json(send(&c, &token, "POST", "/api/v1/admin/users/", json!({
        "email": "logged@example.com", "username": "logged", "password": "secret passphrase here"
    })).await).await;
    let id = created["id"].as_i64().unwrap();
    send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/users/{id}/password/"),
        json!({"password": "other passphrase here"}),
    )
    .await;
    let client = body_json(
        send(
            &c,
            &token,
            "POST",
            "/api/v1/admin/clients/",
            json!({"name": "Audited"}),
        )
        .await,
    )
    .await;
    send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{}/stage/", client["id"]),
        json!({"to_stage": "lost"}),
    )
    .await;
    let log = body_json(get(&c, &token, "/api/v1/admin/log/?ordering=id").await).await;
    let summary: Vec<(String, String)> = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("create", "user"),
        ("update", "user"),
        ("create", "client"),
        ("create", "clientstagehistory"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    assert_eq!(summary, expected);
    assert!(
        log["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == root.id.0 && e["actor_repr"] == "root@example.com")
    );
    let text_log = log.to_string();
    assert!(!text_log.contains("passphrase"), "{text_log}");
    let filtered = body_json(
        get(
            &c,
            &token,
            &format!("/api/v1/admin/log/?object_type=user&object_id={id}"),
        )
        .await,
    )
    .await;
    assert_eq!(filtered["count"], 2);
    // Staff who are not superusers do not see the log; the index lists what they may see.
    let staff = make_user(&db.store, "staffer", true, false).await;
    let role = db
        .store
        .create_role(NewRole {
            name: "Viewers".into(),
            permissions: BTreeSet::from([Permission::new(Action::View, Model::Client)]),
            ..Default::default()
        })
        .await
        .unwrap();
    db.store
        .update_user(
            staff.id,
            rivo_core::accounts::UserUpdate {
                role_id: Some(Some(role.id)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let staff_token = login(&c, "staffer@example.com").await;
    assert_eq!(
        get(&c, &staff_token, "/api/v1/admin/log/").await.0.status(),
        StatusCode::FORBIDDEN
    );
    let index = body_json(get(&c, &staff_token, "/api/v1/admin/").await).await;
    let sections: HashSet<&str> = index["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sections, HashSet::from(["clients"]));
    assert_eq!(index["sections"][0]["count"], 1);
    assert_eq!(
        index["sections"][0]["permissions"],
        json!({"view": true, "add": false, "change": false, "delete": false})
    );
    let root_index = body_json(get(&c, &token, "/api/v1/admin/").await).await;
    assert_eq!(root_index["sections"].as_array().unwrap().len(), 9);
}

on_every_backend!(
    login_answers_a_token_and_the_user,
    login_errors_follow_the_contract,
    failed_logins_are_throttled,
    cookie_sessions_need_csrf_on_unsafe_methods,
    session_cookies_are_secure_outside_debug,
    every_admin_route_checks_permissions,
    user_grants_need_superuser_or_change_user,
    lists_paginate_like_drf,
    lists_search_order_and_filter,
    users_are_managed_without_exposing_passwords,
    stage_changes_and_assignments_are_transactional,
    admin_writes_are_in_the_audit_log,
);
