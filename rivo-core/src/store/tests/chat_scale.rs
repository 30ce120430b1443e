//! Chat at scale, on every backend: group-commit appends (several stores on one database, a
//! failing batch), the session rows kept right by appends, deletes, links and the backfill
//! migration, indexed search with unchanged matching, and bounded counts.

use std::collections::{BTreeMap, HashSet};

use super::{Matching, TestDb, append, client_with_chat, count, list, session};
use crate::chat::*;
use crate::clients::*;
use crate::*;

db_behaviours!(
    appends_from_two_stores_group_commit_keep_order_and_session_rows,
    a_failed_batch_acknowledges_no_caller_and_writes_nothing,
    deletes_keep_session_rows_right,
    session_rows_link_the_client_of_the_context,
    migration_backfills_sessions_and_search_of_existing_messages,
    indexed_search_matches_like_before,
    counts_are_exact_up_to_the_limit_then_estimated,
    keyset_pages_cover_every_session_and_message_once,
    a_batch_over_many_sessions_equals_the_recount_and_is_searchable,
    migration_0007_keeps_rows_and_search_of_a_0006_database,
    migration_0010_keeps_assignments_and_messages_of_a_0009_database,
    search_finds_a_just_written_message_and_the_index_catches_up,
);

async fn open_more(db: &TestDb, options: StoreOptions) -> Store {
    Store::open_with(&db.url, options).await.unwrap()
}

/// Every session row, as the store lists them.
async fn session_rows(store: &Store) -> BTreeMap<SessionId, SessionSummary> {
    let mut rows = BTreeMap::new();
    let mut page = 1;
    loop {
        let found = store
            .list_sessions(&SessionFilter::default(), PageRequest::page(page, 1000))
            .await
            .unwrap();
        for s in found.items {
            rows.insert(s.session_id, s);
        }
        if !found.has_next {
            return rows;
        }
        page += 1;
    }
}

/// Asserts that the session rows equal a recount from the messages of `sessions` (and that no
/// other session has a row).
async fn assert_rows_match_recount(store: &Store, sessions: &[SessionId]) {
    let rows = session_rows(store).await;
    let mut expected = BTreeMap::new();
    for s in sessions {
        let history = store.history(*s).await.unwrap();
        let Some(last) = history.last() else { continue };
        let client_id = rows.get(s).and_then(|r| r.client_id);
        expected.insert(
            *s,
            SessionSummary {
                session_id: *s,
                message_count: history.len() as u64,
                first_sent_at: history[0].sent_at,
                last_sent_at: last.sent_at,
                last_message_preview: last.message.chars().take(PREVIEW_CHARS).collect(),
                last_sender_type: last.sender_type,
                client_id,
            },
        );
    }
    assert_eq!(rows, expected, "session rows differ from a recount");
}

fn assert_history_in_id_order(history: &[ChatMessage]) {
    let ids: Vec<MessageId> = history.iter().map(|m| m.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "history order disagrees with ids");
}

async fn appends_from_two_stores_group_commit_keep_order_and_session_rows(db: &TestDb) {
    let second = open_more(db, StoreOptions::default()).await;
    let stores = [db.store.clone(), second.clone()];
    let sessions: Vec<SessionId> = (0..6).map(|_| session()).collect();
    let mut tasks = Vec::new();
    for w in 0..64usize {
        let store = stores[w % 2].clone();
        let target = sessions[w % sessions.len()];
        tasks.push(tokio::spawn(async move {
            let mut stored = Vec::new();
            for i in 0..15 {
                let sender = if i % 3 == 0 {
                    SenderType::Bot
                } else {
                    SenderType::Client
                };
                let text = format!("writer {w} message {i} {}", "x".repeat(i * 10));
                stored.push(store.append(target, &text, sender).await.unwrap());
            }
            stored
        }));
    }
    let mut acknowledged = BTreeMap::new();
    for t in tasks {
        for m in t.await.unwrap() {
            assert!(
                acknowledged.insert(m.id, m.clone()).is_none(),
                "duplicate id {}",
                m.id
            );
        }
    }
    assert_eq!(acknowledged.len(), 64 * 15);
    let mut stored = BTreeMap::new();
    for s in &sessions {
        let history = db.store.history(*s).await.unwrap();
        assert_history_in_id_order(&history);
        stored.extend(history.into_iter().map(|m| (m.id, m)));
    }
    // Each caller got exactly its own row back: id, text, sender and time as stored.
    assert_eq!(
        stored, acknowledged,
        "every acknowledged message is stored as answered"
    );
    assert_rows_match_recount(&db.store, &sessions).await;

    // The appends were combined: fewer commits than messages, and some batch held several.
    let (a, b) = (db.store.group_commit_stats(), second.group_commit_stats());
    assert_eq!(a.messages + b.messages, 64 * 15);
    assert!(a.batches + b.batches < 64 * 15, "{a:?} {b:?}");
    assert!(a.largest_batch.max(b.largest_batch) > 1, "{a:?} {b:?}");
    second.close().await;
}

