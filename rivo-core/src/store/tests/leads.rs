//! Chat-to-lead capture on every backend (issue 16 part 2): one client per session with the
//! later original's normalisation and one stage history row, linked messages, an existing
//! assignment never touched, one client from concurrent contact messages, the assignment
//! rules (awaiting, round-robin with a cap), sender rules, validation before any write, and
//! captured messages seen by streams and webhooks.

use super::{
    TestDb, active_assignments, count, history_ids, named_role, next, oldest_first, session,
    set_stage, staff,
};
use crate::accounts::*;
use crate::chat::*;
use crate::clients::*;
use crate::events::{Event, EventKind};
use crate::leads::*;
use crate::query::PageRequest;
use crate::webhooks::NewWebhook;
use crate::*;

db_behaviours!(
    a_session_becomes_one_normalised_lead_with_one_history_row,
    an_existing_assignment_survives_a_repeated_phone_message,
    concurrent_contact_messages_of_one_session_make_one_client,
    round_robin_respects_the_role_the_cap_and_open_leads,
    only_client_messages_set_contact_details_unless_configured,
    invalid_contact_details_write_nothing,
    captured_messages_reach_streams_and_webhooks,
);

async fn history_rows(store: &Store, client: ClientId) -> Vec<StageChange> {
    let filter = StageChangeFilter {
        client_id: Some(client),
        ..Default::default()
    };
    oldest_first(store, &filter).await
}

/// Sends name, email and phone for `s`, returning the last answer.
async fn complete(store: &Store, s: SessionId, name: &str) -> Captured {
    let c = SenderType::Client;
    store.capture(s, name, c, DataType::Name).await.unwrap();
    let email = format!("{}@Example.com", name.replace(' ', "."));
    store.capture(s, &email, c, DataType::Email).await.unwrap();
    store
        .capture(s, "+1 (555) 123-4567", c, DataType::Phone)
        .await
        .unwrap()
}

async fn a_session_becomes_one_normalised_lead_with_one_history_row(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let c = SenderType::Client;
    let first = store
        .capture(s, "I want to refinance my 300k loan", c, DataType::Message)
        .await
        .unwrap();
    assert_eq!((first.client, first.created), (None, false));
    let named = store
        .capture(s, "  mary o'brien-smith ", c, DataType::Name)
        .await
        .unwrap();
    assert!(named.created && !named.completed);
    let emailed = store
        .capture(s, "Mary.OBrien@Example.COM", c, DataType::Email)
        .await
        .unwrap();
    assert!(!emailed.created && !emailed.completed);
    let phoned = store
        .capture(s, "+1 (555) 123-4567", c, DataType::Phone)
        .await
        .unwrap();
    assert!(phoned.completed && !phoned.created);
    assert_eq!(count(store, "clients").await, 1);
    let client = phoned.client.unwrap();
    assert_eq!(
        (
            client.name.as_str(),
            client.email.as_str(),
            client.phone.as_str()
        ),
        (
            "Mary O'Brien-Smith",
            "mary.obrien@example.com",
            "15551234567"
        )
    );
    assert_eq!(client.current_stage, Stage::Lead);
    // The message is stored as sent (trimmed), with its data type.
    let history = store.history(s).await.unwrap();
    let kinds: Vec<(DataType, &str)> = history
        .iter()
        .map(|m| (m.data_type, m.message.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (DataType::Message, "I want to refinance my 300k loan"),
            (DataType::Name, "mary o'brien-smith"),
            (DataType::Email, "Mary.OBrien@Example.COM"),
            (DataType::Phone, "+1 (555) 123-4567"),
        ]
    );
    // One stage history row, written when the client was created; the session links it.
    let rows = history_rows(store, client.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].from_stage, rows[0].to_stage), (None, Stage::Lead));
    let sessions = store
        .list_sessions(&SessionFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(sessions.items[0].client_id, Some(client.id));
    assert_eq!(sessions.items[0].message_count, 4);
    let context = store.context(client.id).await.unwrap();
    assert_eq!(context.chat_session_id, Some(s));
    // Awaiting assignment: one active row with nobody.
    let active = active_assignments(store, client.id).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].assigned_to, None);
    assert_eq!(phoned.assignment.unwrap().id, active[0].id);
    // A later plain message is linked too, and changes nothing.
    let later = store
        .capture(s, "thanks", SenderType::Bot, DataType::Message)
        .await
        .unwrap();
    assert_eq!(later.client.map(|c| c.id), Some(client.id));
    // The same name again: updated in place, no second client, no new history.
    store
        .capture(s, "MARY SMITH", c, DataType::Name)
        .await
        .unwrap();
    assert_eq!(count(store, "clients").await, 1);
    assert_eq!(store.client(client.id).await.unwrap().name, "Mary Smith");
    assert_eq!(history_rows(store, client.id).await.len(), 1);
    // Unicode names are accepted.
    let other = store
        .capture(session(), "José Núñez", c, DataType::Name)
        .await
        .unwrap();
    assert_eq!(other.client.unwrap().name, "José Núñez");
}

