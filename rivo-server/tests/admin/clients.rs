//! Stage changes and assignments: transactional under concurrency.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestDb, assert_answer, body_json, get_json, login, make_user, send};
use crate::on_every_backend;

on_every_backend!(stage_changes_and_assignments_are_transactional,);

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
    let context = get_json(&c, &token, &format!("/api/v1/admin/clients/{id}/context/")).await;
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
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"context_data":["Expected a JSON object."]}"#,
    )
    .await;

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
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"to_stage":["\"promoted\" is not a valid choice."]}"#,
    )
    .await;

    // Concurrent stage changes over HTTP: the history still replays to the current stage.
    let stages = [
        "qualified",
        "docs_pending",
        "lost",
        "active",
        "closed",
        "contacted",
    ];
    let changes = (0..12).map(|i| {
        (
            format!("/api/v1/admin/clients/{id}/stage/"),
            json!({"to_stage": stages[i % stages.len()]}),
        )
    });
    for status in post_at_once(db, &token, changes).await {
        assert_eq!(status, StatusCode::OK);
    }
    let history = get_json(
        &c,
        &token,
        &format!("/api/v1/admin/clients/{id}/stage-history/?ordering=id&page_size=100"),
    )
    .await;
    let mut current = Value::Null;
    for entry in history["results"].as_array().unwrap() {
        assert_eq!(entry["from_stage"], current);
        current = entry["to_stage"].clone();
    }
    let client = get_json(&c, &token, &format!("/api/v1/admin/clients/{id}/")).await;
    assert_eq!(client["current_stage"], current);

    // Concurrent assigns: exactly one active assignment.
    let assigns = (0..16).map(|i| {
        let to = if i % 2 == 0 { agent.id.0 } else { root.id.0 };
        (
            format!("/api/v1/admin/clients/{id}/assign/"),
            json!({"assigned_to": to}),
        )
    });
    for status in post_at_once(db, &token, assigns).await {
        assert_eq!(status, StatusCode::CREATED);
    }
    let active = format!("/api/v1/admin/assignments/?client={id}&is_active=true");
    assert_eq!(get_json(&c, &token, &active).await["count"], 1);
    let all = format!("/api/v1/admin/clients/{id}/assignments/");
    assert_eq!(get_json(&c, &token, &all).await["count"], 16);
    let resp = send(
        &c,
        &token,
        "POST",
        &format!("/api/v1/admin/clients/{id}/assign/"),
        json!({"assigned_to": 999999}),
    )
    .await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"assigned_to":["Invalid pk \"999999\" - object does not exist."]}"#,
    )
    .await;
    let unassign = format!("/api/v1/admin/clients/{id}/unassign/");
    let ended = send(&c, &token, "POST", &unassign, json!(null)).await;
    assert_eq!(ended.0.status(), StatusCode::OK);
    assert_eq!(body_json(ended).await["is_active"], false);
    let none = send(&c, &token, "POST", &unassign, json!(null)).await;
    assert_eq!(none.0.status(), StatusCode::NOT_FOUND);
}

/// Sends every `(path, body)` POST at once, each on a client of its own, and answers their
/// statuses in order.
async fn post_at_once(
    db: &TestDb,
    token: &str,
    requests: impl Iterator<Item = (String, Value)>,
) -> Vec<StatusCode> {
    let tasks: Vec<_> = requests
        .map(|(path, body)| {
            let c = db.client();
            let token = token.to_owned();
            tokio::spawn(async move { send(&c, &token, "POST", &path, body).await.0.status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}