/// A trigger that makes the database refuse one message text, as a failing disk or a broken
/// constraint would: a database error in the middle of a batch.
async fn install_poison(store: &Store) {
    match store.kind() {
        BackendKind::Postgres => {
            store
                .execute_raw(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.message = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; \
                     RETURN NEW; END $$",
                )
                .await
                .unwrap();
            store
                .execute_raw(
                    "CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
                     FOR EACH ROW EXECUTE FUNCTION poison()",
                )
                .await
                .unwrap();
        }
        BackendKind::Sqlite => {
            store
                .execute_raw(
                    "CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
                     WHEN new.message = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
                )
                .await
                .unwrap();
        }
    }
}

async fn a_failed_batch_acknowledges_no_caller_and_writes_nothing(db: &TestDb) {
    let store = &db.store;
    let s = session();
    store.append(s, "before", SenderType::Client).await.unwrap();
    install_poison(store).await;

    // One batch with the failing row in its middle: nothing of it is written.
    let err = store
        .append_many(&[
            (s, "one", SenderType::Client),
            (session(), "two", SenderType::Bot),
            (s, "poison", SenderType::Client),
            (s, "four", SenderType::Client),
        ])
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "a database error: {err:?}");
    assert_eq!(count(store, "chat_messages").await, 1);
    assert_eq!(count(store, "chat_sessions").await, 1);
    assert_rows_match_recount(store, &[s]).await;

    // Concurrent callers: whoever shared a batch with the poison fails, and nothing of a
    // failed caller is stored; every acknowledged caller is.
    let sessions: Vec<SessionId> = (0..4).map(|_| session()).collect();
    let mut tasks = Vec::new();
    for w in 0..48usize {
        let store = store.clone();
        let target = sessions[w % 4];
        tasks.push(tokio::spawn(async move {
            let text = if w % 16 == 5 {
                "poison".to_owned()
            } else {
                format!("w{w}")
            };
            (
                text.clone(),
                store.append(target, &text, SenderType::Client).await,
            )
        }));
    }
    let mut acked = HashSet::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (text, result) = t.await.unwrap();
        match result {
            Ok(m) => {
                assert_ne!(text, "poison");
                acked.insert(m.id);
            }
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                failed.push(text);
            }
        }
    }
    assert!(failed.iter().filter(|t| *t == "poison").count() == 3);
    let mut stored_texts = HashSet::new();
    let mut stored_ids = HashSet::new();
    for s in &sessions {
        for m in store.history(*s).await.unwrap() {
            stored_texts.insert(m.message.clone());
            stored_ids.insert(m.id);
        }
    }
    assert_eq!(
        stored_ids, acked,
        "exactly the acknowledged messages are stored"
    );
    for text in &failed {
        assert!(!stored_texts.contains(text), "{text} failed but was stored");
    }
    let mut all = sessions.clone();
    all.push(s);
    assert_rows_match_recount(store, &all).await;
}

async fn deletes_keep_session_rows_right(db: &TestDb) {
    let store = &db.store;
    let (a, b, c) = (session(), session(), session());
    let mut ids = BTreeMap::new();
    for (s, n) in [(a, 5), (b, 4), (c, 3)] {
        for i in 0..n {
            let sender = if i % 2 == 0 {
                SenderType::Client
            } else {
                SenderType::Bot
            };
            let m = store.append(s, &format!("{s} #{i}"), sender).await.unwrap();
            ids.entry(s).or_insert_with(Vec::new).push(m.id);
        }
    }
    let all = [a, b, c];
    assert_rows_match_recount(store, &all).await;

    // The last message of `a`: its preview, sender and time go back to the one before.
    store
        .delete_message(*ids[&a].last().unwrap())
        .await
        .unwrap();
    assert_rows_match_recount(store, &all).await;
    // The first message of `b`: its start moves.
    store.delete_message(ids[&b][0]).await.unwrap();
    assert_rows_match_recount(store, &all).await;
    // A bulk delete over two sessions, emptying `b` entirely (its row goes).
    let mut bulk: Vec<MessageId> = ids[&b][1..].to_vec();
    bulk.push(ids[&a][1]);
    assert_eq!(store.delete_messages(&bulk).await.unwrap(), 4);
    assert_rows_match_recount(store, &all).await;
    assert!(!session_rows(store).await.contains_key(&b));
    // A whole session.
    assert_eq!(store.delete_session(c).await.unwrap(), 3);
    assert_rows_match_recount(store, &all).await;
    assert_eq!(session_rows(store).await.len(), 1);
    // Appending again after deletes continues the row.
    append(store, b, "back again", SenderType::Client).await;
    assert_rows_match_recount(store, &all).await;

    // Deletes racing appends on one session keep the row equal to the messages.
    let s = session();
    let mut first = Vec::new();
    for i in 0..20 {
        first.push(
            append(store, s, &format!("old {i}"), SenderType::Client)
                .await
                .id,
        );
    }
    let appender = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                append(&store, s, &format!("new {i}"), SenderType::Bot).await;
            }
        })
    };
    for id in first {
        store.delete_message(id).await.unwrap();
    }
    appender.await.unwrap();
    assert_rows_match_recount(store, &[a, b, c, s]).await;
}

