//! The behaviour suite of the store, written once and run on every backend: always on SQLite
//! (a fresh file per test), and on PostgreSQL (a fresh schema per test) when
//! `RIVO_TEST_POSTGRES_URL` is set. With `RIVO_TEST_REQUIRE_POSTGRES=1` a missing URL fails the
//! suite instead of skipping it, so CI cannot skip it silently.

use std::collections::{BTreeSet, HashSet};

use chrono::{Duration, Utc};
use serde_json::json;
use sqlx::Connection;

use crate::accounts::*;
use crate::audit::*;
use crate::auth::*;
use crate::chat::*;
use crate::clients::*;
use crate::*;

/// A store on a throwaway database, removed by [`TestDb::finish`].
struct TestDb {
    store: Store,
    /// The store's URL, to open more stores on the same database.
    url: String,
    scratch: rivo_testkit::ScratchDb,
}

impl TestDb {
    async fn open(scratch: rivo_testkit::ScratchDb) -> Self {
        let store = Store::open(&scratch.url).await.unwrap();
        store.migrate().await.unwrap();
        Self {
            store,
            url: scratch.url.clone(),
            scratch,
        }
    }

    async fn sqlite() -> Self {
        Self::open(rivo_testkit::ScratchDb::sqlite()).await
    }

    /// `None` when the PostgreSQL suite is skipped (see `rivo_testkit::postgres_url`).
    async fn postgres() -> Option<Self> {
        Some(Self::open(rivo_testkit::ScratchDb::postgres("rivo_core").await?).await)
    }

    async fn finish(self) {
        self.store.close().await;
        self.scratch.remove().await;
    }
}

/// Declares each behaviour once per backend: `sqlite::name` and `postgres::name`.
macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}

behaviours!(
    migrate_is_idempotent,
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
    user_password_is_stored_as_argon2_only,
    authenticate_tells_failures_apart_internally,
    email_is_unique_case_insensitively,
    email_identity_is_one_unicode_normalisation,
    migrate_backfills_email_identity,
    username_is_unique,
    user_validation_reports_every_field,
    user_references_must_exist,
    passwords_are_checked_and_changed,
    users_are_listed_newest_first_with_filters,
    users_update_and_permissions_replace,
    roles_have_unique_names_and_permission_sets,
    deleting_a_role_leaves_its_users_without_role,
    effective_permissions_follow_role_user_and_flags,
    only_superusers_grant_superuser_and_change_user_grants_staff,
    deleting_a_user_cascades_and_sets_null,
    create_client_writes_context_and_first_history,
    client_validation_reports_every_field,
    clients_are_listed_with_filters_and_stable_order,
    set_stage_records_history_and_skips_no_ops,
    concurrent_stage_changes_replay_to_current_stage,
    context_keys_are_set_merged_and_removed,
    concurrent_context_merges_keep_every_key,
    assign_deactivates_previous_assignment,
    assign_requires_active_staff_user,
    concurrent_assigns_leave_exactly_one_active,
    database_refuses_two_active_assignments,
    unassign_ends_the_active_assignment,
    deleting_a_client_cascades,
    missing_objects_are_not_found,
    tokens_are_hashed_expire_and_revoke,
    tokens_of_inactive_users_are_refused,
    set_password_revokes_tokens,
    login_throttle_counts_email_and_address,
    concurrent_wrong_passwords_evaluate_at_most_the_limit,
    chat_rate_limits_are_atomic_per_address_and_session,
    bot_messages_need_the_bot_key_when_one_is_set,
    audit_records_writes_made_as_an_actor,
    size_limits_bound_messages_contexts_audit_and_history,
    audit_never_records_a_rolled_back_change,
    deleting_the_actor_keeps_the_log,
);

/// Declares each behaviour once per backend, given the whole [`TestDb`] (the topic files under
/// `store/tests/`): `sqlite::name` and `postgres::name`. The runtime is two worker threads unless
/// a `(tokio::test arguments);` prefix says otherwise.
macro_rules! db_behaviours {
    ($($name:ident),* $(,)?) => {
        db_behaviours!((flavor = "multi_thread", worker_threads = 2); $($name),*);
    };
    ($runtime:tt; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test $runtime]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test $runtime]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

mod chat_scale;
mod leads;
mod observe;
mod privacy;
mod rules;
mod streams;
mod summaries;
mod webhooks;
/// Migrations serve no request: a store whose statements time out after 20 ms still applies
/// every migration (each one file, one statement, which takes longer), while its ordinary
/// statements keep the timeout. A 10M-message 0003 backfill was cancelled at 30 s before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_without_the_statement_timeout() {
    let Ok(url) = std::env::var("RIVO_TEST_POSTGRES_URL") else {
        return;
    };
    if url.contains("pooler=transaction") {
        return;
    }
    let schema = format!("rivo_core_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store = Store::open_with(
        &format!("{url}{sep}options=-c%20search_path%3D{schema}"),
        StoreOptions {
            statement_timeout: Some(std::time::Duration::from_millis(20)),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    let err = store
        .fetch_texts("SELECT CAST(count(*) AS TEXT) FROM pg_sleep(1)")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database(db) if db.code().as_deref() == Some("57014")),
        "{err:?}"
    );
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Issue 15, finding 12: with a statement timeout the PostgreSQL server cancels a slow
/// statement itself (SQLSTATE 57014), so a request that timed out stops costing the database.
/// PostgreSQL only (SQLite runs in-process); skipped through a transaction-mode pooler, which
/// forwards no connection options (there the role carries the setting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_a_slow_postgres_query() {
    let Ok(url) = std::env::var("RIVO_TEST_POSTGRES_URL") else {
        return;
    };
    if url.contains("pooler=transaction") {
        return;
    }
    let store = Store::open_with(
        &url,
        StoreOptions {
            statement_timeout: Some(std::time::Duration::from_millis(300)),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let err = store
        .fetch_texts("SELECT CAST(count(*) AS TEXT) FROM pg_sleep(30)")
        .await
        .unwrap_err();
    match &err {
        Error::Database(db) => {
            assert_eq!(db.code().as_deref(), Some("57014"), "{err:?}")
        }
        other => panic!("expected the server to cancel the statement, got {other:?}"),
    }
    // The connection stays usable, and quick statements are unaffected.
    assert_eq!(store.fetch_texts("SELECT 'ok'").await.unwrap(), ["ok"]);
    store.close().await;
}

// ---------- helpers ----------

async fn staff(store: &Store, name: &str) -> User {
    store
        .create_user(NewUser {
            is_staff: true,
            ..NewUser::new(format!("{name}@example.com"), name).password("a long passphrase")
        })
        .await
        .unwrap()
}

fn session() -> SessionId {
    SessionId::new_random()
}

fn validation_fields(err: Error) -> Vec<(String, String)> {
    match err {
        Error::Validation(errors) => errors
            .iter()
            .map(|(f, r)| (f.to_owned(), r.to_string()))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    store
        .fetch_texts(&format!("SELECT CAST(count(*) AS TEXT) FROM {table}"))
        .await
        .unwrap()[0]
        .parse()
        .unwrap()
}

// ---------- store ----------

async fn migrate_is_idempotent(store: &Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.ping().await.unwrap();
}

// ---------- chat ----------

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
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .append(s, &format!("m{i}"), SenderType::Client)
                .await
                .unwrap()
                .id,
        );
    }
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
    let order: Vec<MessageId> = store
        .history(s)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
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
    for i in 0..25 {
        store
            .append(s, &format!("m{i}"), SenderType::Client)
            .await
            .unwrap();
    }
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
        let history = store.history(s).await.unwrap();
        let ids: Vec<MessageId> = history.iter().map(|m| m.id).collect();
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
    let page = store
        .list_messages(
            &MessageFilter {
                session_id: Some(a),
                sender_type: Some(SenderType::Bot),
                ..Default::default()
            },
            Sort::asc(MessageSort::SentAt),
            PageRequest::first(2),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 2);
    assert!(
        page.items
            .iter()
            .all(|m| m.sender_type == SenderType::Bot && m.session_id == a)
    );
    let search = store
        .list_messages(
            &MessageFilter {
                search: Some("LOAN".into()),
                ..Default::default()
            },
            Sort::desc(MessageSort::Id),
            PageRequest::page(2, 4),
        )
        .await
        .unwrap();
    assert_eq!(search.total, 6);
    assert_eq!(search.items.len(), 2);
    assert!(search.items[0].id > search.items[1].id);
    let all = store.history(a).await.unwrap();
    let ranged = store
        .list_messages(
            &MessageFilter {
                sent_from: Some(all[2].sent_at),
                sent_before: Some(all[4].sent_at),
                session_id: Some(a),
                ..Default::default()
            },
            Sort::asc(MessageSort::SentAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(
        ranged
            .items
            .iter()
            .all(|m| m.sent_at >= all[2].sent_at && m.sent_at < all[4].sent_at)
    );
    assert!(ranged.items.contains(&all[2]) && !ranged.items.contains(&all[4]));
    let beyond = store
        .list_messages(
            &MessageFilter::default(),
            Sort::asc(MessageSort::Id),
            PageRequest::page(99, 10),
        )
        .await
        .unwrap();
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
        let page = store
            .list_messages(
                &MessageFilter {
                    search: Some(query.into()),
                    ..Default::default()
                },
                Sort::asc(MessageSort::Id),
                PageRequest::default(),
            )
            .await
            .unwrap();
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
        .list_sessions(
            &SessionFilter {
                search: Some("NEEDLE".into()),
            },
            PageRequest::default(),
        )
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
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .append(s, &format!("m{i}"), SenderType::Client)
                .await
                .unwrap()
                .id,
        );
    }
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
    let left: Vec<MessageId> = store
        .history(s)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![ids[3], ids[4]]);
}

