//! The admin's rules are rivo-core's (issue 14, Build item 1): an app embedding rivo-core and
//! calling `Store::authorize` gets the same answers as the HTTP admin, and a context change made
//! over HTTP is one atomic core call. Runs on SQLite, and on PostgreSQL when
//! `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Client, TestDb, text};
use poem::http::StatusCode;
use rivo_core::access::{Access, PERMISSION_DENIED};
use rivo_core::accounts::{Action, Model, NewUser};
use rivo_core::auth::TokenKind;
use rivo_core::clients::{ContextChange, NewClient};
use rivo_core::{Permission, Store, User};
use serde_json::{Value, json};

on_every_backend!(
    the_http_admin_answers_as_the_core_gate,
    a_context_patch_whose_second_change_fails_changes_nothing,
    a_context_put_replaces_and_links_in_one_change,
);

async fn body_json(resp: poem::test::TestResponse) -> Value {
    let body = text(resp).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn request(
    c: &Client,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> poem::test::TestResponse {
    let req = match method {
        "DELETE" => c.delete(path),
        "PATCH" => c.patch(path),
        "PUT" => c.put(path),
        _ => c.get(path),
    };
    let req = req.header("authorization", format!("Bearer {token}"));
    match body {
        Some(body) => req.body_json(&body).send().await,
        None => req.send().await,
    }
}

/// A user and an API token issued for them (issued directly, so that inactive users have one
/// too: the server must refuse it).
async fn user_with_token(
    store: &Store,
    name: &str,
    active: bool,
    staff: bool,
    superuser: bool,
    permissions: &[Permission],
) -> (User, String) {
    let user = store
        .create_user(NewUser {
            is_active: active,
            is_staff: staff,
            is_superuser: superuser,
            permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
            ..NewUser::new(format!("{name}@example.com"), name)
        })
        .await
        .unwrap();
    let token = store
        .issue_token(user.id, TokenKind::Api, Duration::from_secs(3600))
        .await
        .unwrap()
        .token;
    (user, token)
}

async fn the_http_admin_answers_as_the_core_gate(db: &TestDb) {
    let store = &db.store;
    let c = db.client();
    let view = Permission::new(Action::View, Model::Client);
    let delete = Permission::new(Action::Delete, Model::Client);
    let users = [
        user_with_token(store, "inactive_staff", false, true, false, &[view, delete]).await,
        user_with_token(
            store,
            "active_non_staff",
            true,
            false,
            false,
            &[view, delete],
        )
        .await,
        user_with_token(store, "staff_without_perm", true, true, false, &[]).await,
        user_with_token(store, "staff_with_perm", true, true, false, &[view]).await,
        user_with_token(store, "superuser", true, true, true, &[]).await,
    ];
    // Each access with a route that needs exactly it. Allowed requests answer 200, or 404 for
    // the delete of a client that does not exist (the gate comes first).
    let routes = [
        (Access::AdminIndex, "GET", "/api/v1/admin/"),
        (Access::Admin(view), "GET", "/api/v1/admin/clients/"),
        (
            Access::Admin(delete),
            "DELETE",
            "/api/v1/admin/clients/999999/",
        ),
        (Access::AuditLog, "GET", "/api/v1/admin/log/"),
        (Access::Superuser, "GET", "/api/v1/admin/webhooks/"),
        (Access::Member(view), "GET", "/api/v1/clients/"),
    ];
    let mut allowed_somewhere = 0;
    let mut refused_somewhere = 0;
    for (user, token) in &users {
        for (access, method, path) in routes {
            let allowed = store.may(user, access).await.unwrap();
            let gate = store.authorize(user, access).await;
            assert_eq!(gate.is_ok(), allowed, "{} {access:?}", user.username);
            let resp = request(&c, token, method, path, None).await;
            let status = resp.0.status();
            let what = format!("{} {method} {path} ({access:?})", user.username);
            if !user.is_active {
                // The credentials of an inactive user are refused before any gate: 401. The
                // core gate refuses them too.
                assert!(!allowed, "{what}");
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
            } else if allowed {
                allowed_somewhere += 1;
                assert!(
                    status == StatusCode::OK
                        || (method == "DELETE" && status == StatusCode::NOT_FOUND),
                    "{what}: {status}"
                );
            } else {
                refused_somewhere += 1;
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(
                    body_json(resp).await,
                    json!({"detail": PERMISSION_DENIED}),
                    "{what}"
                );
            }
        }
        // The admin index lists the audit log exactly for those the core lets read it.
        if user.is_active && store.may(user, Access::AdminIndex).await.unwrap() {
            let index = body_json(request(&c, token, "GET", "/api/v1/admin/", None).await).await;
            let has_log = index["sections"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "log");
            assert_eq!(
                has_log,
                store.may(user, Access::AuditLog).await.unwrap(),
                "{}",
                user.username
            );
        }
    }
    assert!(allowed_somewhere >= 10 && refused_somewhere >= 10);
}

async fn a_context_patch_whose_second_change_fails_changes_nothing(db: &TestDb) {
    let store = &db.store;
    let c = db.client();
    let perms = [
        Permission::new(Action::View, Model::Context),
        Permission::new(Action::Change, Model::Context),
    ];
    let (_, token) = user_with_token(store, "editor", true, true, false, &perms).await;
    let client = store.create_client(NewClient::new("Ada")).await.unwrap();
    let session = rivo_core::SessionId::new_random();
    let before = store
        .change_context(
            client.id,
            &[
                ContextChange::Replace(
                    json!({"amount": 100, "city": "Oslo"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                ),
                ContextChange::ChatSession(Some(session)),
            ],
        )
        .await
        .unwrap();
    let path = format!("/api/v1/admin/clients/{}/context/", client.id);
    // Merge (allowed), remove `city` (allowed), then remove a blank key (refused).
    let resp = request(
        &c,
        &token,
        "PATCH",
        &path,
        Some(context_patch(&["city", ""])),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(resp).await,
        json!({"key": ["This field may not be blank."]})
    );
    let after = store.context(client.id).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.chat_session_id, Some(session));
    // Over HTTP too.
    let shown = body_json(request(&c, &token, "GET", &path, None).await).await;
    assert_eq!(
        shown["context_data"],
        json!({"amount": 100, "city": "Oslo"})
    );
    // The same PATCH without the bad key applies every change at once.
    let resp = request(&c, &token, "PATCH", &path, Some(context_patch(&["city"]))).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let changed = body_json(resp).await;
    assert_eq!(changed["context_data"], json!({"amount": 200, "new": true}));
    assert_eq!(changed["chat_session_id"], Value::Null);
}

/// A context PATCH that merges `amount` and `new`, unlinks the session and removes `keys`.
fn context_patch(keys: &[&str]) -> Value {
    json!({
        "context_data": {"amount": 200, "new": true},
        "remove": keys,
        "chat_session_id": null,
    })
}

async fn a_context_put_replaces_and_links_in_one_change(db: &TestDb) {
    let store = &db.store;
    let c = db.client();
    let perms = [Permission::new(Action::Change, Model::Context)];
    let (_, token) = user_with_token(store, "editor", true, true, false, &perms).await;
    let client = store.create_client(NewClient::new("Bo")).await.unwrap();
    let session = rivo_core::SessionId::new_random();
    let path = format!("/api/v1/admin/clients/{}/context/", client.id);
    let resp = request(
        &c,
        &token,
        "PUT",
        &path,
        Some(json!({"context_data": {"k": 1}, "chat_session_id": session.to_string()})),
    )
    .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let context = store.context(client.id).await.unwrap();
    assert_eq!(context.chat_session_id, Some(session));
    assert_eq!(serde_json::Value::Object(context.data), json!({"k": 1}));
    // One audit entry for the replace and the link together.
    let log = store
        .list_audit(
            &rivo_core::audit::AuditFilter {
                object_type: Some("context".into()),
                ..Default::default()
            },
            rivo_core::Sort::asc(rivo_core::audit::AuditSort::Id),
            rivo_core::PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(
        log.items[0].changes,
        json!({"changes": [{"replace": {"k": 1}}, {"chat_session_id": session}]})
    );
}
