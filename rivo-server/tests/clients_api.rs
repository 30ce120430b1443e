//! The later original's client API at `/api/v1/clients/` (its shapes, and what it lacked: a
//! permission on every route, 400s with field errors, one transaction per PUT, "my clients",
//! bounded pages), the login's `user {id, email, name}`, and the admin's AI summary routes
//! against a fake OpenAI-protocol server on loopback — with a visitor's chat POSTs answered
//! while the provider hangs. Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is
//! set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

#[path = "../../rivo-core/src/store/tests/fake_openai.rs"]
mod fake_openai;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Client, TestDb, append, each};
use fake_openai::{FakeOpenAi, Reply};
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model, NewUser};
use rivo_core::clients::NewClient;
use rivo_core::{ClientId, Permission, SessionId, Stage};
use rivo_server::{Config, spawn_summary_worker};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough passphrase";

on_every_backend!(
    login_answers_the_user,
    shapes_follow_the_later_original,
    every_route_checks_its_permission,
    bad_input_is_a_400_with_field_errors,
    put_is_atomic_and_assigns_by_id,
    my_clients_and_bounded_pages,
    admin_summary_routes_show_status_and_errors,
    chat_posts_are_not_delayed_by_a_hanging_provider,
    a_lead_completed_in_the_chat_is_answered_while_its_summary_hangs,
);

async fn send(
    c: &Client,
    method: &str,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    common::send_json(c, method, token.map(|t| format!("Token {t}")), path, body).await
}

fn perms(list: &[(Action, Model)]) -> BTreeSet<Permission> {
    list.iter().map(|(a, m)| Permission::new(*a, *m)).collect()
}

