//! The `lead-capture` chat contract (`RIVO_CHAT_COMPAT=lead-capture`, the later original's,
//! 1ecf1f0) on the wire: `data_type` between `sender_type` and `sent_at` in every message
//! answered, its validation texts and error key order, the later error texts, leads captured
//! from name/email/phone messages — and the bugs kept out of both contracts (an invalid history
//! `session_id` is a 400, a bad `Authorization` header never breaks the public chat, contact
//! details that do not fit the columns are a 400). The `original` contract stays byte for byte
//! (`chat_compat.rs`); here it is checked to ignore `data_type` and capture nothing.
//! Runs on SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use common::{
    Client, HISTORY, SESSION, STREAM, TestDb, assert_answer,
    assert_history_refuses_a_session_id_not_a_uuid, each, post_message_with, text,
};
use poem::http::StatusCode;
use rivo_core::chat::{DataType, SessionFilter};
use rivo_core::query::PageRequest;
use rivo_core::{SessionId, Stage};
use rivo_server::Config;
use rivo_server::config::ChatCompat;

on_every_backend!(
    messages_carry_data_type_between_sender_type_and_sent_at,
    validation_texts_and_key_order_are_the_later_originals,
    contact_messages_make_one_normalised_lead,
    values_too_long_for_the_columns_are_400_and_write_nothing,
    history_errors_in_both_contracts,
    a_bad_authorization_header_never_breaks_the_chat,
    original_contract_ignores_data_type_and_captures_nothing,
);

fn lead_capture(db: &TestDb) -> Client {
    db.client_with(Config {
        chat_compat: ChatCompat::LeadCapture,
        ..Config::default()
    })
}

async fn post(c: &Client, body: &str) -> (StatusCode, String) {
    let resp = c
        .post(STREAM)
        .content_type("application/json")
        .body(body.to_owned())
        .send()
        .await;
    let status = resp.0.status();
    (status, text(resp).await)
}

/// The first ten clients of the store, by id.
async fn first_clients(store: &rivo_core::Store) -> rivo_core::Page<rivo_core::Client> {
    let by_id = rivo_core::query::Sort::asc(rivo_core::clients::ClientSort::Id);
    store
        .list_clients(&Default::default(), by_id, PageRequest::first(10))
        .await
        .unwrap()
}

/// `{"id":N,…,"sent_at":"…"}` → the bytes between the id and `sent_at`'s value.
fn middle(body: &str) -> &str {
    let rest = body.strip_prefix("{\"id\":").expect(body);
    let (_, rest) = rest.split_once(',').expect(body);
    let (middle, _) = rest.split_once("\"sent_at\":").expect(body);
    middle
}