async fn session_rows_link_the_client_of_the_context(db: &TestDb) {
    let store = &db.store;
    let (early, late, other) = (session(), session(), session());
    append(store, early, "hello", SenderType::Client).await;
    // A context naming a session that already has messages links it.
    let client = client_with_chat(store, "Ada", early).await;
    assert_eq!(session_rows(store).await[&early].client_id, Some(client.id));
    // A context naming a session before its first message: the first append links it.
    let second = client_with_chat(store, "Grace", late).await;
    store.append(late, "hi", SenderType::Client).await.unwrap();
    store.append(other, "hi", SenderType::Client).await.unwrap();
    let rows = session_rows(store).await;
    assert_eq!(rows[&late].client_id, Some(second.id));
    assert_eq!(rows[&other].client_id, None);
    // Moving a context to another session relinks both.
    store
        .change_context(second.id, &[ContextChange::ChatSession(Some(other))])
        .await
        .unwrap();
    let rows = session_rows(store).await;
    assert_eq!(rows[&late].client_id, None);
    assert_eq!(rows[&other].client_id, Some(second.id));
    // Deleting the client unlinks its session, and keeps the conversation.
    store.delete_client(client.id).await.unwrap();
    let rows = session_rows(store).await;
    assert_eq!(rows[&early].client_id, None);
    assert_eq!(rows[&early].message_count, 1);
}

/// A store on a fresh database of the same backend as `db`, with no migration applied, and
/// the database to remove afterwards.
async fn unmigrated(db: &TestDb) -> (Store, rivo_testkit::ScratchDb) {
    let scratch = if db.scratch.is_postgres() {
        rivo_testkit::ScratchDb::postgres("rivo_core_old")
            .await
            .unwrap()
    } else {
        rivo_testkit::ScratchDb::sqlite()
    };
    (Store::open(&scratch.url).await.unwrap(), scratch)
}