async fn an_existing_assignment_survives_a_repeated_phone_message(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let done = complete(store, s, "ada lovelace").await;
    let client = done.client.unwrap().id;
    let csm = staff(store, "csm").await;
    let assigned = store.assign(client, csm.id, None, "mine").await.unwrap();
    store
        .capture(s, "555 123 4567 890", SenderType::Client, DataType::Phone)
        .await
        .unwrap();
    store
        .capture(s, "Ada King", SenderType::Client, DataType::Name)
        .await
        .unwrap();
    let active = active_assignments(store, client).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, assigned.id);
    assert_eq!(active[0].assigned_to, Some(csm.id));
    assert_eq!(history_rows(store, client).await.len(), 1);
    assert_eq!(store.client(client).await.unwrap().phone, "5551234567890");
    // A lead whose assignee was set before it completed keeps it at completion too.
    let t = session();
    let early = store
        .capture(t, "Grace Hopper", SenderType::Client, DataType::Name)
        .await
        .unwrap()
        .client
        .unwrap();
    store.assign(early.id, csm.id, None, "").await.unwrap();
    let done = complete(store, t, "grace hopper").await;
    assert!(done.completed);
    assert_eq!(done.assignment, None);
    assert_eq!(
        active_assignments(store, early.id).await[0].assigned_to,
        Some(csm.id)
    );
}

async fn concurrent_contact_messages_of_one_session_make_one_client(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let kinds = [
        (DataType::Name, "Linus Torvalds"),
        (DataType::Email, "linus@example.org"),
        (DataType::Phone, "+358 40 123 45 67"),
        (DataType::Name, "linus benedict torvalds"),
    ];
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let (kind, text) = kinds[i % kinds.len()];
            tokio::spawn(async move {
                store
                    .capture(s, text, SenderType::Client, kind)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    let mut completed = 0;
    for task in tasks {
        let captured = task.await.unwrap();
        created += usize::from(captured.created);
        completed += usize::from(captured.completed);
    }
    assert_eq!(count(store, "clients").await, 1);
    assert_eq!((created, completed), (1, 1));
    assert_eq!(count(store, "client_contexts").await, 1);
    assert_eq!(count(store, "client_stage_history").await, 1);
    assert_eq!(count(store, "client_assignments").await, 1);
    assert_eq!(store.history(s).await.unwrap().len(), 16);
    let ids = history_ids(store, s).await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "history order agrees with ids");
}

async fn round_robin_respects_the_role_the_cap_and_open_leads(db: &TestDb) {
    let role = named_role(&db.store, "CSM").await;
    let member = |name: &'static str, active: bool| {
        let store = db.store.clone();
        async move {
            store
                .create_user(NewUser {
                    role_id: Some(role.id),
                    is_active: active,
                    ..NewUser::new(format!("{name}@example.com"), name)
                })
                .await
                .unwrap()
        }
    };
    let ann = member("ann", true).await;
    let bob = member("bob", true).await;
    member("gone", false).await;
    staff(&db.store, "outsider").await;
    let round_robin = |role: &str, cap| LeadCaptureOptions {
        assignment: AssignmentRule::RoundRobin {
            role: role.into(),
            cap,
        },
        ..Default::default()
    };
    let store = db.store.with_lead_capture(round_robin("CSM", 1));
    let assignee = |c: &Captured| c.assignment.as_ref().map(|a| a.assigned_to);
    let first = complete(&store, session(), "one").await;
    let second = complete(&store, session(), "two").await;
    let third = complete(&store, session(), "three").await;
    assert_eq!(assignee(&first), Some(Some(ann.id)));
    assert_eq!(assignee(&second), Some(Some(bob.id)));
    // Everyone is at the cap: awaiting assignment.
    assert_eq!(assignee(&third), Some(None));
    // A lost lead is not open: Ann has room again.
    set_stage(&store, first.client.unwrap().id, Stage::Lost, None, "").await;
    let fourth = complete(&store, session(), "four").await;
    assert_eq!(assignee(&fourth), Some(Some(ann.id)));
    // With a larger cap the turn goes to whoever waited longest (Bob, then Ann).
    let store = store.with_lead_capture(round_robin("CSM", 10));
    let fifth = complete(&store, session(), "five").await;
    let sixth = complete(&store, session(), "six").await;
    assert_eq!(assignee(&fifth), Some(Some(bob.id)));
    assert_eq!(assignee(&sixth), Some(Some(ann.id)));
    // An unknown role: awaiting.
    let store = store.with_lead_capture(round_robin("nobody", 10));
    assert_eq!(
        assignee(&complete(&store, session(), "seven").await),
        Some(None)
    );
}

