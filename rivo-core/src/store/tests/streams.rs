//! Live streams on every backend: session streams resume exactly after an id, the activity
//! stream reports messages and client events with resumable cursors, wake-ups cross stores
//! (servers) on one database, a slow consumer loses nothing, out-of-order commits on PostgreSQL
//! are never skipped, and erasure clears the activity log.

use std::time::Duration;

use futures_util::{Stream, StreamExt};

use super::{
    TestDb, append, append_numbered, client_with_chat, count, next, session, set_stage, staff,
};
use crate::chat::*;
use crate::clients::*;
use crate::events::Event;
use crate::streams::{Activity, ActivityCursor};
use crate::*;

db_behaviours!(
    session_stream_gives_new_messages_and_resumes_after_an_id,
    activity_stream_reports_messages_and_client_events_and_resumes,
    a_write_through_another_store_wakes_a_stream,
    a_slow_consumer_falls_behind_and_loses_nothing,
    out_of_order_commits_are_not_skipped_by_the_activity_stream,
    erasure_clears_the_activity_log,
    local_writes_reach_a_stream_in_memory,
    a_stream_whose_slot_overflows_reads_the_database_and_loses_nothing,
    local_and_remote_writers_mix_without_gaps_or_duplicates,
);

/// Nothing arrives for `wait`.
async fn quiet<T: std::fmt::Debug>(
    stream: &mut (impl Stream<Item = Result<T>> + Unpin),
    wait: Duration,
) {
    if let Ok(item) = tokio::time::timeout(wait, stream.next()).await {
        panic!("expected nothing, got {item:?}");
    }
}

async fn session_stream_gives_new_messages_and_resumes_after_an_id(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let m1 = store.append(s, "one", SenderType::Client).await.unwrap();
    let mut live = Box::pin(store.subscribe_session(s, None).await.unwrap());
    // Start "now": a message of another session and the earlier ones are not given.
    append(store, session(), "elsewhere", SenderType::Client).await;
    let m2 = store.append(s, "two", SenderType::Bot).await.unwrap();
    let m3 = store.append(s, "three", SenderType::Client).await.unwrap();
    assert_eq!(next(&mut live).await, m2);
    assert_eq!(next(&mut live).await, m3);
    quiet(&mut live, Duration::from_millis(300)).await;
    // A reconnect after m1 gets exactly m2 and m3; after m3, nothing until the next one.
    let mut resumed = Box::pin(store.subscribe_session(s, Some(m1.id)).await.unwrap());
    assert_eq!(next(&mut resumed).await, m2);
    assert_eq!(next(&mut resumed).await, m3);
    let mut at_end = Box::pin(store.subscribe_session(s, Some(m3.id)).await.unwrap());
    quiet(&mut at_end, Duration::from_millis(300)).await;
    let m4 = store.append(s, "four", SenderType::Bot).await.unwrap();
    assert_eq!(next(&mut at_end).await, m4);
    assert_eq!(next(&mut resumed).await, m4);
    assert_eq!(next(&mut live).await, m4);
}

