//! Personal data on every backend: retention in bounded batches and once across stores,
//! erasure that leaves nothing readable (audit log included), exports that round-trip, and
//! finding unlinked messages by email or phone.

use std::time::Duration;

use serde_json::json;

use super::{
    Matching, TestDb, append, client_with_chat, count, list, oldest_first, session, set_stage,
    staff,
};
use crate::audit::*;
use crate::chat::*;
use crate::clients::*;
use crate::privacy::*;
use crate::*;

db_behaviours!(
    retention_deletes_old_sessions_in_bounded_batches_and_keeps_clients,
    retention_runs_once_across_stores,
    erasing_a_client_leaves_nothing_readable,
    erasing_a_session_clears_its_link_and_scrubs_its_audit,
    exports_round_trip_and_equal_the_store,
    transcripts_quote_commas_quotes_and_newlines,
    unlinked_messages_are_found_by_email_and_phone,
);

const DAY: Duration = Duration::from_secs(86_400);

/// A session of `n` messages whose every time is moved to `days_ago` days back (the store
/// never writes past times itself).
async fn old_session(store: &Store, n: usize, days_ago: i64, text: &str) -> SessionId {
    let s = session();
    for i in 0..n {
        append(store, s, &format!("{text} {i}"), SenderType::Client).await;
    }
    let at = (chrono::Utc::now() - chrono::Duration::days(days_ago))
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string();
    store
        .execute_raw(&format!(
            "UPDATE chat_messages SET sent_at = '{at}' WHERE session_id IN \
             (SELECT session_id FROM chat_sessions WHERE last_message_preview LIKE '{text} %')"
        ))
        .await
        .unwrap();
    store
        .execute_raw(&format!(
            "UPDATE chat_sessions SET first_message_at = '{at}', last_message_at = '{at}' \
             WHERE last_message_preview LIKE '{text} %'"
        ))
        .await
        .unwrap();
    s
}

async fn all_audit(store: &Store) -> Vec<AuditEntry> {
    list(
        store,
        &AuditFilter::default(),
        Sort::asc(AuditSort::Id),
        PageRequest::page(1, 1000),
    )
    .await
    .items
}

async fn retention_deletes_old_sessions_in_bounded_batches_and_keeps_clients(db: &TestDb) {
    let store = &db.store;
    let mut old = Vec::new();
    for i in 0..7 {
        old.push(old_session(store, 2, 100, &format!("old{i}")).await);
    }
    let mut recent = Vec::new();
    for i in 0..3 {
        recent.push(old_session(store, 2, 10, &format!("new{i}")).await);
    }
    let fresh = session();
    append(store, fresh, "just now", SenderType::Client).await;
    let old_lead = client_with_chat(store, "Old lead", old[0]).await;
    let new_lead = client_with_chat(store, "New lead", recent[0]).await;

    let preview = store.preview_retention(90 * DAY).await.unwrap();
    assert_eq!((preview.sessions, preview.messages), (7, 14));
    // A dry run deletes nothing.
    assert_eq!(count(store, "chat_messages").await, 21);

    let policy = RetentionPolicy {
        batch_size: 3,
        ..RetentionPolicy::new(90 * DAY)
    };
    let report = store.run_retention(&policy).await.unwrap();
    assert!(report.ran);
    assert_eq!((report.sessions, report.messages), (7, 14));
    assert_eq!(
        report.batches,
        [
            RetentionBatch {
                sessions: 3,
                messages: 6
            },
            RetentionBatch {
                sessions: 3,
                messages: 6
            },
            RetentionBatch {
                sessions: 1,
                messages: 2
            },
        ]
    );
    for s in &old {
        assert!(store.history(*s).await.unwrap().is_empty());
    }
    for s in recent.iter().chain([&fresh]) {
        assert!(!store.history(*s).await.unwrap().is_empty());
    }
    assert_eq!(count(store, "chat_sessions").await, 4);
    assert_eq!(count(store, "chat_messages").await, 7);
    // Clients stay; the link to a deleted conversation is cleared, others are kept.
    assert_eq!(store.client(old_lead.id).await.unwrap().name, "Old lead");
    assert_eq!(
        store.context(old_lead.id).await.unwrap().chat_session_id,
        None
    );
    assert_eq!(
        store.context(new_lead.id).await.unwrap().chat_session_id,
        Some(recent[0])
    );

    // One summary entry for the run, with counts and cutoff and no message text.
    let entries: Vec<_> = all_audit(store)
        .await
        .into_iter()
        .filter(|e| e.object_type == "retention")
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.action, AuditAction::Delete);
    assert_eq!(entry.actor_id, None);
    assert_eq!(entry.changes["sessions"], 7);
    assert_eq!(entry.changes["messages"], 14);
    assert_eq!(entry.changes["batches"], 3);
    assert_eq!(entry.changes["batch_size"], 3);
    assert_eq!(
        serde_json::from_value::<chrono::DateTime<chrono::Utc>>(entry.changes["cutoff"].clone())
            .unwrap(),
        report.cutoff
    );
    assert!(!serde_json::to_string(entry).unwrap().contains("old"));

    // Nothing left to do: a second run deletes nothing and writes no entry.
    let again = store.run_retention(&policy).await.unwrap();
    assert!(again.ran);
    assert_eq!((again.sessions, again.batches.len()), (0, 0));
    assert_eq!(count(store, "audit_log").await, 1);
}

