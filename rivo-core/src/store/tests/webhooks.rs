//! Webhooks on every backend, against a real HTTP receiver on loopback that checks every
//! signature: each kind arrives signed, the outbox is written with the change (and not at all
//! without a subscriber), retries with backoff deliver exactly once more after recovery, the
//! give-up age, SSRF refusals at registration and at delivery, re-send, two workers on one
//! database, erasure and purge.

#[path = "receiver.rs"]
mod receiver;

use std::sync::atomic::Ordering;
use std::time::Duration;

use receiver::{Received, Receiver};

use super::{
    TestDb, Worker, WorkerKind, append, client_with_chat, count, session, set_stage, staff,
};
use crate::clients::*;
use crate::events::EventKind;
use crate::webhooks::*;
use crate::*;

db_behaviours!(
    every_kind_arrives_signed,
    no_subscriber_writes_no_outbox_row,
    failing_receiver_gets_the_event_once_more_after_recovery,
    deliveries_give_up_after_the_max_age,
    ssrf_targets_are_refused_at_registration_and_delivery,
    resend_delivers_again,
    two_workers_deliver_each_event_once,
    erasure_removes_outbox_rows,
    purge_removes_old_delivered_rows,
    a_keep_alive_endpoint_gets_its_deliveries_on_one_connection,
);

/// Fast retries, loopback allowed.
fn test_options() -> WebhookOptions {
    WebhookOptions {
        allow_private: true,
        timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(200),
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    }
}

/// Starts a webhook worker on `store`.
fn worker(store: &Store) -> Worker {
    Worker::start(store, WorkerKind::Webhooks)
}

/// The first page of the deliveries to `hook`, newest first.
async fn deliveries(store: &Store, hook: &CreatedWebhook) -> Page<Delivery> {
    store
        .list_webhook_deliveries(hook.webhook.id, PageRequest::default())
        .await
        .unwrap()
}

async fn endpoint(store: &Store, url: &str, events: &[EventKind]) -> CreatedWebhook {
    store
        .create_webhook(NewWebhook {
            url: url.into(),
            events: events.to_vec(),
            secret: None,
            active: true,
            description: "test".into(),
        })
        .await
        .unwrap()
}

/// Checks the signature headers of `r` with `secret`, and that the body's id is the header's.
fn assert_signed(r: &Received, secret: &str) {
    let now = chrono::Utc::now().timestamp();
    verify_signature(secret, r.header("rivo-signature"), &r.body, now, 300)
        .unwrap_or_else(|e| panic!("bad signature: {e}"));
    assert_eq!(
        r.header("rivo-timestamp"),
        r.header("rivo-signature")
            .trim_start_matches("t=")
            .split(',')
            .next()
            .unwrap()
    );
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(body["id"], r.header("rivo-event-id"));
    assert_eq!(body["type"], r.header("rivo-event-type"));
    assert!(body["created_at"].is_string());
}