async fn only_client_messages_set_contact_details_unless_configured(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let bot = store
        .capture(s, "Ada Lovelace", SenderType::Bot, DataType::Name)
        .await
        .unwrap();
    assert_eq!((bot.client, bot.created), (None, false));
    assert_eq!(bot.message.data_type, DataType::Name);
    assert_eq!(count(store, "clients").await, 0);
    let store = store.with_lead_capture(LeadCaptureOptions {
        any_sender: true,
        ..Default::default()
    });
    let bot = store
        .capture(s, "Ada Lovelace", SenderType::Bot, DataType::Name)
        .await
        .unwrap();
    assert!(bot.created);
    assert_eq!(bot.client.unwrap().name, "Ada Lovelace");
}

async fn invalid_contact_details_write_nothing(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let c = SenderType::Client;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let too_many_digits = "1".repeat(21);
    let cases = [
        (DataType::Name, "J", "Name must be at least 2 characters"),
        (
            DataType::Name,
            "R2-D2",
            "Name can only contain letters, spaces, dots, hyphens, and apostrophes",
        ),
        (
            DataType::Email,
            "not an email",
            "Please provide a valid email address",
        ),
        (
            DataType::Email,
            long_email.as_str(),
            "Email must be at most 254 characters",
        ),
        (
            DataType::Phone,
            "555-1234",
            "Phone number must have at least 10 digits",
        ),
        (
            DataType::Phone,
            too_many_digits.as_str(),
            "Phone number must have at most 20 digits",
        ),
        (DataType::Phone, "   ", "This field may not be blank."),
    ];
    for (kind, text, expected) in cases {
        let err = store.capture(s, text, c, kind).await.unwrap_err();
        assert_eq!(
            super::validation_fields(err),
            [("message".to_owned(), expected.to_owned())],
            "{kind} {text:?}"
        );
    }
    assert_eq!(count(store, "clients").await, 0);
    assert_eq!(count(store, "chat_messages").await, 0);
    assert_eq!(count(store, "chat_sessions").await, 0);
    // The longest values the columns hold are accepted.
    let email = format!("{}@example.com", "a".repeat(242));
    assert_eq!(email.len(), 254);
    store.capture(s, &email, c, DataType::Email).await.unwrap();
    store
        .capture(s, &"9".repeat(20), c, DataType::Phone)
        .await
        .unwrap();
    store
        .capture(s, &"a".repeat(100), c, DataType::Name)
        .await
        .unwrap();
    assert_eq!(count(store, "clients").await, 1);
}

async fn captured_messages_reach_streams_and_webhooks(db: &TestDb) {
    let store = &db.store;
    store
        .create_webhook(NewWebhook {
            url: "https://hooks.example.com/rivo".into(),
            events: vec![
                EventKind::MessageCreated,
                EventKind::ClientCreated,
                EventKind::ClientAssigned,
            ],
            secret: None,
            active: true,
            description: "test".into(),
        })
        .await
        .unwrap();
    let s = session();
    let mut session_stream = Box::pin(store.subscribe_session(s, None).await.unwrap());
    let mut activity = Box::pin(store.subscribe_activity(None).await.unwrap());
    let captured = store
        .capture(s, "Ada Lovelace", SenderType::Client, DataType::Name)
        .await
        .unwrap();
    let seen = next(&mut session_stream).await;
    assert_eq!(seen, captured.message);
    assert_eq!(seen.data_type, DataType::Name);
    let mut events = Vec::new();
    for _ in 0..2 {
        events.push(next(&mut activity).await.event);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::MessageCreated(m) if m.id == captured.message.id)),
        "{events:?}"
    );
    let client = captured.client.unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::ClientCreated(c)
            if c.client.id == client.id && c.chat_session_id == Some(s))),
        "{events:?}"
    );
    let outbox = store
        .fetch_texts("SELECT event_type FROM webhook_deliveries ORDER BY event_type")
        .await
        .unwrap();
    assert_eq!(outbox, ["client.created", "message.created"]);
}
