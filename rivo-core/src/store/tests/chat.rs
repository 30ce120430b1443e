//! Chat messages on every backend: appending, history order and pages, listing, searching,
//! deleting, and the bot key.

use std::collections::HashSet;

use chrono::{Duration, Utc};

use super::{
    Matching, append_numbered, history_ids, ids_of, list, list_all, session, validation_fields,
};
use crate::chat::*;
use crate::*;

behaviours!(
    append_trims_and_returns_the_stored_message,
    append_rejects_blank_and_nul_without_writing_or_consuming_ids,
    history_is_per_session_oldest_first,
    history_order_breaks_sent_at_ties_by_id,
    history_pages_cover_every_message_once,
    concurrent_appends_lose_nothing_and_keep_id_order,
    message_list_filters_searches_and_counts,
    search_treats_like_metacharacters_literally,
    sessions_are_listed_and_deleted,
    messages_are_deleted_singly_and_in_bulk,
    bot_messages_need_the_bot_key_when_one_is_set,
);

async fn append_trims_and_returns_the_stored_message(store: &Store) {
    let s = session();
    let before = Utc::now() - Duration::seconds(5);
    let msg = store
        .append(s, "\u{1c}  Hello there \n", SenderType::Client)
        .await
        .unwrap();
    assert_eq!(msg.message, "Hello there");
    assert_eq!(msg.session_id, s);
    assert_eq!(msg.sender_type, SenderType::Client);
    assert!(msg.sent_at >= before && msg.sent_at <= Utc::now() + Duration::seconds(5));
    assert_eq!(
        msg.sent_at.timestamp_subsec_nanos() % 1000,
        0,
        "microsecond precision"
    );
    assert_eq!(store.message(msg.id).await.unwrap(), msg);
    assert_eq!(store.history(s).await.unwrap(), vec![msg]);
}

async fn append_rejects_blank_and_nul_without_writing_or_consuming_ids(store: &Store) {
    let s = session();
    let first = store.append(s, "one", SenderType::Bot).await.unwrap();
    for (text, expected) in [
        ("   \t\n", "This field may not be blank."),
        ("", "This field may not be blank."),
        ("a\0b", "Null characters are not allowed."),
    ] {
        let err = store.append(s, text, SenderType::Client).await.unwrap_err();
        assert_eq!(
            validation_fields(err),
            vec![("message".to_owned(), expected.to_owned())]
        );
    }
    let second = store.append(s, "two", SenderType::Client).await.unwrap();
    assert_eq!(second.id.0, first.id.0 + 1, "rejected input consumed an id");
    assert_eq!(store.history(s).await.unwrap().len(), 2);
}

async fn history_is_per_session_oldest_first(store: &Store) {
    let (a, b) = (session(), session());
    let a1 = store.append(a, "a1", SenderType::Client).await.unwrap();
    let b1 = store.append(b, "b1", SenderType::Client).await.unwrap();
    let a2 = store.append(a, "a2", SenderType::Bot).await.unwrap();
    assert_eq!(store.history(a).await.unwrap(), vec![a1, a2]);
    assert_eq!(store.history(b).await.unwrap(), vec![b1]);
    assert!(store.history(session()).await.unwrap().is_empty());
}