/// A user (not staff unless `staff`) with `permissions`, logged in: (id, token).
async fn user(
    db: &TestDb,
    c: &Client,
    name: &str,
    permissions: &[(Action, Model)],
    staff: bool,
) -> (i64, String) {
    let u = db
        .store
        .create_user(NewUser {
            is_staff: staff,
            first_name: name.to_uppercase(),
            last_name: "Smith".into(),
            permissions: perms(permissions),
            ..NewUser::new(format!("{name}@example.com"), name).password(PASSWORD)
        })
        .await
        .unwrap();
    let (status, body) = send(
        c,
        "POST",
        None,
        "/api/v1/account/login/",
        Some(json!({"email": format!("{name}@example.com"), "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (u.id.0, body["token"].as_str().unwrap().to_owned())
}

const CSM: &[(Action, Model)] = &[
    (Action::View, Model::Client),
    (Action::Add, Model::Client),
    (Action::Change, Model::Client),
    (Action::Add, Model::ClientAssignment),
];

const ALL: &[(Action, Model)] = &[
    (Action::View, Model::Client),
    (Action::Add, Model::Client),
    (Action::Change, Model::Client),
    (Action::Delete, Model::Client),
    (Action::Add, Model::ClientAssignment),
    (Action::Change, Model::ClientAssignment),
    (Action::View, Model::Context),
    (Action::Change, Model::Context),
];

async fn login_answers_the_user(db: &TestDb) {
    let c = db.client();
    db.store
        .create_user(NewUser {
            first_name: "Cee".into(),
            last_name: "Sm".into(),
            ..NewUser::new("csm@example.com", "csm").password(PASSWORD)
        })
        .await
        .unwrap();
    let nameless = db
        .store
        .create_user(NewUser::new("anon@example.com", "anon").password(PASSWORD))
        .await
        .unwrap();
    let (status, body) = send(
        &c,
        "POST",
        None,
        "/api/v1/account/login/",
        Some(json!({"email": "csm@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let user = body["user"].as_object().unwrap();
    assert_eq!(user.keys().collect::<Vec<_>>(), ["email", "id", "name"]);
    assert_eq!(body["user"]["email"], json!("csm@example.com"));
    assert_eq!(body["user"]["name"], json!("Cee Sm"));
    assert!(body["user"]["id"].is_i64());
    let (_, body) = send(
        &c,
        "POST",
        None,
        "/api/v1/account/login/",
        Some(json!({"email": "anon@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(body["user"]["id"], json!(nameless.id.0));
    assert_eq!(
        body["user"]["name"],
        json!("anon@example.com"),
        "the email when nameless"
    );
}

async fn shapes_follow_the_later_original(db: &TestDb) {
    let c = db.client();
    let (csm_id, token) = user(db, &c, "cee", CSM, false).await;
    let t = Some(token.as_str());
    // Create: {"id"}, first history row written by the caller.
    let (status, body) = send(
        &c,
        "POST",
        t,
        "/api/v1/clients/",
        Some(json!({"name": "Ada", "email": "ada@example.com", "phone": "555"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body, json!({ "id": id }));
    // List: {"clients": [...], "stages": {...}} (+ paging keys).
    let (status, body) = send(&c, "GET", t, "/api/v1/clients/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["clients"],
        json!([{"id": id, "name": "Ada", "email": "ada@example.com", "phone": "555",
                "stage": "lead", "assigned_to": null, "context": {}}])
    );
    assert_eq!(body["stages"]["lead"], json!("Lead"));
    assert_eq!(body["stages"]["docs_pending"], json!("Docs Pending"));
    assert_eq!(body["stages"].as_object().unwrap().len(), 14);
    assert_eq!(body["has_more"], json!(false));
    assert_eq!(body["limit"], json!(100));
    // PUT: fields, stage and assign_to; {"message": "Updated"}.
    let (status, body) = send(
        &c,
        "PUT",
        t,
        &format!("/api/v1/clients/{id}/"),
        Some(json!({"phone": "556", "stage": "contacted", "assign_to": csm_id})),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"message": "Updated"}))
    );
    // Read: {"client", "history", "stages"}; history newest first, `+00:00` times.
    let (status, body) = send(&c, "GET", t, &format!("/api/v1/clients/{id}/"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["client"]["stage"], json!("contacted"));
    assert_eq!(body["client"]["phone"], json!("556"));
    assert_eq!(body["client"]["assigned_to"], json!("cee@example.com"));
    assert_eq!(body["client"]["context"], json!({}));
    let history = body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["from"], json!("lead"));
    assert_eq!(history[0]["to"], json!("contacted"));
    assert_eq!(history[0]["by"], json!("cee@example.com"));
    assert_eq!(history[1]["from"], Value::Null);
    assert_eq!(history[1]["to"], json!("lead"));
    for h in history {
        let at = h["at"].as_str().unwrap();
        assert!(at.ends_with("+00:00"), "{at}");
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert_eq!(h.as_object().unwrap().len(), 4);
    }
    assert_eq!(body["stages"].as_object().unwrap().len(), 14);
    // The list shows the assignee's email.
    let (_, body) = send(&c, "GET", t, "/api/v1/clients/", None).await;
    assert_eq!(body["clients"][0]["assigned_to"], json!("cee@example.com"));
    // Unknown: the original's 404 body.
    for method in ["GET", "PUT"] {
        let body = (method == "PUT").then(|| json!({"name": "X"}));
        let (status, answer) = send(&c, method, t, "/api/v1/clients/999999/", body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(answer, json!({"error": "Not found"}), "{method}");
    }
    // The CSM role has no delete permission.
    let (status, _) = send(&c, "DELETE", t, &format!("/api/v1/clients/{id}/"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without credentials: 401.
    let (status, body) = send(&c, "GET", None, "/api/v1/clients/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );
}

async fn every_route_checks_its_permission(db: &TestDb) {
    let c = db.client();
    let (_, none) = user(db, &c, "nobody", &[], true).await;
    let (_, viewer) = user(db, &c, "viewer", &[(Action::View, Model::Client)], false).await;
    let (_, adder) = user(db, &c, "adder", &[(Action::Add, Model::Client)], false).await;
    let (_, changer) = user(db, &c, "changer", &[(Action::Change, Model::Client)], false).await;
    let (_, deleter) = user(db, &c, "deleter", &[(Action::Delete, Model::Client)], false).await;
    let (assignee, assigner) = user(
        db,
        &c,
        "assigner",
        &[
            (Action::View, Model::Client),
            (Action::Add, Model::ClientAssignment),
        ],
        false,
    )
    .await;
    let (_, reassigner) = user(
        db,
        &c,
        "reassigner",
        &[(Action::Change, Model::ClientAssignment)],
        false,
    )
    .await;
    let client = db.store.create_client(NewClient::new("Dot")).await.unwrap();
    let one = format!("/api/v1/clients/{}/", client.id.0);
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    // (who, token, method, path, body, allowed)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Option<Value>, bool);
    let cases: Vec<Case> = vec![
        ("none", &none, "GET", "/api/v1/clients/", None, false),
        ("viewer", &viewer, "GET", "/api/v1/clients/", None, true),
        ("none", &none, "GET", &one, None, false),
        ("viewer", &viewer, "GET", &one, None, true),
        (
            "viewer",
            &viewer,
            "POST",
            "/api/v1/clients/",
            Some(json!({"name": "A"})),
            false,
        ),
        (
            "adder",
            &adder,
            "POST",
            "/api/v1/clients/",
            Some(json!({"name": "A"})),
            true,
        ),
        (
            "viewer",
            &viewer,
            "PUT",
            &one,
            Some(json!({"name": "B"})),
            false,
        ),
        (
            "assigner",
            &assigner,
            "PUT",
            &one,
            Some(json!({"stage": "contacted"})),
            false,
        ),
        (
            "changer",
            &changer,
            "PUT",
            &one,
            Some(json!({"name": "B"})),
            true,
        ),
        (
            "changer",
            &changer,
            "PUT",
            &one,
            Some(json!({"stage": "contacted"})),
            true,
        ),
        (
            "changer",
            &changer,
            "PUT",
            &one,
            Some(json!({"assign_to": assignee})),
            false,
        ),
        (
            "assigner",
            &assigner,
            "PUT",
            &one,
            Some(json!({"assign_to": assignee})),
            true,
        ),
        (
            "reassigner",
            &reassigner,
            "PUT",
            &one,
            Some(json!({"assign_to": assignee})),
            true,
        ),
        (
            "assigner",
            &assigner,
            "PUT",
            &one,
            Some(json!({"assign_to": null})),
            false,
        ),
        (
            "reassigner",
            &reassigner,
            "PUT",
            &one,
            Some(json!({"assign_to": null})),
            true,
        ),
        ("viewer", &viewer, "DELETE", &one, None, false),
        ("changer", &changer, "DELETE", &one, None, false),
        ("deleter", &deleter, "DELETE", &one, None, true),
    ];
    for (who, token, method, path, body, allowed) in cases {
        let (status, answer) = send(&c, method, Some(token), path, body.clone()).await;
        if allowed {
            assert!(
                status.is_success(),
                "{who} {method} {path} {body:?}: {status} {answer}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who} {method} {path} {body:?}: {answer}"
            );
            assert_eq!(answer, forbidden);
        }
    }
    // The last case deleted the client.
    assert!(db.store.client(client.id).await.is_err());
}

async fn bad_input_is_a_400_with_field_errors(db: &TestDb) {
    let c = db.client();
    let (_, token) = user(db, &c, "cee", ALL, false).await;
    let t = Some(token.as_str());
    let client = db.store.create_client(NewClient::new("Dot")).await.unwrap();
    let one = format!("/api/v1/clients/{}/", client.id.0);
    // An id that is no 64-bit integer is a documented 400 on every route, never a 500.
    for method in ["GET", "PUT", "DELETE"] {
        let body = (method == "PUT").then(|| json!({"name": "X"}));
        let (status, answer) =
            send(&c, method, t, "/api/v1/clients/9223372036854775808/", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}: {answer}");
    }
    let cases: Vec<(&str, &str, Value, &[&str])> = vec![
        ("POST", "/api/v1/clients/", json!({}), &["name"]),
        ("POST", "/api/v1/clients/", json!({"name": null}), &["name"]),
        (
            "POST",
            "/api/v1/clients/",
            json!({"name": "A", "stage": "nonsense"}),
            &["stage"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!({"name": "A", "stage": "x".repeat(60)}),
            &["stage"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!({"name": "A", "email": "not an email"}),
            &["email"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!({"name": "A", "phone": "1".repeat(21)}),
            &["phone"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!({"name": "n".repeat(256)}),
            &["name"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!([1, 2]),
            &["non_field_errors"],
        ),
        (
            "POST",
            "/api/v1/clients/",
            json!("text"),
            &["non_field_errors"],
        ),
        ("PUT", &one, json!({"name": null}), &["name"]),
        ("PUT", &one, json!({"assign_to": "abc"}), &["assign_to"]),
        ("PUT", &one, json!({"assign_to": 999_999}), &["assign_to"]),
        ("PUT", &one, json!({"stage": "nonsense"}), &["stage"]),
        (
            "PUT",
            &one,
            json!({"email": "not an email", "phone": "1".repeat(21)}),
            &["email", "phone"],
        ),
        ("PUT", &one, json!([]), &["non_field_errors"]),
    ];
    for (method, path, body, fields) in cases {
        let (status, answer) = send(&c, method, t, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body}: {answer}");
        let keys: Vec<&str> = answer
            .as_object()
            .unwrap_or_else(|| panic!("{answer}"))
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, fields, "{method} {body}: {answer}");
        for messages in answer.as_object().unwrap().values() {
            assert!(messages[0].is_string(), "{answer}");
        }
    }
    let (status, body) = send(&c, "GET", t, "/api/v1/clients/?stage=nonsense", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["stage"].is_array());
    let (status, body) = send(&c, "GET", t, "/api/v1/clients/?assigned_to=someone", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = send(&c, "GET", t, "/api/v1/clients/?page=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing was written by any of them.
    assert_eq!(db.store.client(client.id).await.unwrap(), client);
    let (_, list) = send(&c, "GET", t, "/api/v1/clients/", None).await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
}

async fn put_is_atomic_and_assigns_by_id(db: &TestDb) {
    let c = db.client();
    let (_, token) = user(db, &c, "cee", ALL, false).await;
    let t = Some(token.as_str());
    let plain = db
        .store
        .create_user(NewUser::new("plain@example.com", "plain"))
        .await
        .unwrap();
    let (agent, _) = user(db, &c, "agent", &[(Action::View, Model::Client)], false).await;
    let client = db.store.create_client(NewClient::new("Dot")).await.unwrap();
    let one = format!("/api/v1/clients/{}/", client.id.0);
    // Valid fields and stage with an assignee who may not work clients: nothing changes.
    let (status, body) = send(
        &c,
        "PUT",
        t,
        &one,
        Some(json!({"name": "Dorothy", "stage": "qualified", "assign_to": plain.id.0})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["assign_to"].is_array());
    let after = db.store.client(client.id).await.unwrap();
    assert_eq!(after.name, "Dot");
    assert_eq!(after.current_stage, Stage::Lead);
    // All together.
    let (status, _) = send(
        &c,
        "PUT",
        t,
        &one,
        Some(
            json!({"name": "Dorothy", "stage": "qualified", "assign_to": agent.to_string(),
                    "remarks": "first call"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let after = db.store.client(client.id).await.unwrap();
    assert_eq!(after.name, "Dorothy");
    assert_eq!(after.current_stage, Stage::Qualified);
    let a = db
        .store
        .active_assignment(client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.remarks, "first call");
    // Unassign with null.
    let (status, _) = send(&c, "PUT", t, &one, Some(json!({"assign_to": null}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(db.store.active_assignment(client.id).await.unwrap(), None);
    // DELETE: 204 with an empty body; the chat messages stay.
    let (status, body) = send(&c, "DELETE", t, &one, None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = send(&c, "DELETE", t, &one, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "Not found"}))
    );
}

async fn my_clients_and_bounded_pages(db: &TestDb) {
    let c = db.client();
    let (me, token) = user(db, &c, "cee", CSM, false).await;
    let (other, _) = user(db, &c, "dee", CSM, false).await;
    let t = Some(token.as_str());
    let mut ids = Vec::new();
    for i in 0..7 {
        let client = db
            .store
            .create_client(NewClient::new(format!("C{i}")))
            .await
            .unwrap();
        let to = if i % 2 == 0 { me } else { other };
        db.store
            .assign(client.id, rivo_core::UserId(to), None, "")
            .await
            .unwrap();
        ids.push(client.id.0);
    }
    let (_, body) = send(&c, "GET", t, "/api/v1/clients/?assigned_to=me", None).await;
    let mine: Vec<i64> = each(&body["clients"], "id");
    assert_eq!(mine, [ids[6], ids[4], ids[2], ids[0]]);
    assert!(
        body["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["assigned_to"] == json!("cee@example.com"))
    );
    // Pages of 3: 3 + 3 + 1.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, body) = send(
            &c,
            "GET",
            t,
            &format!("/api/v1/clients/?limit=3&page={page}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["has_more"], json!(page < 3));
        assert_eq!(body["page"], json!(page));
        seen.extend(
            body["clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap()),
        );
    }
    ids.reverse();
    assert_eq!(seen, ids);
    // The limit is capped.
    let (_, body) = send(&c, "GET", t, "/api/v1/clients/?limit=100000", None).await;
    assert_eq!(body["limit"], json!(500));
    let (_, body) = send(&c, "GET", t, "/api/v1/clients/?stage=contacted", None).await;
    assert_eq!(body["clients"], json!([]));
}

fn summaries_config(base: &str) -> Config {
    let mut config = Config::default();
    config.summaries.api_key = Some("test-key".into());
    config.summaries.base_url = Some(base.into());
    config.summaries.max_attempts = 1;
    config.summaries.timeout = Duration::from_secs(2);
    config.summaries.poll_interval = Duration::from_millis(20);
    config
}

async fn wait_status(c: &Client, token: &str, id: ClientId, want: &str) -> Value {
    for _ in 0..500 {
        let (_, body) = send(
            c,
            "GET",
            Some(token),
            &format!("/api/v1/admin/clients/{}/summary/", id.0),
            None,
        )
        .await;
        if body["status"] == json!(want) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the summary of {id} never became {want}");
}

async fn linked_client(db: &TestDb, name: &str) -> ClientId {
    let session = SessionId::new_random();
    append(
        &db.store,
        session,
        "I'd like to refinance",
        rivo_core::SenderType::Client,
    )
    .await;
    db.store
        .create_client(NewClient {
            chat_session_id: Some(session),
            ..NewClient::new(name)
        })
        .await
        .unwrap()
        .id
}

async fn admin_summary_routes_show_status_and_errors(db: &TestDb) {
    // Disabled: the status says so.
    let c = db.client();
    let (_, token) = user(db, &c, "admin", ALL, true).await;
    let (_, csm_token) = user(db, &c, "cee", CSM, false).await;
    let id = linked_client(db, "Ada").await;
    let path = format!("/api/v1/admin/clients/{}/summary/", id.0);
    let (status, body) = send(&c, "GET", Some(&token), &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], json!(false));
    assert_eq!(body["status"], Value::Null);
    assert!(
        body["detail"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    // Staff-only, with the permission.
    let (status, _) = send(&c, "POST", Some(&csm_token), &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Enabled against the fake provider: an answer that is not an object is recorded as the
    // job's error, and the context stays as it was.
    let (fake, base) = FakeOpenAi::start(vec![
        Reply::Content("[\"not\", \"an object\"]".into()),
        Reply::Content(r#"{"intent": "refinance", "summary": "Refinance."}"#.into()),
    ])
    .await;
    let config = summaries_config(&base);
    let c = db.client_with(config.clone());
    let (worker, stop) = spawn_summary_worker(db.store.clone(), &config);
    let (status, body) = send(&c, "POST", Some(&token), &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["enabled"], json!(true));
    assert_eq!(body["status"], json!("pending"));
    assert_eq!(body["reason"], json!("on_demand"));
    let body = wait_status(&c, &token, id, "failed").await;
    assert!(
        body["last_error"]
            .as_str()
            .unwrap()
            .contains("not an object"),
        "{body}"
    );
    assert_eq!(body["summary"], Value::Null);
    assert_eq!(
        db.store.context(id).await.unwrap().data,
        serde_json::Map::new()
    );
    // Again: the second answer is an object.
    let (status, _) = send(&c, "POST", Some(&token), &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = wait_status(&c, &token, id, "done").await;
    assert_eq!(body["summary"]["intent"], json!("refinance"));
    assert_eq!(body["summary"]["model"], json!("fake-model-1"));
    assert_eq!(body["model"], json!("fake-model-1"));
    assert_eq!(body["last_error"], Value::Null);
    // The CSM list shows it in the context.
    let (_, list) = send(&c, "GET", Some(&csm_token), "/api/v1/clients/", None).await;
    assert_eq!(
        list["clients"][0]["context"]["ai_summary"]["intent"],
        json!("refinance")
    );
    assert_eq!(fake.requests.lock().unwrap().len(), 2);
    let (status, _) = send(
        &c,
        "POST",
        Some(&token),
        "/api/v1/admin/clients/999999/summary/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = stop.send(());
    worker.await.unwrap();
}

/// A provider whose first call hangs for a minute, and a summaries configuration calling it
/// that waits two.
async fn hanging_provider() -> (std::sync::Arc<FakeOpenAi>, Config) {
    let (fake, base) = FakeOpenAi::start(vec![Reply::Sleep(
        Duration::from_secs(60),
        Box::new(Reply::Content("{}".into())),
    )])
    .await;
    let mut config = summaries_config(&base);
    config.summaries.timeout = Duration::from_secs(120);
    (fake, config)
}

/// B4: the provider hangs far longer than any chat POST takes; the visitor's messages are all
/// answered while the summary call is still in flight (ordering, not a timing threshold).
async fn chat_posts_are_not_delayed_by_a_hanging_provider(db: &TestDb) {
    let (fake, config) = hanging_provider().await;
    let c = db.client_with(config.clone());
    let (_, token) = user(db, &c, "admin", ALL, true).await;
    let (worker, stop) = spawn_summary_worker(db.store.clone(), &config);
    let id = linked_client(db, "Ada").await;
    let path = format!("/api/v1/admin/clients/{}/summary/", id.0);
    let (status, _) = send(&c, "POST", Some(&token), &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the request answers at once");
    // Wait until the provider has the call (it now hangs for a minute).
    for _ in 0..500 {
        if fake.started.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.started.load(std::sync::atomic::Ordering::SeqCst), 1);
    let session = db.store.context(id).await.unwrap().chat_session_id.unwrap();
    for i in 0..10 {
        let resp = c
            .post("/api/v1/chat/stream/")
            .content_type("application/json")
            .body(format!(
                r#"{{"session_id":"{session}","message":"message {i}","sender_type":"client"}}"#
            ))
            .send()
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        // Each answered while the summary is still running.
        let (_, body) = send(&c, "GET", Some(&token), &path, None).await;
        assert_eq!(body["status"], json!("running"), "{body}");
    }
    let (status, body) = send(
        &c,
        "GET",
        None,
        &format!("/api/v1/chat/history/?session_id={session}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["messages"].as_array().map(Vec::len),
        Some(11),
        "{body}"
    );
    // Stop without waiting for the hanging call: abort the worker (the lease expires).
    drop(stop);
    worker.abort();
    let _ = worker.await;
}

/// B4 through lead capture: under `RIVO_CHAT_COMPAT=lead-capture` the chat POST that completes a
/// lead queues its summary and answers 201 at once; the summary call (hanging at the provider)
/// runs in the worker, and the visitor's next messages are answered while it is in flight.
async fn a_lead_completed_in_the_chat_is_answered_while_its_summary_hangs(db: &TestDb) {
    let (fake, mut config) = hanging_provider().await;
    config.chat_compat = rivo_server::config::ChatCompat::LeadCapture;
    let c = db.client_with(config.clone());
    let (_, token) = user(db, &c, "admin", ALL, true).await;
    let (worker, stop) = spawn_summary_worker(db.store.clone(), &config);
    let session = SessionId::new_random();
    let post = |message: String, data_type: &str| {
        let body = format!(
            r#"{{"session_id":"{session}","message":"{message}","sender_type":"client","data_type":"{data_type}"}}"#
        );
        let c = &c;
        async move {
            let resp = c
                .post("/api/v1/chat/stream/")
                .content_type("application/json")
                .body(body)
                .send()
                .await;
            assert_eq!(resp.0.status(), StatusCode::CREATED);
        }
    };
    post("I want to refinance".into(), "message").await;
    post("Ada Lovelace".into(), "name").await;
    post("ada@example.com".into(), "email").await;
    post("+1 555 123 4567".into(), "phone").await;
    // The lead is complete: its summary was queued by that POST and reaches the provider.
    for _ in 0..500 {
        if fake.started.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fake.started.load(std::sync::atomic::Ordering::SeqCst), 1);
    let contexts = db
        .store
        .list_contexts(
            &rivo_core::clients::ContextFilter {
                chat_session_id: Some(session),
                ..Default::default()
            },
            rivo_core::query::Sort::asc(rivo_core::clients::HistorySort::CreatedAt),
            rivo_core::query::PageRequest::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(contexts.len(), 1, "one lead for the session");
    let id = contexts[0].client_id;
    let path = format!("/api/v1/admin/clients/{}/summary/", id.0);
    for i in 0..5 {
        post(format!("message {i}"), "message").await;
        let (_, body) = send(&c, "GET", Some(&token), &path, None).await;
        assert_eq!(body["status"], json!("running"), "{body}");
        assert_eq!(body["reason"], json!("lead_completed"), "{body}");
    }
    drop(stop);
    worker.abort();
    let _ = worker.await;
}
