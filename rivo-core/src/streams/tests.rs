use super::*;
use crate::chat::ChatMessage;
use crate::ids::{MessageId, SessionId};

#[test]
fn cursors_round_trip_and_refuse_garbage() {
    let cursor = ActivityCursor {
        messages: Position { tx: 7, id: 153 },
        events: Position { tx: 0, id: 9 },
    };
    assert_eq!(cursor.to_string(), "7.153.0.9");
    assert_eq!("7.153.0.9".parse::<ActivityCursor>(), Ok(cursor));
    for bad in [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "-1.2.3.4",
        "a.b.c.d",
        "1..3.4",
        "99999999999999999999.0.0.0",
    ] {
        assert!(bad.parse::<ActivityCursor>().is_err(), "{bad}");
    }
}

#[test]
fn payloads_parse_to_wakes() {
    let s = SessionId::new_random();
    let payload = format!("m{s}");
    let (wake, origin) = Wake::from_payload(&payload);
    assert!(wake.concerns_session(s));
    assert!(!wake.concerns_session(SessionId::new_random()));
    assert_eq!(origin, None);
    let payload = format!("m{s}@0123abcd");
    let (wake, origin) = Wake::from_payload(&payload);
    assert!(wake.concerns_session(s));
    assert_eq!(origin, Some("0123abcd"));
    assert!(matches!(Wake::from_payload("m*").0, Wake::AllSessions));
    assert!(matches!(Wake::from_payload("m*@x").0, Wake::AllSessions));
    assert!(matches!(Wake::from_payload("a").0, Wake::Activity));
    assert!(matches!(
        Wake::from_payload("mnot-a-uuid").0,
        Wake::AllSessions
    ));
    assert!(matches!(Wake::from_payload("").0, Wake::Everything));
}

fn message(id: i64, session: SessionId) -> ChatMessage {
    ChatMessage {
        id: MessageId(id),
        session_id: session,
        message: format!("m{id}"),
        sender_type: crate::SenderType::Client,
        data_type: crate::chat::DataType::Message,
        sent_at: chrono::Utc::now(),
    }
}

#[test]
fn a_slot_hands_over_rows_only_where_they_follow_on() {
    let routes = Routes::default();
    let (s, other) = (SessionId::new_random(), SessionId::new_random());
    let slot = routes.register(s);
    let batch = [message(5, s), message(6, other), message(7, s)];
    let marks = [
        Mark {
            session: s,
            prev: Some(10),
            next: 12,
        },
        Mark {
            session: other,
            prev: Some(3),
            next: 4,
        },
    ];
    routes.deliver(&batch, &marks);
    let (held, look) = slot.take();
    assert!(!look);
    assert_eq!(held.len(), 1, "only the session's own delivery");
    assert_eq!(
        held[0].messages.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [5, 7]
    );
    assert_eq!((held[0].prev, held[0].next), (Some(10), 12));
    // A remote wake-up for the session: look, and drop what is held.
    routes.deliver(&batch, &marks);
    routes.look(&Wake::Sessions(vec![s].into()));
    let (held, look) = slot.take();
    assert!(look && held.is_empty());
    routes.unregister(s, &slot);
    assert!(routes.slots.lock().unwrap().is_empty());
}

#[test]
fn a_full_slot_drops_its_rows_and_says_look() {
    let routes = Routes::default();
    let s = SessionId::new_random();
    let slot = routes.register(s);
    for i in 0..=SLOT_DELIVERIES as i64 {
        routes.deliver(
            &[message(i + 1, s)],
            &[Mark {
                session: s,
                prev: Some(i),
                next: i + 1,
            }],
        );
    }
    let (held, look) = slot.take();
    assert!(look, "one more than the slot holds: overflow");
    assert!(held.is_empty(), "nothing kept once it overflowed");
    // Bytes bound too: one big delivery overflows at once.
    let mut big = message(100, s);
    big.message = "x".repeat(SLOT_BYTES);
    routes.deliver(
        &[big],
        &[Mark {
            session: s,
            prev: Some(99),
            next: 100,
        }],
    );
    let (held, look) = slot.take();
    assert!(look && held.is_empty());
}

#[test]
fn own_notifications_are_recognised() {
    let routes = Routes::default();
    let payload = format!("m*@{}", routes.origin);
    let (_, origin) = Wake::from_payload(&payload);
    assert!(routes.is_own(origin));
    assert!(!routes.is_own(Some("someone-else")));
    assert!(!routes.is_own(None));
}
