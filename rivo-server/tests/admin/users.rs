//! Users managed through the admin, never exposing passwords.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    TestDb, assert_answer, body_json, login, make_user, post_password, post_user, send, text,
};
use crate::on_every_backend;

on_every_backend!(users_are_managed_without_exposing_passwords,);

async fn users_are_managed_without_exposing_passwords(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let resp = post_user(
        &c,
        &token,
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
    let taken = json!({"email": "NEW@example.com", "username": "other"});
    let resp = post_user(&c, &token, taken).await;
    assert_answer(
        resp,
        StatusCode::CONFLICT,
        r#"{"email":["A user with that email already exists."]}"#,
    )
    .await;
    // Malformed fields are reported together, then the rules of rivo-core, all fields at once.
    let resp = post_user(&c, &token, json!({
        "email": "bad", "username": "bad name", "is_staff": "maybe", "permissions": ["chat.fly_chathistory"], "role": "x"
    }))
    .await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(resp).await;
    for field in ["is_staff", "permissions", "role"] {
        assert!(errors.get(field).is_some(), "{field} missing in {errors}");
    }
    let malformed = json!({"email": "bad", "username": "bad name", "password": "123"});
    let resp = post_user(&c, &token, malformed).await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let errors = body_json(resp).await;
    for field in ["email", "username", "password"] {
        assert!(errors.get(field).is_some(), "{field} missing in {errors}");
    }
    let id = user["id"].as_i64().unwrap();
    let resp = post_password(&c, &token, id, "short").await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    assert!(text(resp).await.contains("too short"));
    let resp = post_password(&c, &token, id, "a long enough passphrase").await;
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
    assert_answer(resp, StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#).await;
}
