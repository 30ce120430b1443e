//! The audit log: every admin write, and who may read it.

use std::collections::{BTreeSet, HashSet};

use poem::http::StatusCode;
use rivo_core::Permission;
use rivo_core::accounts::{Action, Model, NewRole};
use serde_json::json;

use crate::common::{
    TestDb, body_json, each, get, get_json, login, make_user, post_password, post_user, send,
};
use crate::on_every_backend;

on_every_backend!(admin_writes_are_in_the_audit_log,);

async fn admin_writes_are_in_the_audit_log(db: &TestDb) {
    let c = db.client();
    let root = make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let created = body_json(post_user(&c, &token, json!({
        "email": "logged@example.com", "username": "logged", "password": "secret passphrase here"
    })).await).await;
    let id = created["id"].as_i64().unwrap();
    post_password(&c, &token, id, "other passphrase here").await;
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
    let log = get_json(&c, &token, "/api/v1/admin/log/?ordering=id").await;
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
    let filtered = get_json(
        &c,
        &token,
        &format!("/api/v1/admin/log/?object_type=user&object_id={id}"),
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
    let index = get_json(&c, &staff_token, "/api/v1/admin/").await;
    let sections: HashSet<&str> = each(&index["sections"], "name").into_iter().collect();
    assert_eq!(sections, HashSet::from(["clients"]));
    assert_eq!(index["sections"][0]["count"], 1);
    assert_eq!(
        index["sections"][0]["permissions"],
        json!({"view": true, "add": false, "change": false, "delete": false})
    );
    let root_index = get_json(&c, &token, "/api/v1/admin/").await;
    assert_eq!(root_index["sections"].as_array().unwrap().len(), 9);
}