// ---------- accounts ----------

async fn user_password_is_stored_as_argon2_only(store: &Store) {
    let user = store
        .create_user(NewUser::new("ann@example.com", "ann").password("correct horse battery"))
        .await
        .unwrap();
    let hashes = store
        .fetch_texts(&format!(
            "SELECT password FROM users WHERE id = {}",
            user.id
        ))
        .await
        .unwrap();
    assert!(hashes[0].starts_with("$argon2id$"), "{}", hashes[0]);
    assert!(!hashes[0].contains("correct horse"));
    assert!(user.is_active && !user.is_staff && !user.is_superuser);
    assert_eq!(user.last_login, None);
    let no_password = store
        .create_user(NewUser::new("bo@example.com", "bo"))
        .await
        .unwrap();
    assert!(matches!(
        store.authenticate("bo@example.com", "").await,
        Err(Error::Authentication(AuthFailure::WrongPassword))
    ));
    assert_eq!(
        store.user(no_password.id).await.unwrap().email,
        "bo@example.com"
    );
}

async fn authenticate_tells_failures_apart_internally(store: &Store) {
    let user = store
        .create_user(NewUser::new("Cy@Example.com", "cy").password("a long passphrase"))
        .await
        .unwrap();
    assert_eq!(
        user.email, "Cy@example.com",
        "domain is normalised to lowercase"
    );
    let logged = store
        .authenticate(" cy@EXAMPLE.com ", "a long passphrase")
        .await
        .unwrap();
    assert_eq!(logged.id, user.id);
    assert!(logged.last_login.is_some());
    let wrong = store
        .authenticate("cy@example.com", "nope")
        .await
        .unwrap_err();
    assert!(matches!(
        wrong,
        Error::Authentication(AuthFailure::WrongPassword)
    ));
    assert_eq!(wrong.to_string(), "invalid credentials");
    let unknown = store
        .authenticate("nobody@example.com", "x")
        .await
        .unwrap_err();
    assert!(matches!(
        unknown,
        Error::Authentication(AuthFailure::UnknownEmail)
    ));
    assert_eq!(unknown.to_string(), wrong.to_string());
    store
        .update_user(
            user.id,
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .authenticate("cy@example.com", "a long passphrase")
            .await,
        Err(Error::Authentication(AuthFailure::Inactive))
    ));
}