async fn every_kind_arrives_signed(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    let hook = endpoint(store, &url, &EventKind::ALL).await;
    assert!(hook.secret.starts_with("whsec_") && hook.secret.len() == 70);
    let w = worker(store);
    let s = session();
    let message = append(store, s, "Hello bot", SenderType::Client).await;
    let support = staff(store, "sam").await;
    let client = client_with_chat(store, "Grace", s).await;
    let change = set_stage(store, client.id, Stage::Contacted, None, "called")
        .await
        .change
        .unwrap();
    let assignment = store
        .assign(client.id, support.id, None, "yours")
        .await
        .unwrap();
    assert!(rx.wait_until(10, |r| r.len() >= 4).await, "{:?}", rx.all());
    w.stop().await;
    let got = rx.all();
    assert_eq!(got.len(), 4);
    for r in &got {
        assert_signed(r, &hook.secret);
    }
    let by_type = |t: &str| {
        got.iter()
            .find(|r| r.header("rivo-event-type") == t)
            .unwrap_or_else(|| panic!("no {t}"))
            .json()
    };
    // The body's type/data are the serialised Event.
    let m = by_type("message.created");
    assert_eq!(m["id"], format!("msg_{}", message.id.0));
    let event: events::Event = serde_json::from_value(m).unwrap();
    assert_eq!(event, events::Event::MessageCreated(message));
    let c: events::Event = serde_json::from_value(by_type("client.created")).unwrap();
    assert_eq!(
        c,
        events::Event::ClientCreated(events::ClientCreated {
            client: client.clone(),
            chat_session_id: Some(s)
        })
    );
    let st: events::Event = serde_json::from_value(by_type("client.stage_changed")).unwrap();
    assert_eq!(st, events::Event::ClientStageChanged(change));
    let a: events::Event = serde_json::from_value(by_type("client.assigned")).unwrap();
    assert_eq!(a, events::Event::ClientAssigned(assignment));
    // Every delivery is recorded as delivered with one 2xx attempt.
    let page = deliveries(store, &hook).await;
    assert_eq!(page.total, 4);
    for d in page.items {
        assert_eq!(d.status, DeliveryStatus::Delivered);
        assert_eq!(d.attempts, 1);
        assert_eq!(d.attempt_log.len(), 1);
        assert_eq!(d.attempt_log[0].status_code, Some(200));
        assert!(d.finished_at.is_some());
    }
    // The secret never appears in what the store lists.
    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(listed[0].secret_hint, hook.secret[hook.secret.len() - 4..]);
    assert!(!format!("{listed:?}{hook:?}").contains(&hook.secret));
}

async fn no_subscriber_writes_no_outbox_row(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    append(store, session(), "nobody listens", SenderType::Client).await;
    store.create_client(NewClient::new("Ada")).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 0);
    // An endpoint for client events only: messages still write nothing; an inactive one
    // nothing at all.
    let (_rx, url) = Receiver::start().await;
    endpoint(store, &url, &[EventKind::ClientCreated]).await;
    let off = endpoint(store, &url, &EventKind::ALL).await;
    store
        .update_webhook(
            off.webhook.id,
            WebhookUpdate {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    append(store, session(), "still nobody", SenderType::Client).await;
    assert_eq!(count(store, "webhook_deliveries").await, 0);
    store.create_client(NewClient::new("Bea")).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 1);
    // A failed change writes no event (same transaction).
    let err = store
        .set_stage(ClientId(999_999), Stage::Contacted, None, "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(count(store, "webhook_deliveries").await, 1);
    // A batch of many messages with one message subscriber: one row per message.
    endpoint(store, &url, &[EventKind::MessageCreated]).await;
    let s = session();
    let sent: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { append(&store, s, &format!("m{i}"), SenderType::Client).await },
            )
        })
        .collect();
    for t in sent {
        t.await.unwrap();
    }
    assert_eq!(count(store, "webhook_deliveries").await, 21);
}

async fn failing_receiver_gets_the_event_once_more_after_recovery(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    rx.fail_first.store(3, Ordering::SeqCst);
    let hook = endpoint(store, &url, &[EventKind::MessageCreated]).await;
    let w = worker(store);
    let m = append(store, session(), "retry me", SenderType::Client).await;
    assert!(
        rx.wait_until(15, |r| r.iter().any(|r| r.answered == 200))
            .await
    );
    // Give a wrong extra attempt time to show up.
    tokio::time::sleep(Duration::from_millis(600)).await;
    w.stop().await;
    let got = rx.all();
    assert_eq!(got.len(), 4, "3 failures then exactly one success");
    assert_eq!(rx.delivered().len(), 1);
    for r in &got {
        assert_signed(r, &hook.secret);
        assert_eq!(r.header("rivo-event-id"), format!("msg_{}", m.id.0));
    }
    let d = deliveries(store, &hook).await.items.remove(0);
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.attempts, 4);
    let codes: Vec<_> = d.attempt_log.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
    assert_eq!(d.attempt_log[0].error.as_deref(), Some("HTTP 500"));
    assert!(d.attempt_log[3].error.is_none());
}

