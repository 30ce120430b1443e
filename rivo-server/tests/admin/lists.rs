//! Lists: DRF pagination, search, ordering and filters.

use poem::http::StatusCode;
use rivo_core::clients::NewClient;
use rivo_core::{SenderType, SessionId};
use serde_json::{Value, json};

use crate::common::{
    TestDb, append, assert_answer, body_json, each, get, get_json, login, make_user, text,
};
use crate::on_every_backend;

on_every_backend!(lists_paginate_like_drf, lists_search_order_and_filter,);

async fn lists_paginate_like_drf(db: &TestDb) {
    let c = db.client();
    make_user(&db.store, "root", true, true).await;
    let token = login(&c, "root@example.com").await;
    let empty = get_json(&c, &token, "/api/v1/admin/clients/").await;
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
    let first = get_json(&c, &token, "/api/v1/admin/clients/?page_size=3").await;
    assert_eq!(first["count"], 7);
    assert_eq!(first["results"].as_array().unwrap().len(), 3);
    assert_eq!(first["results"][0]["name"], "Client 6", "newest first");
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(
        first["next"],
        "http://localhost/api/v1/admin/clients/?page_size=3&page=2"
    );
    let second = get_json(&c, &token, "/api/v1/admin/clients/?page_size=3&page=2").await;
    assert_eq!(
        second["previous"],
        "http://localhost/api/v1/admin/clients/?page_size=3"
    );
    let last = get_json(&c, &token, "/api/v1/admin/clients/?page_size=3&page=3").await;
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
    let all = get_json(&c, &token, "/api/v1/admin/clients/?page_size=0").await;
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
    let names = |v: &Value| -> Vec<String> { each(&v["results"], "name") };
    let found = get_json(
        &c,
        &token,
        "/api/v1/admin/clients/?search=X.IO&ordering=name",
    )
    .await;
    assert_eq!(names(&found), ["Ada", "Cy"]);
    let found = get_json(&c, &token, "/api/v1/admin/clients/?ordering=-name").await;
    assert_eq!(names(&found), ["Cy", "Bea", "Ada", "100% Dee"]);
    let found = get_json(&c, &token, "/api/v1/admin/clients/?search=100%25").await;
    assert_eq!(names(&found), ["100% Dee"]);
    let found = get_json(&c, &token, "/api/v1/admin/clients/?search=%25").await;
    assert_eq!(found["count"], 1, "% is matched literally");
    let found = get_json(&c, &token, "/api/v1/admin/clients/?current_stage=qualified").await;
    assert_eq!(names(&found), ["Bea"]);
    let found = get_json(&c, &token, "/api/v1/admin/clients/?ordering=nonsense").await;
    assert_eq!(found["count"], 4, "unknown ordering is ignored, like DRF");
    let resp = get(&c, &token, "/api/v1/admin/clients/?current_stage=bogus").await;
    assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST);
    let today = chrono::Utc::now().date_naive();
    let found = get_json(
        &c,
        &token,
        &format!("/api/v1/admin/clients/?created_at_after={today}&created_at_before={today}"),
    )
    .await;
    assert_eq!(found["count"], 4);
    let resp = get(
        &c,
        &token,
        "/api/v1/admin/clients/?created_at_after=yesterday",
    )
    .await;
    assert_answer(
        resp,
        StatusCode::BAD_REQUEST,
        r#"{"created_at_after":["Enter a valid date or date/time (YYYY-MM-DD or RFC 3339)."]}"#,
    )
    .await;
    // Users: filters by flags; chat: by sender and session.
    make_user(&db.store, "plainuser", false, false).await;
    let staff = get_json(&c, &token, "/api/v1/admin/users/?is_staff=true").await;
    assert_eq!(staff["count"], 1);
    let session = SessionId::new_random();
    append(&db.store, session, "hello", SenderType::Client).await;
    append(&db.store, session, "hi", SenderType::Bot).await;
    let bots = get_json(
        &c,
        &token,
        &format!(
            "/api/v1/admin/chat/messages/?session_id={}&sender_type=bot",
            session.0.simple()
        ),
    )
    .await;
    assert_eq!(bots["count"], 1);
    assert_eq!(bots["results"][0]["message"], "hi");
    let sessions = get_json(&c, &token, "/api/v1/admin/chat/sessions/").await;
    assert_eq!(sessions["results"][0]["message_count"], 2);
}