async fn migration_backfills_sessions_and_search_of_existing_messages(db: &TestDb) {
    let (store, scratch) = unmigrated(db).await;
    store.migrate_until(2).await.unwrap();
    // A database of the previous release: messages out of id order in time, two sessions, a
    // context linking one of them.
    let (a, b) = (session(), session());
    let (a_sql, b_sql) = (session_sql(&store, a), session_sql(&store, b));
    let rows = [
        (
            1,
            &a_sql,
            "first of a, Needle here",
            "client",
            "2026-01-01T10:00:00Z",
        ),
        (2, &b_sql, "only b", "bot", "2026-01-02T10:00:00Z"),
        (
            3,
            &a_sql,
            "last of a (written early)",
            "bot",
            "2026-01-03T10:00:00Z",
        ),
        (4, &a_sql, "middle of a", "client", "2026-01-02T09:00:00Z"),
    ];
    for (id, s, text, sender, at) in rows {
        store
            .execute_raw(&format!(
                "INSERT INTO chat_messages (id, session_id, message, sender_type, sent_at) \
                 VALUES ({id}, {s}, '{text}', '{sender}', '{at}')"
            ))
            .await
            .unwrap();
    }
    insert_client_7_linked_to(&store, &b_sql).await;
    if store.kind() == BackendKind::Postgres {
        // Explicit ids, as an old release's import would leave them: move the sequence on.
        store
            .execute_raw("SELECT setval(pg_get_serial_sequence('chat_messages', 'id'), 4)")
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();

    assert_rows_match_recount(&store, &[a, b]).await;
    let rows = session_rows(&store).await;
    assert_eq!(rows[&a].message_count, 3);
    assert_eq!(rows[&a].last_message_preview, "last of a (written early)");
    assert_eq!(rows[&a].last_sender_type, SenderType::Bot);
    assert_eq!(rows[&b].client_id, Some(ClientId(7)));
    assert_eq!(rows[&a].client_id, None);
    // The search indexes cover the old rows too.
    let found = list(
        &store,
        &MessageFilter::matching("needle"),
        Sort::asc(MessageSort::Id),
        PageRequest::first(10),
    )
    .await;
    assert_eq!(found.items.iter().map(|m| m.id.0).collect::<Vec<_>>(), [1]);
    // And appends continue on top of the backfilled rows.
    store.append(a, "new", SenderType::Client).await.unwrap();
    assert_rows_match_recount(&store, &[a, b]).await;
    store.close().await;
    scratch.remove().await;
}

/// `session` as an SQL literal of the store's dialect.
fn session_sql(store: &Store, session: SessionId) -> String {
    match store.kind() {
        BackendKind::Postgres => format!("'{session}'"),
        BackendKind::Sqlite => format!("X'{}'", session.0.simple()),
    }
}

/// Client 7 (Ada) and a context linking it to the session `b_sql` (an SQL literal), written by
/// hand as an earlier release left them.
async fn insert_client_7_linked_to(store: &Store, b_sql: &str) {
    store
        .execute_raw(
            "INSERT INTO clients (id, name, email, phone, current_stage, created_at, updated_at) \
             VALUES (7, 'Ada', '', '', 'lead', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        )
        .await
        .unwrap();
    store
        .execute_raw(&format!(
            "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, \
             updated_at) VALUES (7, {b_sql}, '{{}}', '2026-01-01T00:00:00Z', \
             '2026-01-01T00:00:00Z')"
        ))
        .await
        .unwrap();
}

/// The first 100 messages (oldest first) and sessions a search for `text` finds.
async fn search_messages_and_sessions(
    store: &Store,
    text: &str,
) -> (Page<ChatMessage>, Page<SessionSummary>) {
    let found = list(
        store,
        &MessageFilter::matching(text),
        Sort::asc(MessageSort::Id),
        PageRequest::first(100),
    )
    .await;
    let sessions = store
        .list_sessions(&SessionFilter::matching(text), PageRequest::first(100))
        .await
        .unwrap();
    (found, sessions)
}

async fn indexed_search_matches_like_before(db: &TestDb) {
    let store = &db.store;
    let texts = [
        "I am 100% sure",
        "1000 sure things",
        "under_score here",
        "underXscore here",
        "back\\slash",
        "MiXeD CaSe Words",
        "quote \"inside\" text",
        "ÉTÉ accents",
    ];
    let mut sessions = Vec::new();
    for t in texts {
        let s = session();
        sessions.push(s);
        store.append(s, t, SenderType::Client).await.unwrap();
    }
    let search = |text: &'static str| async move {
        let (found, sessions) = search_messages_and_sessions(store, text).await;
        assert_eq!(found.total as usize, found.items.len());
        assert_eq!(sessions.total as usize, found.items.len(), "{text}");
        let mut got: Vec<String> = found.items.into_iter().map(|m| m.message).collect();
        got.sort();
        got
    };
    assert_eq!(search("0% s").await, ["I am 100% sure"], "% is literal");
    assert_eq!(search("der_sc").await, ["under_score here"], "_ is literal");
    assert_eq!(search("k\\sl").await, ["back\\slash"], "\\ is literal");
    assert_eq!(
        search("mixed case").await,
        ["MiXeD CaSe Words"],
        "case-insensitive"
    );
    assert_eq!(
        search("\"inside\"").await,
        ["quote \"inside\" text"],
        "quotes"
    );
    assert_eq!(search("sure").await, ["1000 sure things", "I am 100% sure"]);
    // Too short for trigrams: a scan answers, with the same matching.
    assert_eq!(search("% ").await, ["I am 100% sure"]);
    assert_eq!(search("ER").await, ["underXscore here", "under_score here"]);
    assert!(search("nothing like it").await.is_empty());
    // Clients and users search through their indexes the same way.
    store
        .create_client(NewClient {
            email: "c12345@example.com".into(),
            ..NewClient::new("Client 50%")
        })
        .await
        .unwrap();
    store
        .create_client(NewClient::new("Client 5000"))
        .await
        .unwrap();
    let clients = |text: &'static str| async move {
        list(
            store,
            &ClientFilter::matching(text),
            Sort::asc(ClientSort::Id),
            PageRequest::first(10),
        )
        .await
        .items
        .into_iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
    };
    assert_eq!(clients("C12345").await, ["Client 50%"]);
    assert_eq!(clients("t 50%").await, ["Client 50%"]);
    assert_eq!(clients("client 5").await, ["Client 50%", "Client 5000"]);
}