async fn email_is_unique_case_insensitively(store: &Store) {
    store
        .create_user(NewUser::new("dee@example.com", "dee"))
        .await
        .unwrap();
    let err = store
        .create_user(NewUser::new("DEE@example.com", "dee2"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { field: "email", .. }),
        "{err:?}"
    );
    let other = store
        .create_user(NewUser::new("eve@example.com", "eve"))
        .await
        .unwrap();
    let err = store
        .update_user(
            other.id,
            UserUpdate {
                email: Some("Dee@Example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { field: "email", .. }),
        "{err:?}"
    );
    assert_eq!(count(store, "users").await, 2);
}

async fn username_is_unique(store: &Store) {
    store
        .create_user(NewUser::new("f1@example.com", "fay"))
        .await
        .unwrap();
    let err = store
        .create_user(NewUser::new("f2@example.com", "fay"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                field: "username",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn user_validation_reports_every_field(store: &Store) {
    let err = store
        .create_user(NewUser {
            first_name: "x".repeat(151),
            phone: "1".repeat(21),
            ..NewUser::new("not-an-email", "bad name").password("short")
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = validation_fields(err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields[..4], ["email", "username", "first_name", "phone"]);
    assert!(fields.contains(&"password".to_owned()));
    assert_eq!(count(store, "users").await, 0);
    let err = store.create_user(NewUser::new("", "")).await.unwrap_err();
    assert_eq!(
        validation_fields(err),
        vec![
            (
                "email".to_owned(),
                "This field may not be blank.".to_owned()
            ),
            (
                "username".to_owned(),
                "This field may not be blank.".to_owned()
            )
        ]
    );
}

async fn user_references_must_exist(store: &Store) {
    let err = store
        .create_user(NewUser {
            role_id: Some(RoleId(999)),
            ..NewUser::new("g@example.com", "g")
        })
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "role_id");
    let err = store
        .create_user(NewUser {
            created_by: Some(UserId(999)),
            ..NewUser::new("g@example.com", "g")
        })
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "created_by");
    assert_eq!(count(store, "users").await, 0);
}

async fn passwords_are_checked_and_changed(store: &Store) {
    let user = staff(store, "hal").await;
    let err = store.set_password(user.id, "hal12345").await.unwrap_err();
    let messages: Vec<String> = validation_fields(err).into_iter().map(|(_, m)| m).collect();
    assert!(
        messages.iter().any(|m| m.contains("too similar")),
        "{messages:?}"
    );
    let err = store.set_password(user.id, "password").await.unwrap_err();
    assert!(
        validation_fields(err)
            .iter()
            .any(|(_, m)| m.contains("too common"))
    );
    store
        .set_password(user.id, "new secret phrase")
        .await
        .unwrap();
    assert!(
        store
            .authenticate("hal@example.com", "a long passphrase")
            .await
            .is_err()
    );
    assert!(
        store
            .authenticate("hal@example.com", "new secret phrase")
            .await
            .is_ok()
    );
    assert!(matches!(
        store.set_password(UserId(999), "new secret phrase").await,
        Err(Error::NotFound { entity: "user" })
    ));
}

async fn users_are_listed_newest_first_with_filters(store: &Store) {
    let role = store
        .create_role(NewRole {
            name: "Support".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut made = Vec::new();
    for (i, name) in ["ivy", "jon", "kim", "lee"].iter().enumerate() {
        made.push(
            store
                .create_user(NewUser {
                    is_staff: i % 2 == 0,
                    role_id: (i == 3).then_some(role.id),
                    last_name: if i == 1 {
                        "Smith".into()
                    } else {
                        String::new()
                    },
                    ..NewUser::new(format!("{name}@example.com"), *name)
                })
                .await
                .unwrap(),
        );
    }
    let all = store
        .list_users(
            &UserFilter::default(),
            Sort::desc(UserSort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let ids: Vec<UserId> = all.items.iter().map(|u| u.id).collect();
    assert_eq!(ids, made.iter().rev().map(|u| u.id).collect::<Vec<_>>());
    let staff = store
        .list_users(
            &UserFilter {
                is_staff: Some(true),
                ..Default::default()
            },
            Sort::asc(UserSort::Email),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        staff
            .items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["ivy", "kim"]
    );
    let searched = store
        .list_users(
            &UserFilter {
                search: Some("smi".into()),
                ..Default::default()
            },
            Sort::asc(UserSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(searched.items[0].username, "jon");
    let by_role = store
        .list_users(
            &UserFilter {
                role_id: Some(role.id),
                is_active: Some(true),
                ..Default::default()
            },
            Sort::asc(UserSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (by_role.total, by_role.items[0].username.as_str()),
        (1, "lee")
    );
    let last_login_sorted = store
        .list_users(
            &UserFilter::default(),
            Sort::asc(UserSort::LastLogin),
            PageRequest::first(2),
        )
        .await
        .unwrap();
    assert_eq!(last_login_sorted.total, 4);
    assert_eq!(
        last_login_sorted.items[0].id, made[0].id,
        "null ties broken by id"
    );
}

async fn users_update_and_permissions_replace(store: &Store) {
    let user = staff(store, "max").await;
    let view = Permission::new(Action::View, Model::Client);
    let change = Permission::new(Action::Change, Model::Client);
    let updated = store
        .update_user(
            user.id,
            UserUpdate {
                first_name: Some("  Max ".into()),
                phone: Some("+1 555".into()),
                permissions: Some(BTreeSet::from([view, change])),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.first_name.as_str(), updated.phone.as_str()),
        ("Max", "+1 555")
    );
    assert!(updated.updated_at >= user.updated_at);
    assert_eq!(
        store.user_permissions(user.id).await.unwrap(),
        BTreeSet::from([view, change])
    );
    store
        .update_user(
            user.id,
            UserUpdate {
                permissions: Some(BTreeSet::from([view])),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.user_permissions(user.id).await.unwrap(),
        BTreeSet::from([view])
    );
    let err = store
        .update_user(
            user.id,
            UserUpdate {
                username: Some("no spaces allowed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "username");
    assert_eq!(store.user(user.id).await.unwrap().username, "max");
}

async fn roles_have_unique_names_and_permission_sets(store: &Store) {
    let perms = BTreeSet::from([
        Permission::new(Action::View, Model::ChatHistory),
        Permission::new(Action::Add, Model::User),
    ]);
    let role = store
        .create_role(NewRole {
            name: " Sales ".into(),
            description: "d".into(),
            permissions: perms.clone(),
        })
        .await
        .unwrap();
    assert_eq!(role.name, "Sales");
    assert_eq!(store.role(role.id).await.unwrap().permissions, perms);
    let err = store
        .create_role(NewRole {
            name: "Sales".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { field: "name", .. }),
        "{err:?}"
    );
    let err = store
        .create_role(NewRole {
            name: "x".repeat(101),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        validation_fields(err)[0].1,
        "Ensure this field has no more than 100 characters."
    );
    store
        .create_role(NewRole {
            name: "Audit".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let updated = store
        .update_role(
            role.id,
            RoleUpdate {
                permissions: Some(BTreeSet::new()),
                description: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.permissions.is_empty());
    let err = store
        .update_role(
            role.id,
            RoleUpdate {
                name: Some("Audit".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { field: "name", .. }));
    let listed = store
        .list_roles(
            &RoleFilter::default(),
            Sort::asc(RoleSort::Name),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["Audit", "Sales"]
    );
}

async fn deleting_a_role_leaves_its_users_without_role(store: &Store) {
    let role = store
        .create_role(NewRole {
            name: "Temp".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            role_id: Some(role.id),
            ..NewUser::new("n@example.com", "n")
        })
        .await
        .unwrap();
    store.delete_role(role.id).await.unwrap();
    assert_eq!(store.user(user.id).await.unwrap().role_id, None);
    assert_eq!(count(store, "role_permissions").await, 0);
    assert!(matches!(
        store.delete_role(role.id).await,
        Err(Error::NotFound { entity: "role" })
    ));
}

async fn effective_permissions_follow_role_user_and_flags(store: &Store) {
    let view_chat = Permission::new(Action::View, Model::ChatHistory);
    let add_client = Permission::new(Action::Add, Model::Client);
    let role = store
        .create_role(NewRole {
            name: "Agents".into(),
            permissions: BTreeSet::from([view_chat]),
            ..Default::default()
        })
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            role_id: Some(role.id),
            permissions: BTreeSet::from([add_client]),
            ..NewUser::new("o@example.com", "o")
        })
        .await
        .unwrap();
    assert_eq!(
        store.effective_permissions(&user).await.unwrap(),
        BTreeSet::from([view_chat, add_client])
    );
    assert!(store.has_permission(&user, view_chat).await.unwrap());
    assert!(
        !store
            .has_permission(&user, Permission::new(Action::Delete, Model::User))
            .await
            .unwrap()
    );
    let inactive = store
        .update_user(
            user.id,
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .effective_permissions(&inactive)
            .await
            .unwrap()
            .is_empty()
    );
    let root = store
        .create_user(NewUser {
            is_superuser: true,
            ..NewUser::new("root@example.com", "root")
        })
        .await
        .unwrap();
    assert_eq!(store.effective_permissions(&root).await.unwrap().len(), 30);
}

async fn deleting_a_user_cascades_and_sets_null(store: &Store) {
    let boss = staff(store, "pat").await;
    let agent = store
        .create_user(NewUser {
            is_staff: true,
            created_by: Some(boss.id),
            permissions: BTreeSet::from([Permission::new(Action::View, Model::Client)]),
            ..NewUser::new("quinn@example.com", "quinn")
        })
        .await
        .unwrap();
    assert_eq!(agent.created_by, Some(boss.id));
    let client = store.create_client(NewClient::new("Rae")).await.unwrap();
    store
        .set_stage(client.id, Stage::Contacted, Some(boss.id), "")
        .await
        .unwrap();
    store
        .assign(client.id, agent.id, Some(boss.id), "")
        .await
        .unwrap();
    store
        .assign(client.id, boss.id, Some(boss.id), "")
        .await
        .unwrap();
    store.delete_user(boss.id).await.unwrap();
    assert_eq!(store.user(agent.id).await.unwrap().created_by, None);
    let history = store
        .list_stage_changes(
            &StageChangeFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(history.total, 2);
    assert!(history.items.iter().all(|h| h.changed_by.is_none()));
    let assignments = store
        .list_assignments(
            &AssignmentFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        assignments.total, 1,
        "the assignment to the deleted user is gone"
    );
    assert_eq!(assignments.items[0].assigned_to, Some(agent.id));
    assert_eq!(assignments.items[0].assigned_by, None);
    store.delete_user(agent.id).await.unwrap();
    assert_eq!(count(store, "user_permissions").await, 0);
    assert_eq!(count(store, "client_assignments").await, 0);
}

// ---------- clients ----------

async fn create_client_writes_context_and_first_history(store: &Store) {
    let creator = staff(store, "sam").await;
    let s = session();
    let client = store
        .create_client(NewClient {
            email: "Tia@Example.com".into(),
            phone: " +44 20 ".into(),
            chat_session_id: Some(s),
            context: json!({"loan": 5000}).as_object().unwrap().clone(),
            created_by: Some(creator.id),
            ..NewClient::new(" Tia ")
        })
        .await
        .unwrap();
    assert_eq!(
        (
            client.name.as_str(),
            client.email.as_str(),
            client.phone.as_str()
        ),
        ("Tia", "Tia@example.com", "+44 20")
    );
    assert_eq!(client.current_stage, Stage::Lead);
    let context = store.context(client.id).await.unwrap();
    assert_eq!(context.chat_session_id, Some(s));
    assert_eq!(context.data, *json!({"loan": 5000}).as_object().unwrap());
    let history = store
        .list_stage_changes(
            &StageChangeFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(
        (history.items[0].from_stage, history.items[0].to_stage),
        (None, Stage::Lead)
    );
    assert_eq!(history.items[0].changed_by, Some(creator.id));
    let by_session = store
        .list_contexts(
            &ContextFilter {
                chat_session_id: Some(s),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_session.items[0].client_id, client.id);
}

async fn client_validation_reports_every_field(store: &Store) {
    let err = store
        .create_client(NewClient {
            email: "nope".into(),
            phone: "9".repeat(21),
            ..NewClient::new("  ")
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = validation_fields(err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["name", "email", "phone"]);
    let err = store
        .create_client(NewClient::new("x".repeat(256)))
        .await
        .unwrap_err();
    assert_eq!(
        validation_fields(err)[0].1,
        "Ensure this field has no more than 255 characters."
    );
    assert_eq!(count(store, "clients").await, 0);
    assert_eq!(count(store, "client_contexts").await, 0);
    let ok = store.create_client(NewClient::new("Uma")).await.unwrap();
    let err = store
        .update_client(
            ok.id,
            ClientUpdate {
                email: Some("bad@".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "email");
}

async fn clients_are_listed_with_filters_and_stable_order(store: &Store) {
    let mut made = Vec::new();
    for (name, email) in [
        ("Vic", "vic@a.com"),
        ("Wes", "wes@b.com"),
        ("Vic", "vic2@a.com"),
        ("Xia", ""),
    ] {
        made.push(
            store
                .create_client(NewClient {
                    email: email.into(),
                    ..NewClient::new(name)
                })
                .await
                .unwrap(),
        );
    }
    store
        .set_stage(made[1].id, Stage::Qualified, None, "")
        .await
        .unwrap();
    let newest = store
        .list_clients(
            &ClientFilter::default(),
            Sort::desc(ClientSort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        newest.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        made.iter().rev().map(|c| c.id).collect::<Vec<_>>()
    );
    let by_name = store
        .list_clients(
            &ClientFilter::default(),
            Sort::asc(ClientSort::Name),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        by_name.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[0].id, made[2].id, made[1].id, made[3].id],
        "equal names ordered by id"
    );
    let by_name_desc = store
        .list_clients(
            &ClientFilter::default(),
            Sort::desc(ClientSort::Name),
            PageRequest::page(2, 2),
        )
        .await
        .unwrap();
    assert_eq!(
        by_name_desc.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[2].id, made[0].id]
    );
    let qualified = store
        .list_clients(
            &ClientFilter {
                stage: Some(Stage::Qualified),
                ..Default::default()
            },
            Sort::desc(ClientSort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!((qualified.total, qualified.items[0].id), (1, made[1].id));
    let searched = store
        .list_clients(
            &ClientFilter {
                search: Some("@A.COM".into()),
                ..Default::default()
            },
            Sort::asc(ClientSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(searched.total, 2);
    let ranged = store
        .list_clients(
            &ClientFilter {
                created_from: Some(made[1].created_at),
                created_before: Some(made[3].created_at + Duration::microseconds(1)),
                ..Default::default()
            },
            Sort::asc(ClientSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ranged.items.first().map(|c| c.id), Some(made[1].id));
    assert_eq!(ranged.items.last().map(|c| c.id), Some(made[3].id));
}

async fn set_stage_records_history_and_skips_no_ops(store: &Store) {
    let agent = staff(store, "yan").await;
    let client = store.create_client(NewClient::new("Zed")).await.unwrap();
    let change = store
        .set_stage(client.id, Stage::Contacted, Some(agent.id), "  first call ")
        .await
        .unwrap()
        .change
        .unwrap();
    assert_eq!(
        (change.from_stage, change.to_stage),
        (Some(Stage::Lead), Stage::Contacted)
    );
    assert_eq!(
        (change.changed_by, change.remarks.as_str()),
        (Some(agent.id), "first call")
    );
    assert_eq!(
        store
            .set_stage(client.id, Stage::Contacted, None, "again")
            .await
            .unwrap()
            .change,
        None
    );
    store
        .set_stage(client.id, Stage::Lost, None, "")
        .await
        .unwrap();
    assert_eq!(
        store.client(client.id).await.unwrap().current_stage,
        Stage::Lost
    );
    let history = store
        .list_stage_changes(
            &StageChangeFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let stages: Vec<(Option<Stage>, Stage)> = history
        .items
        .iter()
        .map(|h| (h.from_stage, h.to_stage))
        .collect();
    assert_eq!(
        stages,
        [
            (Some(Stage::Contacted), Stage::Lost),
            (Some(Stage::Lead), Stage::Contacted),
            (None, Stage::Lead)
        ]
    );
    let to_lost = store
        .list_stage_changes(
            &StageChangeFilter {
                to_stage: Some(Stage::Lost),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(to_lost.total, 1);
    let err = store
        .set_stage(client.id, Stage::Active, Some(UserId(999)), "")
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "changed_by");
    assert_eq!(
        store.client(client.id).await.unwrap().current_stage,
        Stage::Lost,
        "nothing half-written"
    );
}

async fn concurrent_stage_changes_replay_to_current_stage(store: &Store) {
    let client = store.create_client(NewClient::new("Race")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stage = Stage::ALL[i % Stage::ALL.len()];
            store.set_stage(client.id, stage, None, "").await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = store
        .list_stage_changes(
            &StageChangeFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::asc(HistorySort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let mut stage = None;
    for entry in &history.items {
        assert_eq!(
            entry.from_stage, stage,
            "history entry {} does not follow its predecessor",
            entry.id
        );
        assert_ne!(entry.from_stage, Some(entry.to_stage));
        stage = Some(entry.to_stage);
    }
    assert_eq!(
        stage,
        Some(store.client(client.id).await.unwrap().current_stage)
    );
}

async fn context_keys_are_set_merged_and_removed(store: &Store) {
    let client = store.create_client(NewClient::new("Ctx")).await.unwrap();
    let before = store.context(client.id).await.unwrap();
    assert!(before.data.is_empty());
    store
        .change_context(
            client.id,
            &[ContextChange::Set("amount".into(), json!(100))],
        )
        .await
        .unwrap();
    let merged = store
        .change_context(
            client.id,
            &[ContextChange::Merge(
                json!({"amount": 200, "city": "Oslo"})
                    .as_object()
                    .unwrap()
                    .clone(),
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data,
        *json!({"amount": 200, "city": "Oslo"}).as_object().unwrap()
    );
    assert_eq!(merged.id, before.id);
    assert!(merged.updated_at >= before.updated_at);
    assert_eq!(
        store.context_value(client.id, "city").await.unwrap(),
        Some(json!("Oslo"))
    );
    assert_eq!(store.context_value(client.id, "nope").await.unwrap(), None);
    store
        .change_context(client.id, &[ContextChange::Remove("amount".into())])
        .await
        .unwrap();
    let s = session();
    store
        .change_context(client.id, &[ContextChange::ChatSession(Some(s))])
        .await
        .unwrap();
    let replaced = store
        .change_context(
            client.id,
            &[ContextChange::Replace(
                json!({"nested": {"a": [1, 2]}})
                    .as_object()
                    .unwrap()
                    .clone(),
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        replaced.data,
        *json!({"nested": {"a": [1, 2]}}).as_object().unwrap()
    );
    assert_eq!(replaced.chat_session_id, Some(s));
    let err = store
        .change_context(client.id, &[ContextChange::Set(String::new(), json!(1))])
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "key");
    assert!(matches!(
        store
            .change_context(ClientId(999), &[ContextChange::Set("a".into(), json!(1))])
            .await,
        Err(Error::NotFound { entity: "client" })
    ));
    // A client whose context row is missing (e.g. imported) gets one on first change.
    store
        .execute_raw(&format!(
            "DELETE FROM client_contexts WHERE client_id = {}",
            client.id
        ))
        .await
        .unwrap();
    assert!(store.context(client.id).await.unwrap().data.is_empty());
    let recreated = store
        .change_context(client.id, &[ContextChange::Set("k".into(), json!(true))])
        .await
        .unwrap();
    assert_eq!(recreated.data, *json!({"k": true}).as_object().unwrap());
}

async fn concurrent_context_merges_keep_every_key(store: &Store) {
    let client = store.create_client(NewClient::new("Many")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .change_context(client.id, &[ContextChange::Set(format!("k{i}"), json!(i))])
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.context(client.id).await.unwrap().data.len(), 16);
}

async fn assign_deactivates_previous_assignment(store: &Store) {
    let (a, b) = (staff(store, "ana").await, staff(store, "ben").await);
    let client = store.create_client(NewClient::new("Cal")).await.unwrap();
    let first = store
        .assign(client.id, a.id, Some(b.id), " hot lead ")
        .await
        .unwrap();
    assert!(first.is_active);
    assert_eq!(
        (first.assigned_to, first.assigned_by, first.remarks.as_str()),
        (Some(a.id), Some(b.id), "hot lead")
    );
    let second = store.assign(client.id, b.id, None, "").await.unwrap();
    let active = store.active_assignment(client.id).await.unwrap().unwrap();
    assert_eq!(active.id, second.id);
    let all = store
        .list_assignments(
            &AssignmentFilter {
                client_id: Some(client.id),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 2);
    assert!(!all.items[1].is_active && all.items[1].id == first.id);
    let to_a = store
        .list_assignments(
            &AssignmentFilter {
                assigned_to: Some(a.id),
                is_active: Some(false),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(to_a.total, 1);
}

async fn assign_requires_active_staff_user(store: &Store) {
    let client = store.create_client(NewClient::new("Dot")).await.unwrap();
    let plain = store
        .create_user(NewUser::new("plain@example.com", "plain"))
        .await
        .unwrap();
    let err = store
        .assign(client.id, plain.id, None, "")
        .await
        .unwrap_err();
    assert_eq!(validation_fields(err)[0].0, "assigned_to");
    let err = store
        .assign(client.id, UserId(999), None, "")
        .await
        .unwrap_err();
    assert_eq!(
        validation_fields(err)[0].1,
        "Invalid pk \"999\" - object does not exist."
    );
    let agent = staff(store, "eli").await;
    assert!(matches!(
        store.assign(ClientId(999), agent.id, None, "").await,
        Err(Error::NotFound { entity: "client" })
    ));
    assert_eq!(count(store, "client_assignments").await, 0);
}

async fn concurrent_assigns_leave_exactly_one_active(store: &Store) {
    let mut agents = Vec::new();
    for i in 0..4 {
        agents.push(staff(store, &format!("agent{i}")).await);
    }
    let client = store.create_client(NewClient::new("Hot")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        let to = agents[i % 4].id;
        tasks.push(tokio::spawn(async move {
            store.assign(client.id, to, None, "").await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => panic!("concurrent assign failed: {e:?}"),
        }
    }
    assert_eq!(ok, 32);
    let active = store
        .list_assignments(
            &AssignmentFilter {
                client_id: Some(client.id),
                is_active: Some(true),
                ..Default::default()
            },
            Sort::desc(HistorySort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(active.total, 1);
}

async fn database_refuses_two_active_assignments(store: &Store) {
    let agent = staff(store, "fox").await;
    let client = store.create_client(NewClient::new("Gus")).await.unwrap();
    store.assign(client.id, agent.id, None, "").await.unwrap();
    let t = match store.kind() {
        BackendKind::Postgres => "true, now(), now()",
        BackendKind::Sqlite => "1, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00'",
    };
    let err = store
        .execute_raw(&format!(
            "INSERT INTO client_assignments (client_id, assigned_to_id, is_active, created_at, updated_at) \
             VALUES ({}, {}, {t})",
            client.id, agent.id
        ))
        .await
        .unwrap_err();
    match err {
        Error::Database(e) => assert!(e.is_unique_violation()),
        other => panic!("expected a unique violation, got {other:?}"),
    }
}

async fn unassign_ends_the_active_assignment(store: &Store) {
    let agent = staff(store, "gil").await;
    let client = store.create_client(NewClient::new("Hal")).await.unwrap();
    assert_eq!(store.unassign(client.id).await.unwrap(), None);
    let made = store.assign(client.id, agent.id, None, "").await.unwrap();
    let ended = store.unassign(client.id).await.unwrap().unwrap();
    assert_eq!(ended.id, made.id);
    assert!(!ended.is_active);
    assert_eq!(store.active_assignment(client.id).await.unwrap(), None);
    assert!(matches!(
        store.unassign(ClientId(999)).await,
        Err(Error::NotFound { entity: "client" })
    ));
}

async fn deleting_a_client_cascades(store: &Store) {
    let agent = staff(store, "ike").await;
    let client = store.create_client(NewClient::new("Jo")).await.unwrap();
    store
        .set_stage(client.id, Stage::Qualified, None, "")
        .await
        .unwrap();
    store.assign(client.id, agent.id, None, "").await.unwrap();
    store
        .change_context(client.id, &[ContextChange::Set("a".into(), json!(1))])
        .await
        .unwrap();
    store.delete_client(client.id).await.unwrap();
    for table in [
        "clients",
        "client_contexts",
        "client_stage_history",
        "client_assignments",
    ] {
        assert_eq!(count(store, table).await, 0, "{table}");
    }
    assert!(matches!(
        store.client(client.id).await,
        Err(Error::NotFound { entity: "client" })
    ));
    assert!(matches!(
        store.delete_client(client.id).await,
        Err(Error::NotFound { .. })
    ));
}

async fn missing_objects_are_not_found(store: &Store) {
    assert!(matches!(
        store.user(UserId(42)).await,
        Err(Error::NotFound { entity: "user" })
    ));
    assert!(matches!(
        store.user_by_email("x@y.zz").await,
        Err(Error::NotFound { entity: "user" })
    ));
    assert!(matches!(
        store.role(RoleId(42)).await,
        Err(Error::NotFound { entity: "role" })
    ));
    assert!(matches!(
        store.message(MessageId(42)).await,
        Err(Error::NotFound { entity: "message" })
    ));
    assert!(matches!(
        store.context(ClientId(42)).await,
        Err(Error::NotFound { entity: "client" })
    ));
    assert!(matches!(
        store
            .update_client(
                ClientId(42),
                ClientUpdate {
                    name: Some("n".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(Error::NotFound { entity: "client" })
    ));
    assert!(matches!(
        store.update_user(UserId(42), UserUpdate::default()).await,
        Err(Error::NotFound { entity: "user" })
    ));
    assert!(matches!(
        store.update_role(RoleId(42), RoleUpdate::default()).await,
        Err(Error::NotFound { entity: "role" })
    ));
    assert!(matches!(
        store.delete_user(UserId(42)).await,
        Err(Error::NotFound { .. })
    ));
}

// ---------- auth ----------

async fn tokens_are_hashed_expire_and_revoke(store: &Store) {
    let user = staff(store, "tok").await;
    let issued = store
        .issue_token(
            user.id,
            TokenKind::Api,
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .user_for_token(&issued.token, TokenKind::Api)
            .await
            .unwrap()
            .id,
        user.id
    );
    assert!(matches!(
        store
            .user_for_token(&issued.token, TokenKind::Session)
            .await,
        Err(Error::Authentication(AuthFailure::InvalidToken))
    ));
    let stored = store
        .fetch_texts("SELECT kind FROM auth_tokens")
        .await
        .unwrap();
    assert_eq!(stored, ["api"]);
    let hex = match store.kind() {
        BackendKind::Postgres => "encode(token_hash, 'hex')",
        BackendKind::Sqlite => "lower(hex(token_hash))",
    };
    let hashes = store
        .fetch_texts(&format!("SELECT {hex} FROM auth_tokens"))
        .await
        .unwrap();
    assert_ne!(hashes[0], issued.token, "the token itself is never stored");
    assert_eq!(hashes[0].len(), 64);
    for bad in ["", "nope", &"g".repeat(64), &"0".repeat(64)] {
        assert!(store.user_for_token(bad, TokenKind::Api).await.is_err());
    }
    let expired = store
        .issue_token(user.id, TokenKind::Session, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(
        store
            .user_for_token(&expired.token, TokenKind::Session)
            .await
            .is_err()
    );
    assert_eq!(
        store.purge_expired(&LoginPolicy::default()).await.unwrap(),
        1
    );
    store.revoke_token(&issued.token).await.unwrap();
    store.revoke_token(&issued.token).await.unwrap();
    assert!(
        store
            .user_for_token(&issued.token, TokenKind::Api)
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .issue_token(
                UserId(999),
                TokenKind::Api,
                std::time::Duration::from_secs(1)
            )
            .await,
        Err(Error::NotFound { entity: "user" })
    ));
}

async fn tokens_of_inactive_users_are_refused(store: &Store) {
    let user = staff(store, "sleepy").await;
    let issued = store
        .issue_token(
            user.id,
            TokenKind::Session,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    store
        .update_user(
            user.id,
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .user_for_token(&issued.token, TokenKind::Session)
            .await
            .is_err()
    );
    store.delete_user(user.id).await.unwrap();
    assert_eq!(
        count(store, "auth_tokens").await,
        0,
        "tokens go with their user"
    );
}

async fn set_password_revokes_tokens(store: &Store) {
    let user = staff(store, "rotate").await;
    let other = staff(store, "keeper").await;
    let ttl = std::time::Duration::from_secs(60);
    let a = store
        .issue_token(user.id, TokenKind::Api, ttl)
        .await
        .unwrap();
    let b = store
        .issue_token(user.id, TokenKind::Session, ttl)
        .await
        .unwrap();
    let kept = store
        .issue_token(other.id, TokenKind::Api, ttl)
        .await
        .unwrap();
    store
        .set_password(user.id, "brand new passphrase")
        .await
        .unwrap();
    assert!(
        store
            .user_for_token(&a.token, TokenKind::Api)
            .await
            .is_err()
    );
    assert!(
        store
            .user_for_token(&b.token, TokenKind::Session)
            .await
            .is_err()
    );
    assert!(
        store
            .user_for_token(&kept.token, TokenKind::Api)
            .await
            .is_ok()
    );
    assert_eq!(store.revoke_user_tokens(other.id).await.unwrap(), 1);
}

async fn login_throttle_counts_email_and_address(store: &Store) {
    staff(store, "thr").await;
    staff(store, "other").await;
    let policy = LoginPolicy {
        max_failures_per_email: 3,
        max_failures_per_address: 5,
        window: std::time::Duration::from_secs(600),
    };
    for _ in 0..3 {
        let err = store
            .login("thr@example.com", "wrong", Some("10.0.0.1"), &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    }
    // The email is locked, even with the right password and from elsewhere.
    match store
        .login(
            "THR@example.com",
            "a long passphrase",
            Some("10.0.0.2"),
            &policy,
        )
        .await
    {
        Err(Error::Throttled { retry_after }) => {
            assert!(retry_after.as_secs() >= 1 && retry_after.as_secs() <= 600)
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    // Two more failures from 10.0.0.1 on another email lock that address for every email.
    for _ in 0..2 {
        assert!(matches!(
            store
                .login("other@example.com", "wrong", Some("10.0.0.1"), &policy)
                .await,
            Err(Error::Authentication(_))
        ));
    }
    assert!(matches!(
        store
            .login(
                "other@example.com",
                "a long passphrase",
                Some("10.0.0.1"),
                &policy
            )
            .await,
        Err(Error::Throttled { .. })
    ));
    // Another address with the right password still gets in, and success clears the email.
    store
        .login(
            "other@example.com",
            "a long passphrase",
            Some("10.0.0.3"),
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .login("other@example.com", "wrong", None, &policy)
            .await,
        Err(Error::Authentication(_))
    ));
    // A zero-length window forgets everything.
    let forgetful = LoginPolicy {
        window: std::time::Duration::ZERO,
        ..policy
    };
    store
        .login(
            "thr@example.com",
            "a long passphrase",
            Some("10.0.0.1"),
            &forgetful,
        )
        .await
        .unwrap();
}

/// Issue 15, finding 5: 100 concurrent wrong passwords for one email under a policy of 5. The
/// check and the count are one atomic step, so at most 5 attempts are evaluated (401), and the
/// rest are throttled (429) without checking the password.
async fn concurrent_wrong_passwords_evaluate_at_most_the_limit(store: &Store) {
    staff(store, "race").await;
    let policy = LoginPolicy::default();
    let attempts = (0..100).map(|i| {
        let store = store.clone();
        let policy = policy.clone();
        tokio::spawn(async move {
            let address = format!("10.1.{}.{}", i / 200, i % 200);
            store
                .login("race@example.com", "wrong", Some(&address), &policy)
                .await
        })
    });
    let (mut evaluated, mut throttled) = (0, 0);
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Err(Error::Authentication(_)) => evaluated += 1,
            Err(Error::Throttled { .. }) => throttled += 1,
            other => panic!("expected 401 or 429, got {other:?}"),
        }
    }
    eprintln!("THROTTLE 100 concurrent: evaluated={evaluated} throttled={throttled}");
    assert_eq!(evaluated, 5, "exactly the policy's limit is evaluated");
    assert_eq!(throttled, 95);
    assert_eq!(count(store, "login_failures").await, 10);
}

/// Issue 15, finding 13: with limits set, 50 concurrent posts from one address get exactly the
/// limit stored and the rest throttled; the session limit holds across addresses; an invalid
/// message does not count; without limits nothing is throttled.
async fn chat_rate_limits_are_atomic_per_address_and_session(store: &Store) {
    use crate::chat_guard::{ChatPolicy, PostOrigin};
    let policy = ChatPolicy {
        max_per_address: 7,
        max_per_session: 12,
        window: std::time::Duration::from_secs(3600),
        bot_key: None,
    };
    let target = session();
    let posts: Vec<_> = (0..50)
        .map(|i| {
            let (store, policy) = (store.clone(), policy.clone());
            tokio::spawn(async move {
                let origin = PostOrigin {
                    client_address: Some("203.0.113.7"),
                    bot_key: None,
                };
                store
                    .append_guarded(
                        target,
                        &format!("m{i}"),
                        SenderType::Client,
                        origin,
                        &policy,
                    )
                    .await
            })
        })
        .collect();
    let (mut stored, mut throttled) = (0, 0);
    for post in posts {
        match post.await.unwrap() {
            Ok(_) => stored += 1,
            Err(Error::Throttled { retry_after }) => {
                assert!((1..=3600).contains(&retry_after.as_secs()));
                throttled += 1
            }
            other => panic!("expected stored or throttled, got {other:?}"),
        }
    }
    assert_eq!((stored, throttled), (7, 43));
    assert_eq!(store.history(target).await.unwrap().len(), 7);
    // The session's limit (12) holds whatever the address.
    let mut more = 0;
    for i in 0..10 {
        let address = format!("198.51.100.{i}");
        let origin = PostOrigin {
            client_address: Some(&address),
            bot_key: None,
        };
        if store
            .append_guarded(target, "again", SenderType::Client, origin, &policy)
            .await
            .is_ok()
        {
            more += 1;
        }
    }
    assert_eq!(more, 5);
    // An invalid message is a validation error, not a throttle, and counts for nothing.
    let origin = PostOrigin {
        client_address: Some("192.0.2.1"),
        bot_key: None,
    };
    assert!(matches!(
        store
            .append_guarded(session(), "  ", SenderType::Client, origin, &policy)
            .await,
        Err(Error::Validation(_))
    ));
    // The default policy limits nothing (the original's behaviour).
    for _ in 0..20 {
        store
            .append_guarded(
                target,
                "free",
                SenderType::Client,
                origin,
                &ChatPolicy::default(),
            )
            .await
            .unwrap();
    }
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

async fn audit_records_writes_made_as_an_actor(store: &Store) {
    let admin = staff(store, "boss").await;
    let as_admin = store.acting_as(&admin);
    assert_eq!(as_admin.actor().unwrap().repr, "boss@example.com");
    // Writes without an actor are not logged.
    store.create_client(NewClient::new("Quiet")).await.unwrap();
    assert_eq!(count(store, "audit_log").await, 0);

    let client = as_admin
        .create_client(NewClient::new("Loud"))
        .await
        .unwrap();
    as_admin
        .set_stage(client.id, Stage::Contacted, Some(admin.id), "call")
        .await
        .unwrap();
    as_admin
        .change_context(client.id, &[ContextChange::Set("k".into(), json!(1))])
        .await
        .unwrap();
    as_admin
        .assign(client.id, admin.id, Some(admin.id), "")
        .await
        .unwrap();
    as_admin.unassign(client.id).await.unwrap();
    let user = as_admin
        .create_user(NewUser::new("new@example.com", "newbie").password("another passphrase"))
        .await
        .unwrap();
    as_admin
        .set_password(user.id, "yet another passphrase")
        .await
        .unwrap();
    as_admin
        .update_user(
            user.id,
            UserUpdate {
                is_staff: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let role = as_admin
        .create_role(NewRole {
            name: "R".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    as_admin.delete_role(role.id).await.unwrap();
    let s = session();
    let m = store
        .append(s, "to be removed", SenderType::Client)
        .await
        .unwrap();
    as_admin.delete_message(m.id).await.unwrap();
    store.append(s, "again", SenderType::Client).await.unwrap();
    as_admin.delete_session(s).await.unwrap();
    as_admin.delete_client(client.id).await.unwrap();

    let log = store
        .list_audit(
            &AuditFilter::default(),
            Sort::asc(AuditSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let summary: Vec<(AuditAction, &str)> = log
        .items
        .iter()
        .map(|e| (e.action, e.object_type.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (AuditAction::Create, "client"),
            (AuditAction::Create, "clientstagehistory"),
            (AuditAction::Update, "context"),
            (AuditAction::Create, "clientassignment"),
            (AuditAction::Update, "clientassignment"),
            (AuditAction::Create, "user"),
            (AuditAction::Update, "user"),
            (AuditAction::Update, "user"),
            (AuditAction::Create, "role"),
            (AuditAction::Delete, "role"),
            (AuditAction::Delete, "chathistory"),
            (AuditAction::Delete, "chatsession"),
            (AuditAction::Delete, "client"),
        ]
    );
    assert!(
        log.items
            .iter()
            .all(|e| e.actor_id == Some(admin.id) && e.actor_repr == "boss@example.com")
    );
    assert_eq!(log.items[0].object_id, client.id.to_string());
    assert_eq!(log.items[0].object_repr, "Loud");
    assert_eq!(log.items[7].changes, json!({"is_staff": true}));
    assert_eq!(log.items[6].changes, json!({"password": "changed"}));
    for entry in &log.items {
        let text = entry.changes.to_string();
        assert!(
            !text.contains("passphrase") && !text.contains("argon2"),
            "{text}"
        );
    }
    let only_users = store
        .list_audit(
            &AuditFilter {
                object_type: Some("user".into()),
                object_id: Some(user.id.to_string()),
                ..Default::default()
            },
            Sort::desc(AuditSort::CreatedAt),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(only_users.total, 3);
    assert_eq!(
        only_users.items[0].changes,
        json!({"is_staff": true}),
        "newest first"
    );
}

async fn audit_never_records_a_rolled_back_change(store: &Store) {
    let admin = staff(store, "careful").await;
    let as_admin = store.acting_as(&admin);
    assert!(
        as_admin
            .create_user(NewUser::new("careful@example.com", "dup"))
            .await
            .is_err()
    );
    assert!(as_admin.delete_client(ClientId(999)).await.is_err());
    let client = store.create_client(NewClient::new("C")).await.unwrap();
    assert!(
        as_admin
            .set_stage(client.id, Stage::Lost, Some(UserId(999)), "")
            .await
            .is_err()
    );
    assert_eq!(
        as_admin
            .set_stage(client.id, Stage::Lead, None, "")
            .await
            .unwrap()
            .change,
        None
    );
    assert_eq!(count(store, "audit_log").await, 0);
}

async fn deleting_the_actor_keeps_the_log(store: &Store) {
    let admin = staff(store, "leaver").await;
    let as_admin = store.acting_as(&admin);
    as_admin
        .create_client(NewClient::new("Kept"))
        .await
        .unwrap();
    as_admin.delete_user(admin.id).await.unwrap();
    let log = store
        .list_audit(
            &AuditFilter::default(),
            Sort::asc(AuditSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(log.total, 2);
    assert!(
        log.items
            .iter()
            .all(|e| e.actor_id.is_none() && e.actor_repr == "leaver@example.com")
    );
    assert_eq!(
        (log.items[1].action, log.items[1].object_repr.as_str()),
        (AuditAction::Delete, "leaver@example.com")
    );
}

/// Issue 15, finding 4: `account.add_user` alone creates plain accounts; staff status, roles
/// and permissions need `account.change_user`; only a superuser grants `is_superuser`.
async fn only_superusers_grant_superuser_and_change_user_grants_staff(store: &Store) {
    let add = Permission::new(Action::Add, Model::User);
    let change = Permission::new(Action::Change, Model::User);
    let staff_with = |name: &str, perms: &[Permission]| NewUser {
        is_staff: true,
        permissions: perms.iter().copied().collect(),
        ..NewUser::new(format!("{name}@example.com"), name)
    };
    let root = store
        .create_user(NewUser {
            is_superuser: true,
            ..staff_with("root", &[])
        })
        .await
        .unwrap();
    let adder = store
        .create_user(staff_with("adder", &[add]))
        .await
        .unwrap();
    let changer = store
        .create_user(staff_with("changer", &[add, change]))
        .await
        .unwrap();
    let role = store
        .create_role(NewRole {
            name: "Any".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let denied = |r: Result<User>| matches!(r, Err(Error::PermissionDenied(_)));

    // add_user alone: a plain account, nothing more.
    store
        .create_user_as(&adder, NewUser::new("p1@example.com", "p1"))
        .await
        .unwrap();
    for grant in [
        NewUser {
            is_superuser: true,
            ..NewUser::new("s1@example.com", "s1")
        },
        NewUser {
            is_staff: true,
            ..NewUser::new("s2@example.com", "s2")
        },
        NewUser {
            permissions: BTreeSet::from([add]),
            ..NewUser::new("s3@example.com", "s3")
        },
        NewUser {
            role_id: Some(role.id),
            ..NewUser::new("s4@example.com", "s4")
        },
    ] {
        let email = grant.email.clone();
        assert!(denied(store.create_user_as(&adder, grant).await), "{email}");
        // Nothing was written.
        assert!(store.user_by_email(&email).await.is_err());
    }
    // add_user + change_user: staff, roles and permissions, but never superuser.
    let staff = store
        .create_user_as(
            &changer,
            NewUser {
                is_staff: true,
                role_id: Some(role.id),
                permissions: BTreeSet::from([add]),
                ..NewUser::new("st@example.com", "st")
            },
        )
        .await
        .unwrap();
    assert!(denied(
        store
            .create_user_as(
                &changer,
                NewUser {
                    is_superuser: true,
                    ..NewUser::new("s5@example.com", "s5")
                },
            )
            .await
    ));
    // Updates: no self-promotion to superuser; a no-op `is_superuser: false` is fine.
    let promote = UserUpdate {
        is_superuser: Some(true),
        ..Default::default()
    };
    assert!(denied(
        store
            .update_user_as(&changer, changer.id, promote.clone())
            .await
    ));
    assert!(!store.user(changer.id).await.unwrap().is_superuser);
    store
        .update_user_as(
            &changer,
            staff.id,
            UserUpdate {
                is_superuser: Some(false),
                is_staff: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Revoking is granting too: only a superuser demotes one.
    assert!(denied(
        store
            .update_user_as(
                &changer,
                root.id,
                UserUpdate {
                    is_superuser: Some(false),
                    ..Default::default()
                },
            )
            .await
    ));
    // The superuser grants it.
    let promoted = store
        .update_user_as(&root, staff.id, promote)
        .await
        .unwrap();
    assert!(promoted.is_superuser);
    let created = store
        .create_user_as(
            &root,
            NewUser {
                is_superuser: true,
                is_staff: true,
                ..NewUser::new("s6@example.com", "s6")
            },
        )
        .await
        .unwrap();
    assert!(created.is_superuser);
    // An inactive superuser grants nothing.
    let retired = store
        .update_user(
            root.id,
            UserUpdate {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(denied(
        store
            .create_user_as(
                &retired,
                NewUser {
                    is_superuser: true,
                    ..NewUser::new("s7@example.com", "s7")
                },
            )
            .await
    ));
}

/// Issue 15, finding 7: `email_identity` (NFKC + Unicode lowercase) decides login, the
/// throttle bucket and uniqueness, the same way on both backends.
async fn email_identity_is_one_unicode_normalisation(store: &Store) {
    const PW: &str = "long enough secret";
    let admin = store
        .create_user(NewUser::new("admin@example.com", "admin").password(PW))
        .await
        .unwrap();
    // PostgreSQL's lower() maps İ to i; the identity keeps İ's combining dot: another address.
    assert!(matches!(
        store.authenticate("admİn@example.com", PW).await,
        Err(Error::Authentication(AuthFailure::UnknownEmail))
    ));
    assert!(store.user_by_email("admİn@example.com").await.is_err());
    assert_eq!(
        store
            .authenticate("ADMIN@example.com", PW)
            .await
            .unwrap()
            .id,
        admin.id
    );
    // ... so it may be registered, as a different user, on both backends.
    store
        .create_user(NewUser::new("admİn@example.com", "admin2"))
        .await
        .unwrap();

    // SQLite's lower() is ASCII-only: É and é used to be two users there.
    let upper = store
        .create_user(NewUser::new("ÉMAIL@x.com", "email1").password(PW))
        .await
        .unwrap();
    // Fullwidth letters fold to plain ones under NFKC.
    for same in ["émail@x.com", "\u{c9}ＭＡＩＬ@x.com"] {
        let err = store
            .create_user(NewUser::new(same, "email2"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict { field: "email", .. }),
            "{same}: {err:?}"
        );
        assert_eq!(
            store.authenticate(same, PW).await.unwrap().id,
            upper.id,
            "{same}"
        );
        assert_eq!(store.user_by_email(same).await.unwrap().id, upper.id);
    }
    // A decomposed é (e + U+0301) is refused as a new email by validation, but logs in.
    assert_eq!(
        store
            .authenticate("e\u{301}mail@x.com", PW)
            .await
            .unwrap()
            .id,
        upper.id
    );
    assert_eq!(
        email_identity("  ÉMAIL@X.com "),
        email_identity("émail@x.com")
    );
    assert_ne!(
        email_identity("admİn@example.com"),
        email_identity("admin@example.com")
    );

    // The throttle bucket follows the identity: 3 failures spelled differently lock it.
    let policy = LoginPolicy {
        max_failures_per_email: 3,
        max_failures_per_address: 100,
        window: std::time::Duration::from_secs(600),
    };
    for spelling in ["ÉMAIL@x.com", "émail@x.com", "e\u{301}mail@X.COM"] {
        assert!(matches!(
            store.login(spelling, "wrong", None, &policy).await,
            Err(Error::Authentication(_))
        ));
    }
    assert!(matches!(
        store.login("émail@x.com", PW, None, &policy).await,
        Err(Error::Throttled { .. })
    ));
    // İ is not i: failures for admİn do not lock admin.
    for _ in 0..3 {
        let _ = store
            .login("admİn@example.com", "wrong", None, &policy)
            .await;
    }
    assert_eq!(
        store
            .login("admin@example.com", PW, None, &policy)
            .await
            .unwrap()
            .id,
        admin.id
    );
}

/// Rows without `email_key` (written before migration 0004) are filled by `migrate`; two rows
/// with one identity stop it with an error naming them.
async fn migrate_backfills_email_identity(store: &Store) {
    const PW: &str = "long enough secret";
    let user = store
        .create_user(NewUser::new("Émile@example.com", "emile").password(PW))
        .await
        .unwrap();
    store
        .execute_raw("UPDATE users SET email_key = NULL")
        .await
        .unwrap();
    assert!(store.authenticate("émile@example.com", PW).await.is_err());
    store.migrate().await.unwrap();
    assert_eq!(
        store
            .authenticate("émile@example.com", PW)
            .await
            .unwrap()
            .id,
        user.id
    );
    // Two users that only differ by case, as SQLite allowed before: a clear error.
    store
        .create_user(NewUser::new("x@example.com", "x"))
        .await
        .unwrap();
    store
        .execute_raw("UPDATE users SET email_key = NULL")
        .await
        .unwrap();
    store
        .execute_raw("UPDATE users SET email = 'ÉMILE@example.com' WHERE username = 'x'")
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        err.to_string().contains("same email once normalised"),
        "{err}"
    );
}

/// Issue 15, finding 2: configurable limits on messages, contexts, audit entries and one
/// unpaginated history answer.
async fn size_limits_bound_messages_contexts_audit_and_history(store: &Store) {
    let limits = Limits {
        max_message_chars: 10,
        max_context_keys: 3,
        max_context_bytes: 200,
        max_audit_value_chars: 20,
        max_audit_bytes: 400,
        max_history_bytes: 1000,
    };
    let admin = staff(store, "limits").await;
    let limited = store.with_limits(limits.clone());
    let as_admin = limited.acting_as(&admin);
    assert_eq!(as_admin.limits(), &limits);

    // Messages: characters, not bytes; nothing is written when refused.
    let s = SessionId::new_random();
    limited
        .append(s, "éééééééééé", SenderType::Client)
        .await
        .unwrap();
    let err = limited
        .append(s, "ééééééééééé", SenderType::Client)
        .await
        .unwrap_err();
    let Error::Validation(errors) = err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.field("message"), vec![&Rule::TooLong { max: 10 }]);
    assert_eq!(limited.history(s).await.unwrap().len(), 1);
    // The default limit accepts several MiB, as the original did.
    store
        .append(s, &"x".repeat(3 * 1024 * 1024), SenderType::Client)
        .await
        .unwrap();

    // Contexts: keys and serialized size, checked after the change is applied.
    let client = as_admin.create_client(NewClient::new("Big")).await.unwrap();
    let merge = |n: usize, len: usize| {
        ContextChange::Merge(
            (0..n)
                .map(|i| (format!("k{i}"), json!("v".repeat(len))))
                .collect(),
        )
    };
    as_admin
        .change_context(client.id, &[merge(3, 5)])
        .await
        .unwrap();
    for (change, text) in [
        (merge(4, 1), "no more than 3 keys"),
        (merge(1, 300), "no larger than 200 bytes"),
    ] {
        let err = as_admin
            .change_context(client.id, &[change])
            .await
            .unwrap_err();
        let Error::Validation(errors) = err else {
            panic!("{err:?}")
        };
        let rules = errors.field("context_data");
        assert!(
            rules.iter().any(|r| r.to_string().contains(text)),
            "{rules:?}"
        );
    }
    assert_eq!(limited.context(client.id).await.unwrap().data.len(), 3);

    // Audit: long strings cut with a marker; a large entry summarised.
    as_admin
        .change_context(
            client.id,
            &[ContextChange::Set("k0".into(), json!("y".repeat(100)))],
        )
        .await
        .unwrap();
    let wide = Store::with_limits(
        store,
        Limits {
            max_context_bytes: 1 << 20,
            max_context_keys: 10_000,
            ..limits.clone()
        },
    )
    .acting_as(&admin);
    wide.change_context(client.id, &[merge(1000, 1)])
        .await
        .unwrap();
    let log = store
        .list_audit(
            &AuditFilter::default(),
            Sort::asc(AuditSort::Id),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let contexts: Vec<&serde_json::Value> = log
        .items
        .iter()
        .filter(|e| e.object_type == "context")
        .map(|e| &e.changes)
        .collect();
    let set = contexts[contexts.len() - 2].to_string();
    assert!(set.contains("…[truncated: 100 characters]"), "{set}");
    assert!(!set.contains(&"y".repeat(21)), "{set}");
    let big = contexts[contexts.len() - 1];
    assert_eq!(big["truncated"], json!(true), "{big}");
    assert!(big.to_string().len() <= 400, "{big}");
    for entry in &log.items {
        assert!(entry.changes.to_string().len() <= 400, "{}", entry.changes);
    }

    // History: one unpaginated answer holds at most ~1000 bytes; the cursor gives the rest.
    let h = SessionId::new_random();
    for i in 0..30 {
        limited
            .append(h, &format!("message {i:02}"), SenderType::Bot)
            .await
            .unwrap();
    }
    let first = limited.history_bounded(h).await.unwrap();
    assert!(first.messages.len() < 30 && !first.messages.is_empty());
    let mut all = first.messages.clone();
    let mut next = first.next;
    while let Some(cursor) = next {
        let page = limited.history_page(h, Some(cursor), 1000).await.unwrap();
        all.extend(page.messages);
        next = page.next;
    }
    assert_eq!(all, limited.history(h).await.unwrap());
    // Under the budget: the whole history and no cursor.
    let whole = store.history_bounded(h).await.unwrap();
    assert_eq!(whole.messages.len(), 30);
    assert!(whole.next.is_none());
}