async fn messages_carry_data_type_between_sender_type_and_sent_at(db: &TestDb) {
    let c = lead_capture(db);
    let (status, body) = post(
        &c,
        &format!(r#"{{"session_id":"{SESSION}","message":"  I want to refinance  "}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        middle(&body),
        format!(
            r#""session_id":"{SESSION}","message":"I want to refinance","sender_type":"client","data_type":"message","#
        )
    );
    let (status, body) = post(
        &c,
        &format!(
            r#"{{"session_id":"{SESSION}","message":"Mary.OBrien@Example.COM","data_type":"email"}}"#
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The message is echoed as sent (trimmed), not normalised.
    assert_eq!(
        middle(&body),
        format!(
            r#""session_id":"{SESSION}","message":"Mary.OBrien@Example.COM","sender_type":"client","data_type":"email","#
        )
    );
    // A form's empty data_type means the default, like sender_type.
    let resp = c
        .post(STREAM)
        .content_type("application/x-www-form-urlencoded")
        .body(format!(
            "session_id={SESSION}&message=hello&sender_type=bot&data_type="
        ))
        .send()
        .await;
    resp.assert_status(StatusCode::CREATED);
    let body = text(resp).await;
    assert!(
        middle(&body).ends_with(r#""sender_type":"bot","data_type":"message","#),
        "{body}"
    );
    let resp = c
        .get(format!("{HISTORY}?session_id={SESSION}"))
        .send()
        .await;
    resp.assert_status_is_ok();
    let body = text(resp).await;
    let history: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kinds: Vec<&str> = each(&history["messages"], "data_type");
    assert_eq!(kinds, ["message", "email", "message"]);
    assert!(
        body.contains(r#""sender_type":"client","data_type":"email","sent_at":"#),
        "{body}"
    );
}

async fn validation_texts_and_key_order_are_the_later_originals(db: &TestDb) {
    let c = lead_capture(db);
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"session_id":"nope","message":null,"sender_type":"x","data_type":"address"}"#
                .into(),
            r#"{"session_id":["Must be a valid UUID."],"message":["This field may not be null."],"sender_type":["\"x\" is not a valid choice."],"data_type":["\"address\" is not a valid choice."]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":"hi","data_type":null}}"#),
            r#"{"data_type":["This field may not be null."]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":"hi","data_type":"Name"}}"#),
            r#"{"data_type":["\"Name\" is not a valid choice."]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":" J ","data_type":"name"}}"#),
            r#"{"message":["Name must be at least 2 characters"]}"#,
        ),
        (
            format!(
                r#"{{"session_id":"{SESSION}","message":"{}","data_type":"name"}}"#,
                "a".repeat(101)
            ),
            r#"{"message":["Name must be less than 100 characters"]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":"R2-D2","data_type":"name"}}"#),
            r#"{"message":["Name can only contain letters, spaces, dots, hyphens, and apostrophes"]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":"a@b","data_type":"email"}}"#),
            r#"{"message":["Please provide a valid email address"]}"#,
        ),
        (
            format!(r#"{{"session_id":"{SESSION}","message":"555-1234","data_type":"phone"}}"#),
            r#"{"message":["Phone number must have at least 10 digits"]}"#,
        ),
        // Field errors first: the contact rules run only when every field is valid.
        (
            r#"{"session_id":"nope","message":"J","data_type":"name"}"#.into(),
            r#"{"session_id":["Must be a valid UUID."]}"#,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&c, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, expected, "{body}");
    }
    // José is a name (the later original refused it).
    let (status, body) = post(
        &c,
        &format!(r#"{{"session_id":"{SESSION}","message":"José Núñez","data_type":"name"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = post(
        &c,
        &format!(
            r#"{{"session_id":"{SESSION}","message":"+1 (555) 123-4567","data_type":"phone"}}"#
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn contact_messages_make_one_normalised_lead(db: &TestDb) {
    let c = lead_capture(db);
    let s = SessionId::new_random().to_string();
    for (message, kind) in [
        ("I want to refinance my 300k loan", "message"),
        ("mary o'brien-smith", "name"),
        ("Mary.OBrien@Example.COM", "email"),
        ("+1 (555) 123-4567", "phone"),
        ("Thanks, Mary! A CSM will call you.", "message"),
    ] {
        let sender = if kind == "message" && message.starts_with("Thanks") {
            "bot"
        } else {
            "client"
        };
        let (status, body) = post(
            &c,
            &serde_json::json!({"session_id": s, "message": message, "sender_type": sender, "data_type": kind})
                .to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let store = &db.store;
    let clients = first_clients(store).await;
    assert_eq!(clients.items.len(), 1);
    let client = &clients.items[0];
    assert_eq!(
        (
            client.name.as_str(),
            client.email.as_str(),
            client.phone.as_str(),
            client.current_stage
        ),
        (
            "Mary O'Brien-Smith",
            "mary.obrien@example.com",
            "15551234567",
            Stage::Lead
        )
    );
    // The session (all five messages) is linked: the admin's session list shows the client.
    let sessions = store
        .list_sessions(&SessionFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(sessions.items[0].client_id, Some(client.id));
    assert_eq!(sessions.items[0].message_count, 5);
    let history = store.history(s.parse().unwrap()).await.unwrap();
    assert_eq!(history[3].data_type, DataType::Phone);
}

async fn values_too_long_for_the_columns_are_400_and_write_nothing(db: &TestDb) {
    let c = lead_capture(db);
    let cases = [
        (
            "1".repeat(21),
            "phone",
            r#"{"message":["Phone number must have at most 20 digits"]}"#,
        ),
        (
            format!("{}@example.com", "a".repeat(250)),
            "email",
            r#"{"message":["Email must be at most 254 characters"]}"#,
        ),
    ];
    for (message, kind, expected) in cases {
        let (status, body) = post(
            &c,
            &serde_json::json!({"session_id": SESSION, "message": message, "data_type": kind})
                .to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind}");
        assert_eq!(body, expected);
    }
    assert!(
        db.store
            .history(SESSION.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    let clients = first_clients(&db.store).await;
    assert!(clients.items.is_empty());
}

async fn history_errors_in_both_contracts(db: &TestDb) {
    for (c, missing) in [
        (lead_capture(db), r#"{"error":"session_id required"}"#),
        (db.client(), r#"{"error":"session_id is required"}"#),
    ] {
        for path in [HISTORY.to_owned(), format!("{HISTORY}?session_id=")] {
            let resp = c.get(&path).send().await;
            assert_answer(resp, StatusCode::BAD_REQUEST, missing).await;
        }
        // B8: an invalid session_id is a 400, never a 500.
        assert_history_refuses_a_session_id_not_a_uuid(&c).await;
    }
}

async fn a_bad_authorization_header_never_breaks_the_chat(db: &TestDb) {
    // B9: the later original answered 401 {"detail":"Invalid token."} to a widget on a page
    // that also carried a stale token. Both contracts ignore credentials on the chat routes.
    for c in [lead_capture(db), db.client()] {
        for auth in [
            "Token 0123456789abcdef",
            "Token",
            "Token a b",
            "Bearer nope",
            "Basic Zm9vOmJhcg==",
        ] {
            let resp = post_message_with(&c, &[("Authorization", auth)], SESSION, "hi").await;
            resp.assert_status(StatusCode::CREATED);
            let resp = c
                .get(format!("{HISTORY}?session_id={SESSION}"))
                .header("Authorization", auth)
                .send()
                .await;
            resp.assert_status_is_ok();
        }
    }
}

async fn original_contract_ignores_data_type_and_captures_nothing(db: &TestDb) {
    let c = db.client();
    for body in [
        format!(r#"{{"session_id":"{SESSION}","message":"J","data_type":"name"}}"#),
        format!(r#"{{"session_id":"{SESSION}","message":"hi","data_type":"address"}}"#),
        format!(r#"{{"session_id":"{SESSION}","message":"hi","data_type":null}}"#),
    ] {
        let (status, answer) = post(&c, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert!(!answer.contains("data_type"), "{answer}");
    }
    let history = db.store.history(SESSION.parse().unwrap()).await.unwrap();
    assert!(history.iter().all(|m| m.data_type == DataType::Message));
    let sessions = db
        .store
        .list_sessions(&SessionFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(sessions.items[0].client_id, None);
}