async fn counts_are_exact_up_to_the_limit_then_estimated(db: &TestDb) {
    let store = open_more(
        db,
        StoreOptions {
            exact_count_limit: 5,
            ..Default::default()
        },
    )
    .await;
    for i in 0..9 {
        let text = if i < 3 {
            format!("rare {i}")
        } else {
            format!("common {i}")
        };
        append(&store, session(), &text, SenderType::Client).await;
    }
    if store.kind() == BackendKind::Postgres {
        store.execute_raw("ANALYZE chat_messages").await.unwrap();
        store.execute_raw("ANALYZE chat_sessions").await.unwrap();
    }
    let messages = |search: Option<&'static str>, page: u64| {
        let store = store.clone();
        async move {
            list(
                &store,
                &MessageFilter {
                    search: search.map(Into::into),
                    ..Default::default()
                },
                Sort::asc(MessageSort::Id),
                PageRequest::page(page, 3),
            )
            .await
        }
    };
    // Few matches: exact.
    let rare = messages(Some("rare"), 1).await;
    assert_eq!(
        (rare.total, rare.estimated, rare.has_next),
        (3, false, false)
    );
    // More than the limit, filtered: a lower bound, said to be one.
    let common = messages(Some("common"), 1).await;
    assert_eq!(
        (common.total, common.estimated, common.has_next),
        (6, true, true)
    );
    let last = messages(Some("common"), 2).await;
    assert_eq!((last.items.len(), last.has_next), (3, false));
    // More than the limit, unfiltered: the table's estimate, at least the limit + 1.
    let all = messages(None, 1).await;
    assert!(all.estimated && all.total >= 6 && all.has_next, "{all:?}");
    assert_eq!(messages(None, 3).await.items.len(), 3);
    let sessions = store
        .list_sessions(&SessionFilter::default(), PageRequest::first(3))
        .await
        .unwrap();
    assert!(sessions.estimated && sessions.total >= 6 && sessions.has_next);
    // The default limit counts these exactly.
    let exact = db
        .store
        .list_sessions(&SessionFilter::default(), PageRequest::first(3))
        .await
        .unwrap();
    assert_eq!(
        (exact.total, exact.estimated, exact.has_next),
        (9, false, true)
    );
    store.close().await;
}

