//! Live event streams over HTTP (server-sent events), in-process on SQLite and PostgreSQL: the
//! public session stream (the history's message shape, `Last-Event-ID` and `?after=` resume
//! without gap or duplicate, the chat API's 400 bodies, CORS), the connection cap, the bounded
//! duration with heartbeats, and the admin activity stream (client events, resumable cursors,
//! `chat.view_chathistory`).

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.

mod common;

use std::time::Duration;

use common::{Client, TestDb, header, history_json, text, try_login};
use futures_util::StreamExt;
use poem::http::StatusCode;
use rivo_core::accounts::{Action, Model, NewRole, NewUser};
use rivo_core::clients::NewClient;
use rivo_core::{Permission, SessionId, Stage};
use rivo_server::Config;
use rivo_server::config::EventStreamLimits;
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough passphrase";

on_every_backend!(
    session_stream_sends_history_shaped_messages_and_resumes_exactly,
    stream_parameters_are_validated_like_the_chat_api,
    streams_are_capped_end_in_time_and_send_heartbeats,
    admin_stream_reports_activity_and_needs_the_permission,
    lead_capture_streams_show_data_type_like_the_history,
);

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads server-sent events (and counts heartbeat comments) from a response body.
struct SseReader {
    body: futures_util::stream::BoxStream<'static, std::io::Result<Vec<u8>>>,
    buffer: String,
    heartbeats: usize,
    ended: bool,
}

impl SseReader {
    fn new(resp: poem::test::TestResponse) -> Self {
        Self {
            body: resp
                .0
                .into_body()
                .into_bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
            heartbeats: 0,
            ended: false,
        }
    }

    /// The next event within `wait`, `None` if none came (or the stream ended).
    async fn next_within(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.heartbeats += 1;
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        any = true;
                        match field {
                            "id" => event.id = Some(value.to_owned()),
                            "event" => event.event = Some(value.to_owned()),
                            "data" => event.data.push_str(value),
                            _ => {}
                        }
                    }
                }
                if any {
                    return Some(event);
                }
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => self.ended = true,
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    async fn next(&mut self) -> Sse {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10 s")
    }
}

