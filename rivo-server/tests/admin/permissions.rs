//! The permission matrix over every admin route, and who may grant what to users.

use std::collections::BTreeSet;
use std::time::Duration;

use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model, NewRole, NewUser};
use rivo_core::clients::NewClient;
use rivo_core::{Permission, SenderType, SessionId, Store};
use rivo_server::Config;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, TestDb, append, body_json, deactivate, login, make_user, send, text, try_login,
};
use crate::on_every_backend;

on_every_backend!(
    every_admin_route_checks_permissions,
    user_grants_need_superuser_or_change_user,
);

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
    let message = append(store, session, "hello", SenderType::Client).await;
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
    deactivate(store, inactive.id).await;
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
    let resp = try_login(&c, "a2@example.com", PASSWORD).await;
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