async fn keyset_pages_cover_every_session_and_message_once(db: &TestDb) {
    let store = &db.store;
    // 23 sessions; several share a last time (one batch), so ties are broken by session id.
    let mut batch = Vec::new();
    let sessions: Vec<SessionId> = (0..23).map(|_| session()).collect();
    for (i, s) in sessions.iter().enumerate() {
        batch.push((
            *s,
            if i % 3 == 0 { "needle" } else { "hay" },
            SenderType::Client,
        ));
    }
    store.append_many(&batch[..12]).await.unwrap();
    for row in &batch[12..] {
        store.append(row.0, row.1, row.2).await.unwrap();
    }
    for filter in [SessionFilter::default(), SessionFilter::matching("needle")] {
        let offset = store
            .list_sessions(&filter, PageRequest::first(1000))
            .await
            .unwrap()
            .items;
        let mut keyset = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_sessions_after(&filter, after, 4).await.unwrap();
            assert!(page.page.items.len() <= 4);
            assert_eq!(page.page.total as usize, offset.len());
            keyset.extend(page.page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(
            keyset, offset,
            "keyset pages equal the offset list, in order"
        );
    }
    assert_eq!(
        store
            .list_sessions(&SessionFilter::default(), PageRequest::first(1000))
            .await
            .unwrap()
            .items
            .len(),
        23
    );
    for filter in [MessageFilter::default(), MessageFilter::matching("hay")] {
        let offset = list(
            store,
            &filter,
            Sort::desc(MessageSort::SentAt),
            PageRequest::first(1000),
        )
        .await
        .items;
        let mut keyset = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_messages_after(&filter, after, 5).await.unwrap();
            keyset.extend(page.page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(keyset, offset);
    }
    // Cursors round-trip through their text form, and garbage is a validation rule.
    let first = store
        .list_sessions_after(&SessionFilter::default(), None, 1)
        .await
        .unwrap();
    let cursor = first.next.unwrap();
    assert_eq!(cursor.to_string().parse::<SessionCursor>().unwrap(), cursor);
    assert!("nonsense".parse::<SessionCursor>().is_err());
}

/// Messages of one search: every text found for `needle`, sorted.
async fn found_texts(store: &Store, needle: &str) -> Vec<String> {
    let found = list(
        store,
        &MessageFilter::matching(needle),
        Sort::asc(MessageSort::Id),
        PageRequest::first(1000),
    )
    .await;
    assert_eq!(found.total as usize, found.items.len(), "{needle}");
    let mut texts: Vec<String> = found.items.into_iter().map(|m| m.message).collect();
    texts.sort();
    texts
}

/// One batch of N messages over M sessions (some new, one with earlier messages, one linked to
/// a client before its first message, several messages per session, out of session order):
/// the session rows equal a recount and search finds every message of the batch.
async fn a_batch_over_many_sessions_equals_the_recount_and_is_searchable(db: &TestDb) {
    let store = &db.store;
    let sessions: Vec<SessionId> = (0..37).map(|_| session()).collect();
    for i in 0..3 {
        append(
            store,
            sessions[0],
            &format!("earlier {i} of s0"),
            SenderType::Bot,
        )
        .await;
    }
    let client = client_with_chat(store, "Ada", sessions[1]).await;
    let texts: Vec<String> = (0..300)
        .map(|i| format!("batch msg q{i:03}z ü{}", "ü".repeat(i % 130)))
        .collect();
    let batch: Vec<(SessionId, &str, SenderType)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let sender = if i % 4 == 0 {
                SenderType::Client
            } else {
                SenderType::Bot
            };
            (
                sessions[(i * 7 + i / 37) % sessions.len()],
                t.as_str(),
                sender,
            )
        })
        .collect();
    let before = store.group_commit_stats();
    let stored = store.append_many(&batch).await.unwrap();
    let after = store.group_commit_stats();
    assert_eq!(after.batches - before.batches, 1, "one call is one batch");
    assert_eq!(stored.len(), 300);
    assert_history_in_id_order(&stored);
    for s in &sessions {
        assert_history_in_id_order(&store.history(*s).await.unwrap());
    }
    assert_rows_match_recount(store, &sessions).await;
    let rows = session_rows(store).await;
    assert_eq!(rows.len(), sessions.len());
    let in_batch = batch.iter().filter(|m| m.0 == sessions[0]).count() as u64;
    assert!(in_batch > 1, "several messages of one session in the batch");
    assert_eq!(rows[&sessions[0]].message_count, 3 + in_batch);
    assert_eq!(rows[&sessions[1]].client_id, Some(client.id));
    assert_eq!(
        rows.values().map(|r| r.message_count).sum::<u64>(),
        303,
        "every message counted once"
    );
    // Search finds each message of the batch by its own token, and all of them by a shared one.
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            found_texts(store, &format!("Q{i:03}Z")).await,
            std::slice::from_ref(text)
        );
    }
    let mut all = texts.clone();
    all.sort();
    assert_eq!(found_texts(store, "batch msg").await, all);
    assert_eq!(found_texts(store, "of s0").await.len(), 3);
    // A second batch on the same sessions continues the rows; the index holds both.
    let more: Vec<(SessionId, &str, SenderType)> = sessions
        .iter()
        .rev()
        .map(|s| (*s, "second batch", SenderType::Client))
        .collect();
    store.append_many(&more).await.unwrap();
    assert_rows_match_recount(store, &sessions).await;
    assert_eq!(
        found_texts(store, "second batch").await.len(),
        sessions.len()
    );
    assert_eq!(found_texts(store, "batch msg").await.len(), 300);
    // Deleting a session drops its row and its search entries.
    let gone = store.delete_session(sessions[2]).await.unwrap();
    assert!(gone > 0);
    assert_rows_match_recount(store, &sessions).await;
    assert_eq!(
        found_texts(store, "second batch").await.len(),
        sessions.len() - 1
    );
}