async fn history_order_breaks_sent_at_ties_by_id(store: &Store) {
    let s = session();
    let ids = ids_of(&append_numbered(store, s, 5).await);
    // Give every message the same timestamp, and a later one to the first: order must follow
    // sent_at first, then id.
    store
        .execute_raw("UPDATE chat_messages SET sent_at = (SELECT min(sent_at) FROM chat_messages)")
        .await
        .unwrap();
    let later = match store.kind() {
        BackendKind::Postgres => "now() + interval '1 hour'".to_owned(),
        BackendKind::Sqlite => format!("'{}'", (Utc::now() + Duration::hours(1)).to_rfc3339()),
    };
    store
        .execute_raw(&format!(
            "UPDATE chat_messages SET sent_at = {later} WHERE id = {}",
            ids[0]
        ))
        .await
        .unwrap();
    let order = history_ids(store, s).await;
    assert_eq!(order, vec![ids[1], ids[2], ids[3], ids[4], ids[0]]);
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.history_page(s, cursor, 2).await.unwrap();
        paged.extend(page.messages.iter().map(|m| m.id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, order);
}

async fn history_pages_cover_every_message_once(store: &Store) {
    let s = session();
    append_numbered(store, s, 25).await;
    let all = store.history(s).await.unwrap();
    let first = store.history_page(s, None, 10).await.unwrap();
    assert_eq!(first.messages, all[..10]);
    let second = store.history_page(s, first.next, 10).await.unwrap();
    assert_eq!(second.messages, all[10..20]);
    let third = store.history_page(s, second.next, 10).await.unwrap();
    assert_eq!(third.messages, all[20..]);
    assert_eq!(third.next, None);
    let exact = store.history_page(s, None, 25).await.unwrap();
    assert_eq!(exact.messages.len(), 25);
    assert_eq!(exact.next, None);
    // A cursor survives its string form.
    let cursor: HistoryCursor = first.next.unwrap().to_string().parse().unwrap();
    assert_eq!(
        store.history_page(s, Some(cursor), 10).await.unwrap(),
        second
    );
}

async fn concurrent_appends_lose_nothing_and_keep_id_order(store: &Store) {
    let one = session();
    let many: Vec<SessionId> = (0..8).map(|_| session()).collect();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let store = store.clone();
        let target = if w % 2 == 0 { one } else { many[w % 8] };
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..10 {
                let m = store
                    .append(target, &format!("w{w}-{i}"), SenderType::Client)
                    .await
                    .unwrap();
                ids.push(m.id);
            }
            ids
        }));
    }
    let mut acknowledged = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(acknowledged.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(acknowledged.len(), 640);
    let mut stored = HashSet::new();
    for s in std::iter::once(one).chain(many.iter().copied()) {
        let ids = history_ids(store, s).await;
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "history order disagrees with ids");
        stored.extend(ids);
    }
    assert_eq!(stored, acknowledged);
}

async fn message_list_filters_searches_and_counts(store: &Store) {
    let (a, b) = (session(), session());
    for i in 0..6 {
        let sender = if i % 2 == 0 {
            SenderType::Client
        } else {
            SenderType::Bot
        };
        store
            .append(a, &format!("Loan question {i}"), sender)
            .await
            .unwrap();
    }
    store
        .append(b, "something else", SenderType::Bot)
        .await
        .unwrap();
    let page = list(
        store,
        &MessageFilter {
            session_id: Some(a),
            sender_type: Some(SenderType::Bot),
            ..Default::default()
        },
        Sort::asc(MessageSort::SentAt),
        PageRequest::first(2),
    )
    .await;
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 2);
    assert!(
        page.items
            .iter()
            .all(|m| m.sender_type == SenderType::Bot && m.session_id == a)
    );
    let search = list(
        store,
        &MessageFilter::matching("LOAN"),
        Sort::desc(MessageSort::Id),
        PageRequest::page(2, 4),
    )
    .await;
    assert_eq!(search.total, 6);
    assert_eq!(search.items.len(), 2);
    assert!(search.items[0].id > search.items[1].id);
    let all = store.history(a).await.unwrap();
    let ranged = list_all(
        store,
        &MessageFilter {
            sent_from: Some(all[2].sent_at),
            sent_before: Some(all[4].sent_at),
            session_id: Some(a),
            ..Default::default()
        },
        Sort::asc(MessageSort::SentAt),
    )
    .await;
    assert!(
        ranged
            .items
            .iter()
            .all(|m| m.sent_at >= all[2].sent_at && m.sent_at < all[4].sent_at)
    );
    assert!(ranged.items.contains(&all[2]) && !ranged.items.contains(&all[4]));
    let beyond = list(
        store,
        &MessageFilter::default(),
        Sort::asc(MessageSort::Id),
        PageRequest::page(99, 10),
    )
    .await;
    assert_eq!((beyond.items.len(), beyond.total), (0, 7));
}