async fn retention_runs_once_across_stores(db: &TestDb) {
    let a = &db.store;
    let b = Store::open(&db.url).await.unwrap();
    for i in 0..4 {
        old_session(a, 3, 30, &format!("gone{i}")).await;
    }
    let policy = RetentionPolicy {
        batch_size: 2,
        hold_for: 3600 * Duration::from_secs(1),
        ..RetentionPolicy::new(7 * DAY)
    };
    // Two stores start at once: exactly one runs.
    let (ra, rb) = tokio::join!(a.run_retention(&policy), b.run_retention(&policy));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.ran != rb.ran, "exactly one runs: {ra:?} {rb:?}");
    let ran = if ra.ran { &ra } else { &rb };
    assert_eq!((ran.sessions, ran.messages, ran.batches.len()), (4, 12, 2));
    let skipped = if ra.ran { &rb } else { &ra };
    assert_eq!((skipped.sessions, skipped.batches.len()), (0, 0));
    assert_eq!(count(a, "audit_log").await, 1);

    // The finished run holds the lease for `hold_for`: the other store's scheduled run skips
    // and its old sessions stay until the lease has expired.
    let stays = old_session(a, 1, 30, "stays").await;
    let skipped = b.run_retention(&policy).await.unwrap();
    assert!(!skipped.ran);
    assert_eq!(a.history(stays).await.unwrap().len(), 1);
    assert_eq!(count(a, "audit_log").await, 1);

    a.execute_raw("UPDATE maintenance_leases SET expires_at = 0")
        .await
        .unwrap();
    let later = b.run_retention(&policy).await.unwrap();
    assert!(later.ran);
    assert_eq!(later.sessions, 1);
    assert!(a.history(stays).await.unwrap().is_empty());
    assert_eq!(count(a, "audit_log").await, 2);
    b.close().await;
}

/// `value` as JSON text.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

/// Every readable trace of `needles` through the store's read API, as text.
async fn readable_everywhere(store: &Store) -> String {
    let mut out = String::new();
    let clients = list(
        store,
        &ClientFilter::default(),
        Sort::asc(ClientSort::CreatedAt),
        PageRequest::page(1, 1000),
    )
    .await;
    out += &json_text(&clients.items);
    for c in &clients.items {
        out += &json_text(&store.export_client(c.id).await.unwrap());
    }
    out += &json_text(&oldest_first(store, &ContextFilter::default()).await);
    out += &json_text(&oldest_first(store, &StageChangeFilter::default()).await);
    out += &json_text(&oldest_first(store, &AssignmentFilter::default()).await);
    let sessions = store
        .list_sessions(&SessionFilter::default(), PageRequest::page(1, 1000))
        .await
        .unwrap();
    out += &json_text(&sessions.items);
    let messages = list(
        store,
        &MessageFilter::default(),
        Sort::asc(MessageSort::Id),
        PageRequest::page(1, 1000),
    )
    .await;
    out += &json_text(&messages.items);
    out += &json_text(&all_audit(store).await);
    out
}