/// A database at 0006 with data: migration 0007 (FTS5 merge settings on SQLite, nothing on
/// PostgreSQL) keeps its session rows and search entries, and appends after it keep them right.
async fn migration_0007_keeps_rows_and_search_of_a_0006_database(db: &TestDb) {
    let (store, scratch) = unmigrated(db).await;
    store.migrate_until(6).await.unwrap();
    let (a, b) = (session(), session());
    let (a_sql, b_sql) = (session_sql(&store, a), session_sql(&store, b));
    // What the previous schema's appends left: messages, and (on PostgreSQL, where the append
    // statement writes them) the session rows.
    insert_client_7_linked_to(&store, &b_sql).await;
    let old = [
        (
            &a_sql,
            "old one of a, Needle",
            "client",
            "2026-01-01T10:00:00Z",
        ),
        (&b_sql, "old one of b", "bot", "2026-01-02T10:00:00Z"),
        (&a_sql, "old two of a", "bot", "2026-01-03T10:00:00Z"),
    ];
    for (s, text, sender, at) in old {
        store
            .execute_raw(&format!(
                "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) \
                 VALUES ({s}, '{text}', '{sender}', '{at}')"
            ))
            .await
            .unwrap();
    }
    if store.kind() == BackendKind::Postgres {
        // PostgreSQL keeps session rows in the append statement, not a trigger: recount them
        // as its appends would have left them.
        store
            .execute_raw(
                "INSERT INTO chat_sessions (session_id, client_id, message_count, \
                 first_message_at, last_message_at, last_message_preview, last_sender_type) \
                 SELECT session_id, (SELECT c.client_id FROM client_contexts c \
                 WHERE c.chat_session_id = m.session_id), count(*), min(sent_at), max(sent_at), \
                 (array_agg(left(message, 100) ORDER BY sent_at DESC))[1], \
                 (array_agg(sender_type ORDER BY sent_at DESC))[1] \
                 FROM chat_messages m GROUP BY session_id",
            )
            .await
            .unwrap();
    }
    // (The messages are read back only after the migrations: `data_type` comes with 0010.)
    let before = session_rows(&store).await;
    assert_eq!(before.len(), 2);
    let pending = store.pending_migrations().await.unwrap();
    assert!(pending[0].starts_with("7"), "0007 is next: {pending:?}");
    store.migrate().await.unwrap();
    assert_eq!(session_rows(&store).await, before);
    assert!(store.pending_migrations().await.unwrap().is_empty());
    if store.kind() == BackendKind::Sqlite {
        // The FTS5 merge settings of 0007 are stored in the index.
        let config = store
            .fetch_texts(
                "SELECT k || '=' || v FROM chat_messages_fts_config \
                 WHERE k IN ('automerge', 'crisismerge') ORDER BY k",
            )
            .await
            .unwrap();
        assert_eq!(config, ["automerge=16", "crisismerge=64"]);
    }
    // Nothing changed: the rows and the search entries of the old messages are kept.
    assert_rows_match_recount(&store, &[a, b]).await;
    let rows = session_rows(&store).await;
    assert_eq!(rows[&a].message_count, 2);
    assert_eq!(rows[&a].last_message_preview, "old two of a");
    assert_eq!(rows[&b].client_id, Some(ClientId(7)));
    assert_eq!(
        found_texts(&store, "needle").await,
        ["old one of a, Needle"]
    );
    // Appends on top (one batch over both sessions and a new one) keep both right.
    let c = session();
    store
        .append_many(&[
            (a, "new for a", SenderType::Client),
            (c, "new for c", SenderType::Bot),
            (b, "new for b", SenderType::Client),
            (a, "newer for a", SenderType::Bot),
        ])
        .await
        .unwrap();
    assert_rows_match_recount(&store, &[a, b, c]).await;
    let rows = session_rows(&store).await;
    assert_eq!(rows[&a].message_count, 4);
    assert_eq!(rows[&a].last_message_preview, "newer for a");
    assert_eq!(rows[&b].client_id, Some(ClientId(7)));
    assert_eq!(
        found_texts(&store, "new").await,
        ["new for a", "new for b", "new for c", "newer for a"]
    );
    assert_eq!(found_texts(&store, "old ").await.len(), 3);
    // Deletes still go through their triggers.
    store.delete_session(a).await.unwrap();
    assert_rows_match_recount(&store, &[a, b, c]).await;
    assert_eq!(found_texts(&store, "for a").await, Vec::<String>::new());
    store.close().await;
    scratch.remove().await;
}