async fn search_treats_like_metacharacters_literally(store: &Store) {
    let s = session();
    for text in [
        "100% sure",
        "100 percent",
        "a_b",
        "axb",
        r"back\slash",
        "it's",
    ] {
        store.append(s, text, SenderType::Client).await.unwrap();
    }
    for (query, expected) in [
        ("0%", 1),
        ("a_b", 1),
        (r"\s", 1),
        ("'", 1),
        ("%", 1),
        ("_", 1),
    ] {
        let page = list_all(
            store,
            &MessageFilter::matching(query),
            Sort::asc(MessageSort::Id),
        )
        .await;
        assert_eq!(page.total, expected, "search {query:?}");
    }
}

async fn sessions_are_listed_and_deleted(store: &Store) {
    let (a, b) = (session(), session());
    store.append(a, "first", SenderType::Client).await.unwrap();
    store.append(b, "hello", SenderType::Client).await.unwrap();
    store
        .append(a, "needle here", SenderType::Bot)
        .await
        .unwrap();
    let page = store
        .list_sessions(&SessionFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].session_id, a, "most recently active first");
    assert_eq!(page.items[0].message_count, 2);
    assert!(page.items[0].first_sent_at <= page.items[0].last_sent_at);
    let found = store
        .list_sessions(&SessionFilter::matching("NEEDLE"), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(
        found.items[0].message_count, 2,
        "counts every message of a matching session"
    );
    assert_eq!(store.delete_session(a).await.unwrap(), 2);
    assert!(store.history(a).await.unwrap().is_empty());
    assert_eq!(store.history(b).await.unwrap().len(), 1);
}

async fn messages_are_deleted_singly_and_in_bulk(store: &Store) {
    let s = session();
    let ids = ids_of(&append_numbered(store, s, 5).await);
    store.delete_message(ids[0]).await.unwrap();
    assert!(matches!(
        store.delete_message(ids[0]).await,
        Err(Error::NotFound { entity: "message" })
    ));
    assert_eq!(
        store
            .delete_messages(&[ids[1], ids[2], MessageId(-1)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.delete_messages(&[]).await.unwrap(), 0);
    // More ids than one bulk delete takes: refused on `ids`, and nothing is deleted.
    let too_many = vec![ids[3]; MAX_BULK_IDS + 1];
    match store.delete_messages(&too_many).await {
        Err(Error::Validation(errors)) => assert_eq!(
            errors.field("ids"),
            vec![&Rule::TooManyItems { max: MAX_BULK_IDS }]
        ),
        other => panic!("expected a validation error on ids, got {other:?}"),
    }
    let left = history_ids(store, s).await;
    assert_eq!(left, vec![ids[3], ids[4]]);
}

/// Issue 15, finding 13: with a bot key, `bot` messages need it; visitors still post.
async fn bot_messages_need_the_bot_key_when_one_is_set(store: &Store) {
    use crate::chat_guard::{ChatPolicy, PostOrigin};
    let policy = ChatPolicy {
        bot_key: Some("s3cret-bot-key".into()),
        ..ChatPolicy::default()
    };
    let s = session();
    let with = |key| PostOrigin {
        client_address: None,
        bot_key: key,
    };
    for key in [None, Some("wrong"), Some("")] {
        assert!(matches!(
            store
                .append_guarded(s, "forged", SenderType::Bot, with(key), &policy)
                .await,
            Err(Error::BotKeyRequired)
        ));
    }
    store
        .append_guarded(s, "hi", SenderType::Client, with(None), &policy)
        .await
        .unwrap();
    store
        .append_guarded(
            s,
            "hello",
            SenderType::Bot,
            with(Some("s3cret-bot-key")),
            &policy,
        )
        .await
        .unwrap();
    // Without a key configured anyone may post as bot (the original's behaviour).
    store
        .append_guarded(
            s,
            "open",
            SenderType::Bot,
            with(None),
            &ChatPolicy::default(),
        )
        .await
        .unwrap();
    let senders: Vec<SenderType> = store
        .history(s)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.sender_type)
        .collect();
    assert_eq!(
        senders,
        [SenderType::Client, SenderType::Bot, SenderType::Bot]
    );
}