async fn erasing_a_client_leaves_nothing_readable(db: &TestDb) {
    let store = &db.store;
    let admin = staff(store, "dpo").await;
    let as_admin = store.acting_as(&admin);
    let chat = session();
    for text in [
        "Hi, I'm Ada Lovelace",
        "write to ada.lovelace@example.org or call +44 20 7946 0000",
    ] {
        store.append(chat, text, SenderType::Client).await.unwrap();
    }
    let ada = as_admin
        .create_client(NewClient {
            email: "ada.lovelace@example.org".into(),
            phone: "+44 20 7946 0000".into(),
            chat_session_id: Some(chat),
            context: json!({ "note": "prefers-evenings" })
                .as_object()
                .unwrap()
                .clone(),
            ..NewClient::new("Ada Lovelace")
        })
        .await
        .unwrap();
    as_admin
        .update_client(
            ada.id,
            ClientUpdate {
                phone: Some("+44 20 7946 0001".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    as_admin
        .change_context(
            ada.id,
            &[ContextChange::Set("passport".into(), json!("PX-123456"))],
        )
        .await
        .unwrap();
    set_stage(
        &as_admin,
        ada.id,
        Stage::Contacted,
        Some(admin.id),
        "rang Ada at home",
    )
    .await;
    as_admin
        .assign(ada.id, admin.id, Some(admin.id), "Ada is VIP")
        .await
        .unwrap();
    // A message deleted earlier left its preview in the audit log.
    let gone = append(
        store,
        chat,
        "Ada's old address: 12 Crescent",
        SenderType::Client,
    )
    .await;
    as_admin.delete_message(gone.id).await.unwrap();

    // Someone else's data, untouched by the erasure.
    let bob_chat = session();
    append(store, bob_chat, "Bob here", SenderType::Client).await;
    let bob = client_with_chat(&as_admin, "Bob", bob_chat).await;

    let before = readable_everywhere(store).await;
    for needle in [
        "Ada",
        "ada.lovelace",
        "7946",
        "prefers-evenings",
        "PX-123456",
        "Crescent",
    ] {
        assert!(before.contains(needle), "{needle} readable before");
    }

    let erasure = as_admin.erase_client(ada.id).await.unwrap();
    assert_eq!(erasure.client_id, ada.id);
    assert_eq!((erasure.sessions, erasure.messages), (1, 2));
    assert_eq!((erasure.stage_changes, erasure.assignments), (2, 1));
    assert!(erasure.audit_entries_scrubbed >= 5, "{erasure:?}");

    let after = readable_everywhere(store).await;
    // Needles a random UUID or a timestamp cannot contain ("ada" and "7946" alone can:
    // a session id ending in `…16ada` failed this once).
    for needle in [
        "Ada",
        "ada.lovelace",
        "Lovelace",
        "7946 000",
        "prefers-evenings",
        "PX-123456",
        "rang",
        "VIP",
        "Crescent",
        &chat.to_string(),
    ] {
        assert!(!after.contains(needle), "{needle} still readable: {after}");
    }
    // Direct reads and searches.
    assert!(matches!(
        store.client(ada.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.context(ada.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.export_client(ada.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.export_session(chat).await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.history(chat).await.unwrap().is_empty());
    let found = store
        .list_sessions(
            &SessionFilter::matching("lovelace"),
            PageRequest::page(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(found.total, 0);
    let audit_search = list(
        store,
        &AuditFilter::matching("Ada"),
        Sort::desc(AuditSort::Id),
        PageRequest::page(1, 10),
    )
    .await;
    assert_eq!(audit_search.total, 0);
    assert!(
        store
            .find_unlinked_messages(
                &PersonalDataQuery::Email("ada.lovelace@example.org".into()),
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    for table in [
        "client_contexts WHERE client_id = ",
        "client_stage_history WHERE client_id = ",
        "client_assignments WHERE client_id = ",
        "chat_sessions WHERE client_id = ",
    ] {
        assert_eq!(count(store, &format!("{table}{}", ada.id)).await, 0);
    }

    // The erasure itself is recorded: who, when, ids and counts.
    let entries = all_audit(store).await;
    let entry = entries.last().unwrap();
    assert_eq!(entry.action, AuditAction::Delete);
    assert_eq!(
        (entry.object_type.as_str(), entry.object_id.clone()),
        ("client", ada.id.to_string())
    );
    assert_eq!(entry.object_repr, "[erased]");
    assert_eq!(entry.actor_id, Some(admin.id));
    assert_eq!(entry.changes["erasure"]["messages"], 2);
    assert_eq!(entry.changes["erasure"]["sessions"], 1);
    // Earlier entries about her keep who and when, not what.
    let about_her: Vec<_> = entries
        .iter()
        .filter(|e| e.object_type == "client" && e.object_id == ada.id.to_string())
        .collect();
    assert_eq!(about_her.len(), 3, "create, update, erasure");
    assert!(
        about_her[..2]
            .iter()
            .all(|e| e.changes == json!({ "erased": true }))
    );

    // Bob is intact.
    assert_eq!(store.client(bob.id).await.unwrap().name, "Bob");
    assert_eq!(store.history(bob_chat).await.unwrap().len(), 1);
    assert_eq!(
        store.context(bob.id).await.unwrap().chat_session_id,
        Some(bob_chat)
    );
    assert!(matches!(
        as_admin.erase_client(ada.id).await,
        Err(Error::NotFound { .. })
    ));
}

async fn erasing_a_session_clears_its_link_and_scrubs_its_audit(db: &TestDb) {
    let store = &db.store;
    let admin = staff(store, "dpo").await;
    let as_admin = store.acting_as(&admin);
    let chat = session();
    append(
        store,
        chat,
        "I am Grace, grace@example.net",
        SenderType::Client,
    )
    .await;
    append(store, chat, "Thanks Grace", SenderType::Bot).await;
    let grace = client_with_chat(store, "G.", chat).await;
    let keep = session();
    append(store, keep, "unrelated", SenderType::Client).await;

    let erasure = as_admin.erase_session(chat).await.unwrap();
    assert_eq!(
        (erasure.messages, erasure.links_cleared),
        (2, 1),
        "{erasure:?}"
    );
    assert!(store.history(chat).await.unwrap().is_empty());
    assert!(matches!(
        store.export_session(chat).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.context(grace.id).await.unwrap().chat_session_id, None);
    assert_eq!(store.history(keep).await.unwrap().len(), 1);
    let after = readable_everywhere(store).await;
    assert!(!after.contains("grace@example.net") && !after.contains("Thanks"));
    let entries = all_audit(store).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].object_type, "chatsession");
    assert_eq!(entries[0].object_id, chat.to_string());
    assert_eq!(entries[0].changes["erasure"]["messages"], 2);
    assert!(matches!(
        as_admin.erase_session(chat).await,
        Err(Error::NotFound { .. })
    ));
}

async fn exports_round_trip_and_equal_the_store(db: &TestDb) {
    let store = &db.store;
    let admin = staff(store, "agent").await;
    let chat = session();
    let texts = ["Hello, \"bot\"", "line one\nline two", "naïve café, 🎉"];
    for (i, text) in texts.iter().enumerate() {
        let sender = if i % 2 == 0 {
            SenderType::Client
        } else {
            SenderType::Bot
        };
        store.append(chat, text, sender).await.unwrap();
    }
    let client = store
        .create_client(NewClient {
            email: "lin@example.com".into(),
            phone: "555-0100".into(),
            chat_session_id: Some(chat),
            context: json!({ "budget": 1200, "tags": ["a", "b"] })
                .as_object()
                .unwrap()
                .clone(),
            ..NewClient::new("Lin")
        })
        .await
        .unwrap();
    set_stage(store, client.id, Stage::Qualified, Some(admin.id), "ok").await;
    store
        .assign(client.id, admin.id, None, "first")
        .await
        .unwrap();

    let export = store.export_client(client.id).await.unwrap();
    let json = serde_json::to_string_pretty(&export).unwrap();
    let parsed: ClientExport = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, export);
    // …and it is the data in the store.
    assert_eq!(parsed.format, EXPORT_FORMAT);
    assert_eq!(parsed.client, store.client(client.id).await.unwrap());
    assert_eq!(parsed.context, store.context(client.id).await.unwrap());
    let stages = list(
        store,
        &StageChangeFilter {
            client_id: Some(client.id),
            ..Default::default()
        },
        Sort::asc(HistorySort::CreatedAt),
        PageRequest::page(1, 100),
    )
    .await;
    assert_eq!(parsed.stage_history, stages.items);
    assert_eq!(parsed.stage_history.len(), 2);
    assert_eq!(parsed.assignments.len(), 1);
    assert_eq!(parsed.assignments[0].remarks, "first");
    assert_eq!(parsed.sessions.len(), 1);
    assert_eq!(
        parsed.sessions[0].messages,
        store.history(chat).await.unwrap()
    );
    assert_eq!(parsed.sessions[0].session.client_id, Some(client.id));

    let session_export = store.export_session(chat).await.unwrap();
    let parsed: SessionExport =
        serde_json::from_str(&serde_json::to_string(&session_export).unwrap()).unwrap();
    assert_eq!(parsed, session_export);
    assert_eq!(parsed, export.sessions[0]);
    assert_eq!(
        parsed
            .messages
            .iter()
            .map(|m| m.message.as_str())
            .collect::<Vec<_>>(),
        texts
    );
    assert!(matches!(
        store.export_session(session()).await,
        Err(Error::NotFound { .. })
    ));
}

async fn transcripts_quote_commas_quotes_and_newlines(db: &TestDb) {
    let store = &db.store;
    let chat = session();
    let a = append(store, chat, "Hi, I said \"hello\"", SenderType::Client).await;
    let b = append(store, chat, "first line\nsecond line", SenderType::Bot).await;
    let c = append(store, chat, "plain", SenderType::Client).await;
    let export = store.export_session(chat).await.unwrap();
    let micros = |m: &ChatMessage| {
        m.sent_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let secs = |m: &ChatMessage| m.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        export.transcript(TranscriptFormat::Csv),
        format!(
            "session_id,message_id,sent_at,sender_type,message\r\n\
             {chat},{},{},client,\"Hi, I said \"\"hello\"\"\"\r\n\
             {chat},{},{},bot,\"first line\nsecond line\"\r\n\
             {chat},{},{},client,plain\r\n",
            a.id,
            micros(&a),
            b.id,
            micros(&b),
            c.id,
            micros(&c)
        )
    );
    assert_eq!(
        export.transcript(TranscriptFormat::Text),
        format!(
            "Session {chat}\n\
             [{}] client: Hi, I said \"hello\"\n\
             [{}] bot: first line\n    second line\n\
             [{}] client: plain\n",
            secs(&a),
            secs(&b),
            secs(&c)
        )
    );
}

async fn unlinked_messages_are_found_by_email_and_phone(db: &TestDb) {
    let store = &db.store;
    let (u1, u2, u3, u4, linked) = (session(), session(), session(), session(), session());
    let m1 = append(
        store,
        u1,
        "Mail me at Ada.L@Example.ORG please",
        SenderType::Client,
    )
    .await;
    let m2 = append(store, u2, "call +1 (555) 010-9999", SenderType::Client).await;
    let m3 = append(store, u3, "or 1-555-010-9999 after six", SenderType::Client).await;
    append(store, u4, "room 555, floor 010", SenderType::Client).await;
    append(
        store,
        linked,
        "ada.l@example.org, 1 555 010 9999",
        SenderType::Client,
    )
    .await;
    client_with_chat(store, "Known", linked).await;

    let by_email = store
        .find_unlinked_messages(&PersonalDataQuery::Email("ada.l@example.org".into()), 100)
        .await
        .unwrap();
    assert_eq!(by_email, std::slice::from_ref(&m1));
    let by_email = store
        .find_unlinked_messages(&PersonalDataQuery::Email("ADA.L@EXAMPLE.ORG".into()), 100)
        .await
        .unwrap();
    assert_eq!(by_email, [m1]);
    for spelling in ["15550109999", "+1 555.010.9999", "(555) 010 9999"] {
        let by_phone = store
            .find_unlinked_messages(&PersonalDataQuery::Phone(spelling.into()), 100)
            .await
            .unwrap();
        assert_eq!(by_phone, [m3.clone(), m2.clone()], "{spelling}");
    }
    let one = store
        .find_unlinked_messages(&PersonalDataQuery::Phone("5550109999".into()), 1)
        .await
        .unwrap();
    assert_eq!(one, [m3]);
    for bad in [
        PersonalDataQuery::Phone("12-34".into()),
        PersonalDataQuery::Phone("call me".into()),
        PersonalDataQuery::Email("".into()),
        PersonalDataQuery::Email("no-at-sign".into()),
    ] {
        assert!(matches!(
            store.find_unlinked_messages(&bad, 10).await,
            Err(Error::Validation(_))
        ));
    }
}