async fn post(c: &Client, session: &str, message: &str, sender: &str) -> Value {
    let resp = c
        .post("/api/v1/chat/stream/")
        .body_json(&json!({"session_id": session, "message": message, "sender_type": sender}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    serde_json::from_str(&text(resp).await).unwrap()
}

async fn open(c: &Client, path: &str, headers: &[(&str, &str)]) -> poem::test::TestResponse {
    let mut req = c.get(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await
}

async fn session_stream_sends_history_shaped_messages_and_resumes_exactly(db: &TestDb) {
    let c = db.client_with(Config {
        cors_allowed_origins: vec!["https://shop.example".into()],
        ..Config::default()
    });
    let session = SessionId::new_random().to_string();
    let path = format!("/api/v1/chat/events/?session_id={session}");
    let resp = open(&c, &path, &[("Origin", "https://shop.example")]).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert!(
        header(&resp, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(
        header(&resp, "access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    let mut live = SseReader::new(resp);
    let first = post(&c, &session, "Hello", "client").await;
    let second = post(&c, &session, "Hi! How can I help?", "bot").await;
    let history = history_json(&c, &session).await;
    for (i, posted) in [&first, &second].into_iter().enumerate() {
        let event = live.next().await;
        assert_eq!(event.event.as_deref(), Some("message.created"));
        assert_eq!(event.id, Some(posted["id"].to_string()));
        // Exactly the history's JSON for that message, byte for byte once parsed.
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(&data, posted);
        assert_eq!(data, history["messages"][i]);
    }
    assert_eq!(live.next_within(Duration::from_millis(300)).await, None);
    drop(live);

    // Missed while disconnected: a reconnect with Last-Event-ID gets exactly those.
    let third = post(&c, &session, "third", "client").await;
    let fourth = post(&c, &session, "fourth", "bot").await;
    let last_id = second["id"].to_string();
    for resumed in [
        open(&c, &path, &[("Last-Event-ID", &last_id)]).await,
        open(&c, &format!("{path}&after={last_id}"), &[]).await,
        // The header wins over the URL's `after` (what EventSource does on reconnect).
        open(
            &c,
            &format!("{path}&after=0"),
            &[("Last-Event-ID", &last_id)],
        )
        .await,
    ] {
        assert_eq!(resumed.0.status(), StatusCode::OK);
        let mut resumed = SseReader::new(resumed);
        let ids = [resumed.next().await.id, resumed.next().await.id];
        assert_eq!(
            ids,
            [
                Some(third["id"].to_string()),
                Some(fourth["id"].to_string())
            ]
        );
        assert_eq!(resumed.next_within(Duration::from_millis(300)).await, None);
    }
    // Other sessions never show up.
    let mut live = SseReader::new(open(&c, &path, &[]).await);
    post(
        &c,
        &SessionId::new_random().to_string(),
        "elsewhere",
        "client",
    )
    .await;
    let fifth = post(&c, &session, "fifth", "client").await;
    assert_eq!(live.next().await.id, Some(fifth["id"].to_string()));
}

async fn stream_parameters_are_validated_like_the_chat_api(db: &TestDb) {
    let c = db.client();
    let session = SessionId::new_random().to_string();
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, Value);
    let cases: Vec<Case> = vec![
        (
            "/api/v1/chat/events/".into(),
            vec![],
            json!({"error": "session_id is required"}),
        ),
        (
            "/api/v1/chat/events/?session_id=".into(),
            vec![],
            json!({"error": "session_id is required"}),
        ),
        (
            "/api/v1/chat/events/?session_id=nope".into(),
            vec![],
            json!({"session_id": ["Must be a valid UUID."]}),
        ),
        (
            format!("/api/v1/chat/events/?session_id={session}&after=-1"),
            vec![],
            json!({"after": ["Ensure this value is a message id (a whole number greater than or equal to 0)."]}),
        ),
        (
            format!("/api/v1/chat/events/?session_id={session}"),
            vec![("Last-Event-ID", "abc")],
            json!({"Last-Event-ID": ["Ensure this value is a message id (a whole number greater than or equal to 0)."]}),
        ),
    ];
    for (path, headers, expected) in cases {
        let resp = open(&c, &path, &headers).await;
        assert_eq!(resp.0.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = serde_json::from_str(&text(resp).await).unwrap();
        assert_eq!(body, expected, "{path}");
    }
}

async fn streams_are_capped_end_in_time_and_send_heartbeats(db: &TestDb) {
    let c = db.client_with(Config {
        event_streams: EventStreamLimits {
            max_streams: 1,
            max_duration: Duration::from_secs(2),
            heartbeat: Duration::from_secs(1),
        },
        ..Config::default()
    });
    let path = format!(
        "/api/v1/chat/events/?session_id={}",
        SessionId::new_random()
    );
    let first = open(&c, &path, &[]).await;
    assert_eq!(first.0.status(), StatusCode::OK);
    let refused = open(&c, &path, &[]).await;
    assert_eq!(refused.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&text(refused).await).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("RIVO_MAX_EVENT_STREAMS=1"),
        "{body}"
    );
    // The admin stream counts against the same cap.
    let admin = open(&c, "/api/v1/admin/events/", &[]).await;
    assert_eq!(admin.0.status(), StatusCode::UNAUTHORIZED);
    // The open stream sends heartbeats, then ends by itself after its maximum duration.
    let mut first = SseReader::new(first);
    assert_eq!(first.next_within(Duration::from_secs(10)).await, None);
    assert!(first.ended, "the stream ended");
    assert!(first.heartbeats >= 1, "heartbeats: {}", first.heartbeats);
    // Its place is free again.
    drop(first);
    let again = open(&c, &path, &[]).await;
    assert_eq!(again.0.status(), StatusCode::OK);
}

async fn admin_stream_reports_activity_and_needs_the_permission(db: &TestDb) {
    let c = db.client();
    let store = &db.store;
    let viewer_role = store
        .create_role(NewRole {
            name: "viewers".into(),
            description: String::new(),
            permissions: [Permission::new(Action::View, Model::ChatHistory)].into(),
        })
        .await
        .unwrap();
    let staff = |name: &str, role: Option<rivo_core::RoleId>| NewUser {
        is_staff: true,
        role_id: role,
        ..NewUser::new(format!("{name}@example.com"), name).password(PASSWORD)
    };
    store
        .create_user(staff("viewer", Some(viewer_role.id)))
        .await
        .unwrap();
    store.create_user(staff("nobody", None)).await.unwrap();
    let agent = store.create_user(staff("agent", None)).await.unwrap();
    let token = |email: &'static str| {
        let c = &c;
        async move {
            let resp = try_login(c, email, PASSWORD).await;
            assert_eq!(resp.0.status(), StatusCode::OK);
            let body: Value = serde_json::from_str(&text(resp).await).unwrap();
            format!("Bearer {}", body["token"].as_str().unwrap())
        }
    };
    let (viewer, nobody) = (
        token("viewer@example.com").await,
        token("nobody@example.com").await,
    );
    let path = "/api/v1/admin/events/";
    assert_eq!(
        open(&c, path, &[]).await.0.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        open(&c, path, &[("Authorization", &nobody)])
            .await
            .0
            .status(),
        StatusCode::FORBIDDEN
    );
    let bad = open(
        &c,
        &format!("{path}?after=1.2"),
        &[("Authorization", &viewer)],
    )
    .await;
    assert_eq!(bad.0.status(), StatusCode::BAD_REQUEST);
    let resp = open(&c, path, &[("Authorization", &viewer)]).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let mut live = SseReader::new(resp);

    let session = SessionId::new_random();
    let client = store
        .create_client(NewClient {
            chat_session_id: Some(session),
            ..NewClient::new("Ada")
        })
        .await
        .unwrap();
    let created = live.next().await;
    assert_eq!(created.event.as_deref(), Some("client.created"));
    let data: Value = serde_json::from_str(&created.data).unwrap();
    assert_eq!(data["type"], "client.created");
    assert_eq!(data["id"].as_str(), created.id.as_deref());
    assert_eq!(data["data"]["client"]["id"], client.id.0);
    assert_eq!(data["data"]["chat_session_id"], session.to_string());
    store
        .set_stage(client.id, Stage::Qualified, None, "")
        .await
        .unwrap();
    let staged = live.next().await;
    assert_eq!(staged.event.as_deref(), Some("client.stage_changed"));
    store.assign(client.id, agent.id, None, "").await.unwrap();
    let assigned = live.next().await;
    assert_eq!(assigned.event.as_deref(), Some("client.assigned"));
    let posted = post(&c, &session.to_string(), "hello", "client").await;
    let said = live.next().await;
    assert_eq!(said.event.as_deref(), Some("message.created"));
    let data: Value = serde_json::from_str(&said.data).unwrap();
    assert_eq!(data["data"], posted, "the chat API's message shape");
    assert_eq!(live.next_within(Duration::from_millis(300)).await, None);

    // Resume after the first event: exactly the three others.
    let resumed = open(
        &c,
        path,
        &[
            ("Authorization", &viewer),
            ("Last-Event-ID", created.id.as_deref().unwrap()),
        ],
    )
    .await;
    assert_eq!(resumed.0.status(), StatusCode::OK);
    let mut resumed = SseReader::new(resumed);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(resumed.next().await.event.unwrap());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["client.assigned", "client.stage_changed", "message.created"]
    );
    assert_eq!(resumed.next_within(Duration::from_millis(300)).await, None);
}

/// Under `RIVO_CHAT_COMPAT=lead-capture` a streamed message has the history's shape too, with
/// `data_type` between `sender_type` and `sent_at`; a captured contact message is streamed.
async fn lead_capture_streams_show_data_type_like_the_history(db: &TestDb) {
    let c = db.client_with(Config {
        chat_compat: rivo_server::config::ChatCompat::LeadCapture,
        ..Config::default()
    });
    let session = SessionId::new_random().to_string();
    let path = format!("/api/v1/chat/events/?session_id={session}");
    let mut live = SseReader::new(open(&c, &path, &[]).await);
    let mut posted = Vec::new();
    for (message, kind) in [("hello", "message"), ("Ada Lovelace", "name")] {
        let resp = c
            .post("/api/v1/chat/stream/")
            .body_json(&json!({"session_id": session, "message": message, "data_type": kind}))
            .send()
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        posted.push(text(resp).await);
    }
    let history = text(
        c.get(format!("/api/v1/chat/history/?session_id={session}"))
            .send()
            .await,
    )
    .await;
    for (i, body) in posted.iter().enumerate() {
        let event = live.next().await;
        // Byte for byte the POST's answer, and the history's entry.
        assert_eq!(&event.data, body);
        assert!(history.contains(body.as_str()), "{history}");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["data_type"], ["message", "name"][i]);
        assert!(
            event
                .data
                .contains(r#""sender_type":"client","data_type":"#),
            "{}",
            event.data
        );
    }
    let client = db
        .store
        .list_sessions(&Default::default(), rivo_core::query::PageRequest::first(5))
        .await
        .unwrap();
    assert!(client.items[0].client_id.is_some());
}