async fn activity_stream_reports_messages_and_client_events_and_resumes(db: &TestDb) {
    let store = &db.store;
    let mut live = Box::pin(store.subscribe_activity(None).await.unwrap());
    let s = session();
    let user = staff(store, "agent").await;
    let client = store
        .create_client(NewClient {
            email: "ada@example.com".into(),
            chat_session_id: Some(s),
            ..NewClient::new("Ada")
        })
        .await
        .unwrap();
    let created = next(&mut live).await;
    match &created.event {
        Event::ClientCreated(c) => {
            assert_eq!(c.client, client);
            assert_eq!(c.chat_session_id, Some(s));
        }
        other => panic!("expected client.created, got {other:?}"),
    }
    let change = set_stage(store, client.id, Stage::Contacted, Some(user.id), "called")
        .await
        .change
        .unwrap();
    let changed = next(&mut live).await;
    assert_eq!(changed.event, Event::ClientStageChanged(change.clone()));
    let assignment = store.assign(client.id, user.id, None, "").await.unwrap();
    let assigned = next(&mut live).await;
    assert_eq!(assigned.event, Event::ClientAssigned(assignment.clone()));
    let message = store.append(s, "hello", SenderType::Client).await.unwrap();
    let said = next(&mut live).await;
    assert_eq!(said.event, Event::MessageCreated(message.clone()));
    quiet(&mut live, Duration::from_millis(300)).await;

    // Cursors print and parse, and resume right after their item: no gap, no duplicate.
    let cursor: ActivityCursor = created.cursor.to_string().parse().unwrap();
    assert_eq!(cursor, created.cursor);
    let mut resumed = Box::pin(store.subscribe_activity(Some(cursor)).await.unwrap());
    let mut rest: Vec<Event> = Vec::new();
    for _ in 0..3 {
        rest.push(next(&mut resumed).await.event);
    }
    quiet(&mut resumed, Duration::from_millis(300)).await;
    // The two logs interleave as read; each keeps its own order.
    let expected = [
        Event::ClientStageChanged(change),
        Event::ClientAssigned(assignment),
        Event::MessageCreated(message),
    ];
    for event in &expected {
        assert_eq!(rest.iter().filter(|e| *e == event).count(), 1, "{event:?}");
    }
    let mut from_last = Box::pin(store.subscribe_activity(Some(said.cursor)).await.unwrap());
    let events: Vec<Event> = {
        let mut v = Vec::new();
        let stage_pos = rest
            .iter()
            .position(|e| matches!(e, Event::ClientStageChanged(_)));
        let assign_pos = rest
            .iter()
            .position(|e| matches!(e, Event::ClientAssigned(_)));
        assert!(
            stage_pos < assign_pos,
            "client events keep their order: {rest:?}"
        );
        // After the cursor of the last item, nothing again (until something new).
        quiet(&mut from_last, Duration::from_millis(300)).await;
        let m = store.append(s, "again", SenderType::Bot).await.unwrap();
        v.push(next(&mut from_last).await.event);
        assert_eq!(v, [Event::MessageCreated(m)]);
        v
    };
    assert_eq!(events.len(), 1);
    // The beginning of time replays everything still stored, in each log's order.
    let mut all = Box::pin(
        store
            .subscribe_activity(Some(ActivityCursor::default()))
            .await
            .unwrap(),
    );
    let mut n = 0;
    while tokio::time::timeout(Duration::from_millis(500), all.next())
        .await
        .is_ok()
    {
        n += 1;
    }
    assert_eq!(n, 5, "3 client events and 2 messages");
}

/// Another store on `db`'s database, as another server would open it: on PostgreSQL it polls
/// only every minute (a NOTIFY must wake its streams); on SQLite, another process's view of
/// the file, it polls every 100 ms.
async fn another_server(db: &TestDb) -> Store {
    let poll = match db.store.kind() {
        BackendKind::Postgres => Duration::from_secs(60),
        BackendKind::Sqlite => Duration::from_millis(100),
    };
    store_polling_every(db, poll).await
}

/// A store on the test's database whose streams look at the database every `poll` (unless
/// woken).
async fn store_polling_every(db: &TestDb, poll: Duration) -> Store {
    let options = StoreOptions {
        subscription_poll: poll,
        ..Default::default()
    };
    Store::open_with(&db.url, options).await.unwrap()
}

async fn a_write_through_another_store_wakes_a_stream(db: &TestDb) {
    // On PostgreSQL the subscriber polls only every minute: the NOTIFY must wake it. On
    // SQLite another store is another process's view (one file serves one server): it polls.
    let reader = another_server(db).await;
    let s = session();
    let mut live = Box::pin(reader.subscribe_session(s, None).await.unwrap());
    let mut activity = Box::pin(reader.subscribe_activity(None).await.unwrap());
    // Let the listener connect before writing (the stream reads "now" first anyway).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = append(&db.store, s, "from B", SenderType::Client).await;
    let got = tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .expect("woken within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(got, m);
    let client = db.store.create_client(NewClient::new("Bo")).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let item = tokio::time::timeout(Duration::from_secs(5), activity.next())
            .await
            .expect("woken within 5 s")
            .unwrap()
            .unwrap();
        seen.push(item.event);
    }
    assert!(seen.contains(&Event::MessageCreated(m)));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::ClientCreated(c) if c.client.id == client.id))
    );
    drop(live);
    drop(activity);
    reader.close().await;
}