/// 0010 (issue 16): old messages read as `message`, old assignments keep their rows, ids and
/// the AUTOINCREMENT position (SQLite rebuilds the table), and an active row may now have no
/// assignee while the one-active rule still holds.
async fn migration_0010_keeps_assignments_and_messages_of_a_0009_database(db: &TestDb) {
    let (store, scratch) = unmigrated(db).await;
    store.migrate_until(9).await.unwrap();
    let at = "'2026-01-01T00:00:00Z'";
    for sql in [
        format!(
            "INSERT INTO users (id, email, email_key, username, password, first_name, \
             last_name, phone, is_active, is_staff, is_superuser, date_joined, created_at, \
             updated_at) VALUES (3, 'csm@example.com', 'csm@example.com', 'csm', '', '', '', '', \
             TRUE, TRUE, FALSE, {at}, {at}, {at})"
        ),
        format!(
            "INSERT INTO clients (id, name, email, phone, current_stage, created_at, updated_at) \
             VALUES (7, 'Ada', '', '', 'lead', {at}, {at})"
        ),
        format!(
            "INSERT INTO client_assignments (id, client_id, assigned_to_id, is_active, remarks, \
             created_at, updated_at) VALUES (40, 7, 3, FALSE, 'old', {at}, {at}), \
             (41, 7, 3, TRUE, 'current', {at}, {at}), (42, 7, 3, FALSE, 'gone', {at}, {at})"
        ),
        "DELETE FROM client_assignments WHERE id = 42".to_owned(),
    ] {
        store.execute_raw(&sql).await.unwrap();
    }
    let s = session();
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    append(&store, s, "after 0010", SenderType::Client).await;
    assert_eq!(
        store.history(s).await.unwrap()[0].data_type,
        DataType::Message
    );
    let active = store.active_assignment(ClientId(7)).await.unwrap().unwrap();
    assert_eq!(
        (active.id, active.assigned_to, active.remarks.as_str()),
        (AssignmentId(41), Some(UserId(3)), "current")
    );
    assert_eq!(count(&store, "client_assignments").await, 2);
    // SQLite's rebuilt table continues after the highest id ever used (42), not after the
    // highest kept. (PostgreSQL's identity is untouched by the ALTER; rows inserted here with
    // explicit ids never moved it.)
    let next = store
        .assign(ClientId(7), UserId(3), None, "new")
        .await
        .unwrap();
    if store.kind() == BackendKind::Sqlite {
        assert!(next.id.0 > 42, "{next:?}");
    }
    // Awaiting assignment is allowed; two active rows still are not.
    store
        .execute_raw("UPDATE client_assignments SET is_active = FALSE WHERE client_id = 7")
        .await
        .unwrap();
    store
        .execute_raw(&format!(
            "INSERT INTO client_assignments (client_id, assigned_to_id, is_active, remarks, \
             created_at, updated_at) VALUES (7, NULL, TRUE, 'Awaiting assignment', {at}, {at})"
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .active_assignment(ClientId(7))
            .await
            .unwrap()
            .unwrap()
            .assigned_to,
        None
    );
    assert!(
        store
            .execute_raw(&format!(
                "INSERT INTO client_assignments (client_id, assigned_to_id, is_active, remarks, \
                 created_at, updated_at) VALUES (7, NULL, TRUE, '', {at}, {at})"
            ))
            .await
            .is_err()
    );
    store.close().await;
    scratch.remove().await;
}

/// Issue 12: on SQLite new messages are indexed for search in the background, after the
/// append committed; a search must still find a message written a moment ago (the rows above
/// the index's mark are scanned), then through the index once it caught up, and a deleted one
/// no longer.
async fn search_finds_a_just_written_message_and_the_index_catches_up(db: &TestDb) {
    let store = &db.store;
    let s = session();
    let other = session();
    append(store, other, "nothing to see", SenderType::Bot).await;
    let m = append(store, s, "Zebra-crossing 42 please", SenderType::Client).await;
    let search = |text: &'static str| async move {
        let (found, sessions) = search_messages_and_sessions(store, text).await;
        (
            found.items.iter().map(|m| m.id).collect::<Vec<_>>(),
            sessions
                .items
                .iter()
                .map(|s| s.session_id)
                .collect::<Vec<_>>(),
        )
    };
    // At once, whether or not the background indexer has run yet.
    assert_eq!(search("bra-cross").await, (vec![m.id], vec![s]));
    assert_eq!(search("ZEBRA").await, (vec![m.id], vec![s]));
    if store.kind() == BackendKind::Sqlite {
        // The indexer catches up (it looks every 200 ms) and the index alone answers.
        let indexed = || async {
            store
                .fetch_texts("SELECT CAST(indexed_upto AS TEXT) FROM chat_messages_fts_state")
                .await
                .unwrap()[0]
                .parse::<i64>()
                .unwrap()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while indexed().await < m.id.0 {
            assert!(std::time::Instant::now() < deadline, "indexed within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let in_index = store
            .fetch_texts(
                "SELECT CAST(rowid AS TEXT) FROM chat_messages_fts \
                 WHERE chat_messages_fts MATCH '\"bra-cross\"'",
            )
            .await
            .unwrap();
        assert_eq!(in_index, vec![m.id.0.to_string()]);
    }
    assert_eq!(search("bra-cross").await, (vec![m.id], vec![s]));
    store.delete_message(m.id).await.unwrap();
    assert_eq!(search("bra-cross").await, (vec![], vec![]));
    if store.kind() == BackendKind::Sqlite {
        let in_index = store
            .fetch_texts(
                "SELECT CAST(count(*) AS TEXT) FROM chat_messages_fts \
                 WHERE chat_messages_fts MATCH '\"bra-cross\"'",
            )
            .await
            .unwrap();
        assert_eq!(in_index, vec!["0".to_owned()], "the delete left the index");
    }
}