async fn deliveries_give_up_after_the_max_age(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(WebhookOptions {
        max_age: Duration::from_millis(800),
        ..test_options()
    });
    let (rx, url) = Receiver::start().await;
    rx.fail_first.store(usize::MAX, Ordering::SeqCst);
    let hook = endpoint(store, &url, &[EventKind::ClientCreated]).await;
    let w = worker(store);
    store.create_client(NewClient::new("Gone")).await.unwrap();
    let mut failed = None;
    for _ in 0..100 {
        let d = deliveries(store, &hook).await.items.remove(0);
        if d.status == DeliveryStatus::Failed {
            failed = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.stop().await;
    let d = failed.expect("given up");
    assert!(d.attempts >= 2, "retried before giving up: {d:?}");
    assert_eq!(d.attempt_log.len() as u32, d.attempts);
    assert!(d.next_attempt_at.is_none());
    assert_eq!(rx.all().len() as u32, d.attempts);
    assert_eq!(store.webhook_queue().await.unwrap().depth, 0);
}

async fn ssrf_targets_are_refused_at_registration_and_delivery(db: &TestDb) {
    let store = &db.store;
    let (rx, url) = Receiver::start().await;
    let refused = |e: Error| match e {
        Error::Validation(v) => v
            .field("url")
            .iter()
            .map(|r| r.to_string())
            .collect::<String>(),
        other => panic!("not a validation error: {other:?}"),
    };
    // Default options: loopback, private, metadata, non-http refused.
    for bad in [
        url.as_str(),
        "http://localhost:8080/x",
        "http://10.0.0.5/x",
        "http://192.168.1.10/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[fd00::1]/x",
        "http://0.0.0.0/x",
        "ftp://example.com/x",
        "not a url",
    ] {
        let e = store
            .create_webhook(NewWebhook {
                url: bad.into(),
                events: vec![EventKind::MessageCreated],
                active: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(!refused(e).is_empty(), "{bad} accepted");
    }
    let e = store
        .create_webhook(NewWebhook {
            url: "http://127.0.0.1/x".into(),
            events: vec![],
            secret: Some("short".into()),
            active: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let Error::Validation(v) = e else { panic!() };
    assert!(!v.field("url").is_empty() && !v.field("events").is_empty());
    assert!(!v.field("secret").is_empty());
    assert_eq!(count(store, "webhook_endpoints").await, 0);
    // An allow-list admits exactly its network.
    store.set_webhook_options(WebhookOptions {
        allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..test_options()
    });
    store.set_webhook_options(WebhookOptions {
        allow_private: false,
        ..store.webhook_options()
    });
    let hook = endpoint(store, &url, &[EventKind::MessageCreated]).await;
    // Registered while allowed; refused at delivery once the rule changes (checked against
    // the resolved address every time), recorded as a failed attempt, nothing sent.
    store.set_webhook_options(WebhookOptions {
        allow_networks: vec![],
        allow_private: false,
        ..test_options()
    });
    let w = worker(store);
    append(store, session(), "to loopback?", SenderType::Client).await;
    let mut d = None;
    for _ in 0..50 {
        let page = deliveries(store, &hook).await;
        if let Some(x) = page.items.into_iter().find(|d| d.attempts > 0) {
            d = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.stop().await;
    let d = d.expect("attempted");
    let error = d.attempt_log[0].error.clone().unwrap();
    assert!(error.contains("loopback"), "{error}");
    assert_eq!(d.attempt_log[0].status_code, None);
    assert_eq!(rx.all().len(), 0);
}

async fn resend_delivers_again(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    let hook = endpoint(store, &url, &[EventKind::ClientCreated]).await;
    let w = worker(store);
    store.create_client(NewClient::new("Again")).await.unwrap();
    assert!(rx.wait_until(10, |r| r.len() == 1).await);
    // The worker records the success just after the receiver answered.
    let mut d = None;
    for _ in 0..100 {
        let page = deliveries(store, &hook).await;
        if page.items[0].status == DeliveryStatus::Delivered {
            d = page.items.into_iter().next();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = d.expect("recorded as delivered");
    let resent = store.resend_webhook_delivery(d.id).await.unwrap();
    assert_eq!(resent.id, d.id);
    assert!(rx.wait_until(10, |r| r.len() == 2).await);
    w.stop().await;
    let got = rx.all();
    assert_eq!(
        got[0].header("rivo-event-id"),
        got[1].header("rivo-event-id")
    );
    assert_eq!(got[0].body, got[1].body);
    for r in &got {
        assert_signed(r, &hook.secret);
    }
    let d = store.webhook_delivery(d.id).await.unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 2));
    assert!(matches!(
        store.resend_webhook_delivery(i64::MAX).await,
        Err(Error::NotFound { .. })
    ));
}

async fn two_workers_deliver_each_event_once(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let other = Store::open(&db.url).await.unwrap();
    other.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    endpoint(store, &url, &[EventKind::MessageCreated]).await;
    let w1 = worker(store);
    let w2 = worker(&other);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            append(&s, session(), &format!("m{i}"), SenderType::Client).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        rx.wait_until(20, |r| r.len() >= 60).await,
        "{}",
        rx.all().len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    w1.stop().await;
    w2.stop().await;
    let ids: Vec<String> = rx
        .all()
        .iter()
        .map(|r| r.header("rivo-event-id").to_owned())
        .collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (60, 60), "each event once");
    other.close().await;
}

async fn erasure_removes_outbox_rows(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (_rx, url) = Receiver::start().await;
    // No worker: the rows stay pending.
    endpoint(store, &url, &EventKind::ALL).await;
    let kept = session();
    append(store, kept, "keep me", SenderType::Client).await;
    let s = session();
    append(store, s, "erase me", SenderType::Client).await;
    store.append(s, "me too", SenderType::Bot).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 3);
    store.erase_session(s).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 1);
    let s2 = session();
    append(store, s2, "my email is a@b.c", SenderType::Client).await;
    let client = client_with_chat(store, "Erasable", s2).await;
    set_stage(store, client.id, Stage::Contacted, None, "").await;
    assert_eq!(count(store, "webhook_deliveries").await, 4);
    store.erase_client(client.id).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 1);
    let left = store
        .fetch_texts("SELECT event_id FROM webhook_deliveries")
        .await
        .unwrap();
    assert!(left[0].starts_with("msg_"));
}

async fn purge_removes_old_delivered_rows(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    endpoint(store, &url, &[EventKind::MessageCreated]).await;
    let w = worker(store);
    append(store, session(), "one", SenderType::Client).await;
    assert!(rx.wait_until(10, |r| r.len() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.stop().await;
    // A pending one (no worker) stays.
    append(store, session(), "two", SenderType::Client).await;
    let policy = crate::auth::LoginPolicy::default();
    store.purge_expired(&policy).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 2);
    store.set_webhook_options(WebhookOptions {
        delivered_retention: Duration::ZERO,
        ..test_options()
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.purge_expired(&policy).await.unwrap();
    assert_eq!(count(store, "webhook_deliveries").await, 1);
    assert_eq!(count(store, "webhook_attempts").await, 0);
    assert_eq!(store.webhook_queue().await.unwrap().depth, 1);
}

/// Deliveries to one endpoint reuse a kept-alive connection (one TCP connection for ten
/// deliveries made one after another), and each is still signed and recorded.
async fn a_keep_alive_endpoint_gets_its_deliveries_on_one_connection(db: &TestDb) {
    let store = &db.store;
    store.set_webhook_options(test_options());
    let (rx, url) = Receiver::start().await;
    rx.keep_alive.store(true, Ordering::SeqCst);
    let hook = endpoint(store, &url, &[EventKind::MessageCreated]).await;
    let w = worker(store);
    let s = session();
    for i in 0..10 {
        append(store, s, &format!("message {i}"), SenderType::Client).await;
        assert!(
            rx.wait_until(10, |r| r.len() > i).await,
            "delivery {i}: {:?}",
            rx.all()
        );
        // Recorded as delivered: the attempt is over and its connection back in the pool
        // (the receiver saw the request before the worker read the answer).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = deliveries(store, &hook).await;
            let delivered = page
                .items
                .iter()
                .filter(|d| d.status == DeliveryStatus::Delivered)
                .count();
            if delivered > i {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "delivery {i} recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    w.stop().await;
    let got = rx.delivered();
    assert_eq!(got.len(), 10);
    for r in &got {
        assert_signed(r, &hook.secret);
    }
    assert_eq!(rx.connections.load(Ordering::SeqCst), 1, "one connection");
    let page = deliveries(store, &hook).await;
    assert_eq!(page.total, 10);
    assert!(
        page.items
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1)
    );
}