async fn a_slow_consumer_falls_behind_and_loses_nothing(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let mut live = Box::pin(store.subscribe_session(s, None).await.unwrap());
    let mut activity = Box::pin(store.subscribe_activity(None).await.unwrap());
    // Read "now" before writing.
    quiet(&mut live, Duration::from_millis(50)).await;
    // More wake-ups than the ring holds and more rows than a page, none consumed meanwhile.
    let total = crate::streams::WAKE_BUFFER + 2 * crate::streams::PAGE as usize;
    let written = append_numbered(store, s, total).await;
    for expected in &written {
        assert_eq!(&next(&mut live).await, expected);
    }
    for expected in written {
        let item: Activity = next(&mut activity).await;
        assert_eq!(item.event, Event::MessageCreated(expected));
    }
    quiet(&mut live, Duration::from_millis(200)).await;
}

async fn out_of_order_commits_are_not_skipped_by_the_activity_stream(db: &TestDb) {
    if db.store.kind() != BackendKind::Postgres || db.url.contains("pooler=transaction") {
        // SQLite has one writer: ids are taken in commit order, nothing to reorder.
        return;
    }
    use sqlx::Connection;
    let store = &db.store;
    let mut live = Box::pin(store.subscribe_activity(None).await.unwrap());
    let (early, late) = (session(), session());
    // A transaction takes its message id first and commits last.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut slow = conn.begin().await.unwrap();
    let slow_id: i64 = sqlx::query_scalar(
        "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) \
         VALUES ($1, 'taken first', 'client', now()) RETURNING id",
    )
    .bind(early.0)
    .fetch_one(&mut *slow)
    .await
    .unwrap();
    let fast = append(store, late, "committed first", SenderType::Bot).await;
    assert!(fast.id.0 > slow_id);
    // A plain "id > last" reader would give the fast one now and never the slow one.
    quiet(&mut live, Duration::from_millis(500)).await;
    slow.commit().await.unwrap();
    let first = next(&mut live).await;
    let second = next(&mut live).await;
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .map(|a| match &a.event {
            Event::MessageCreated(m) => m.id.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [slow_id, fast.id.0], "both, in commit-safe order");
    // Resuming after the first gives exactly the second.
    let mut resumed = Box::pin(store.subscribe_activity(Some(first.cursor)).await.unwrap());
    assert_eq!(next(&mut resumed).await, second);
    quiet(&mut resumed, Duration::from_millis(300)).await;
    conn.close().await.unwrap();
}

async fn erasure_clears_the_activity_log(db: &TestDb) {
    let store = &db.store;
    let (s1, s2) = (session(), session());
    let user = staff(store, "eraser").await;
    let kept = store.create_client(NewClient::new("Kept")).await.unwrap();
    let erased = client_with_chat(store, "Erased", s1).await;
    set_stage(store, erased.id, Stage::Contacted, None, "").await;
    store.assign(erased.id, user.id, None, "").await.unwrap();
    let linked = client_with_chat(store, "Linked", s2).await;
    assert_eq!(count(store, "activity_events").await, 5);
    store.erase_client(erased.id).await.unwrap();
    assert_eq!(count(store, "activity_events").await, 2);
    // Erasing a session removes the events that name it; the client's own data goes with the
    // client (deletion cascades).
    store.erase_session(s2).await.unwrap();
    assert_eq!(count(store, "activity_events").await, 1);
    store.delete_client(kept.id).await.unwrap();
    assert_eq!(count(store, "activity_events").await, 0);
    // Replaying from the beginning finds no trace of them.
    let mut replay = Box::pin(
        store
            .subscribe_activity(Some(ActivityCursor::default()))
            .await
            .unwrap(),
    );
    quiet(&mut replay, Duration::from_millis(500)).await;
    assert!(store.client(linked.id).await.is_ok());
}

fn session_reads(store: &Store) -> u64 {
    store
        .streams
        .session_reads
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn local_writes_reach_a_stream_in_memory(db: &TestDb) {
    // A long poll: every read below is one the stream chose, not a timer.
    let store = store_polling_every(db, Duration::from_secs(60)).await;
    let s = session();
    let first = store.append(s, "before", SenderType::Client).await.unwrap();
    let mut live = Box::pin(store.subscribe_session(s, None).await.unwrap());
    // Let the PostgreSQL listener connect (it makes every stream look once when it does).
    quiet(&mut live, Duration::from_millis(300)).await;
    let before = session_reads(&store);
    let mut written = Vec::new();
    for i in 0..30 {
        let m = append(&store, s, &format!("m{i}"), SenderType::Client).await;
        assert_eq!(next(&mut live).await, m, "in id order, one by one");
        written.push(m);
    }
    let reads = session_reads(&store) - before;
    assert_eq!(
        reads, 0,
        "30 local messages handed over in memory, {reads} database reads"
    );
    assert!(written.iter().all(|m| m.id > first.id));
    drop(live);
    store.close().await;
}

async fn a_stream_whose_slot_overflows_reads_the_database_and_loses_nothing(db: &TestDb) {
    let store = store_polling_every(db, Duration::from_secs(60)).await;
    let s = session();
    let mut live = Box::pin(store.subscribe_session(s, None).await.unwrap());
    quiet(&mut live, Duration::from_millis(300)).await;
    // Two messages taken in memory first (the stream now follows on)…
    let mut written = Vec::new();
    for i in 0..2 {
        let m = append(&store, s, &format!("a{i}"), SenderType::Bot).await;
        assert_eq!(next(&mut live).await, m);
        written.push(m);
    }
    let before = session_reads(&store);
    // …then more batches than a slot holds, none consumed meanwhile.
    let total = crate::streams::SLOT_DELIVERIES + 2 * crate::streams::PAGE as usize;
    let later = append_numbered(&store, s, total).await;
    for expected in &later {
        assert_eq!(&next(&mut live).await, expected);
    }
    quiet(&mut live, Duration::from_millis(200)).await;
    assert!(
        session_reads(&store) > before,
        "the overflowed slot sent the stream to the database"
    );
    // And it follows on in memory again afterwards.
    let reads = session_reads(&store);
    let m = store.append(s, "after", SenderType::Bot).await.unwrap();
    assert_eq!(next(&mut live).await, m);
    assert_eq!(session_reads(&store), reads);
    drop(live);
    store.close().await;
}

async fn local_and_remote_writers_mix_without_gaps_or_duplicates(db: &TestDb) {
    // Store `a` holds the streams; `db.store` is "another server" on the same database. On
    // PostgreSQL the remote rows arrive by NOTIFY and often carry lower ids than local rows
    // handed over in memory; on SQLite the other store is another process's view (it polls).
    let a = another_server(db).await;
    let sessions: Vec<SessionId> = (0..4).map(|_| session()).collect();
    let mut streams = Vec::new();
    for s in &sessions {
        streams.push(Box::pin(a.subscribe_session(*s, None).await.unwrap()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut writers = Vec::new();
    for w in 0..8usize {
        let store = if w % 2 == 0 {
            a.clone()
        } else {
            db.store.clone()
        };
        let sessions = sessions.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..25usize {
                let s = sessions[(w + i) % sessions.len()];
                append(&store, s, &format!("w{w} m{i}"), SenderType::Client).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    for (s, live) in sessions.iter().zip(streams.iter_mut()) {
        let stored = db.store.history(*s).await.unwrap();
        let mut got = Vec::with_capacity(stored.len());
        while got.len() < stored.len() {
            got.push(next(live).await);
        }
        assert_eq!(got, stored, "every message once, in id order");
        quiet(live, Duration::from_millis(300)).await;
    }
    assert_eq!(count(&db.store, "chat_messages").await, 200);
    drop(streams);
    a.close().await;
}
