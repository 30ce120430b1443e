//! The behaviour suite of the store, written once and run on every backend: always on SQLite
//! (a fresh file per test), and on PostgreSQL (a fresh schema per test) when
//! `RIVO_TEST_POSTGRES_URL` is set. With `RIVO_TEST_REQUIRE_POSTGRES=1` a missing URL fails the
//! suite instead of skipping it, so CI cannot skip it silently.
//!
//! This file holds the glue: [`TestDb`], the `behaviours!` and `db_behaviours!` macros and the
//! helpers the topics share (`list_all` and friends). The behaviours live in one file per topic
//! under `store/tests/`.

use std::time::Duration;

use futures_util::{Stream, StreamExt};

use crate::accounts::*;
use crate::audit::*;
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
                    let db = crate::store::tests::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::store::tests::TestDb::postgres().await else { return };
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}

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

mod accounts;
mod audit;
mod auth;
mod chat;
mod chat_scale;
mod clients;
mod database;
mod leads;
mod limits;
mod observe;
mod privacy;
mod rules;
mod streams;
mod summaries;
mod webhooks;

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

/// The field and the sentence of a conflict; panics, showing it, on any other error.
fn conflict(err: Error) -> (&'static str, String) {
    match err {
        Error::Conflict { field, message } => (field, message),
        other => panic!("expected a conflict, got {other:?}"),
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

/// A filter the store lists rows by, with the store call that lists them: [`list`] and
/// [`list_all`] then read the same for every resource.
trait Listing {
    type Item;
    type Order;
    async fn fetch(
        &self,
        store: &Store,
        sort: Sort<Self::Order>,
        page: PageRequest,
    ) -> Result<Page<Self::Item>>;
}

macro_rules! listing {
    ($($filter:ty => $method:ident($order:ty) -> $item:ty),* $(,)?) => {
        $(
            impl Listing for $filter {
                type Item = $item;
                type Order = $order;
                async fn fetch(
                    &self,
                    store: &Store,
                    sort: Sort<$order>,
                    page: PageRequest,
                ) -> Result<Page<$item>> {
                    store.$method(self, sort, page).await
                }
            }
        )*
    };
}

listing!(
    UserFilter => list_users(UserSort) -> User,
    RoleFilter => list_roles(RoleSort) -> Role,
    ClientFilter => list_clients(ClientSort) -> Client,
    ContextFilter => list_contexts(HistorySort) -> ClientContext,
    StageChangeFilter => list_stage_changes(HistorySort) -> StageChange,
    AssignmentFilter => list_assignments(HistorySort) -> Assignment,
    AuditFilter => list_audit(AuditSort) -> AuditEntry,
    MessageFilter => list_messages(MessageSort) -> ChatMessage,
);

/// A filter of the rows whose text holds `text` (the list's search box), and nothing else.
trait Matching {
    fn matching(text: impl Into<String>) -> Self;
}

macro_rules! matching {
    ($($filter:ty),* $(,)?) => {
        $(
            impl Matching for $filter {
                // SessionFilter has no other field.
                #[allow(clippy::needless_update)]
                fn matching(text: impl Into<String>) -> Self {
                    Self {
                        search: Some(text.into()),
                        ..Default::default()
                    }
                }
            }
        )*
    };
}

matching!(
    UserFilter,
    ClientFilter,
    MessageFilter,
    AuditFilter,
    SessionFilter
);

/// The audit filter of the entries about the `object_type` object `id`.
fn audit_of(object_type: &str, id: impl ToString) -> AuditFilter {
    AuditFilter {
        object_type: Some(object_type.into()),
        object_id: Some(id.to_string()),
        ..Default::default()
    }
}

/// One page of the rows `filter` matches, in `sort` order.
async fn list<F: Listing>(
    store: &Store,
    filter: &F,
    sort: Sort<F::Order>,
    page: PageRequest,
) -> Page<F::Item> {
    filter.fetch(store, sort, page).await.unwrap()
}

/// The first page, of the default size, of the rows `filter` matches, in `sort` order.
async fn list_all<F: Listing>(store: &Store, filter: &F, sort: Sort<F::Order>) -> Page<F::Item> {
    list(store, filter, sort, PageRequest::default()).await
}

/// The first page of the history rows (contexts, stage changes or assignments) `filter`
/// matches, newest first.
async fn newest_first<F: Listing<Order = HistorySort>>(store: &Store, filter: &F) -> Page<F::Item> {
    list_all(store, filter, Sort::desc(HistorySort::CreatedAt)).await
}

/// The first 1000 history rows (contexts, stage changes or assignments) `filter` matches,
/// oldest first.
async fn oldest_first<F: Listing<Order = HistorySort>>(store: &Store, filter: &F) -> Vec<F::Item> {
    let oldest_first = Sort::asc(HistorySort::CreatedAt);
    list(store, filter, oldest_first, PageRequest::first(1000))
        .await
        .items
}

/// The stage changes of `client`, newest first.
async fn stage_changes_of(store: &Store, client: ClientId) -> Page<StageChange> {
    let filter = StageChangeFilter {
        client_id: Some(client),
        ..Default::default()
    };
    newest_first(store, &filter).await
}

/// The assignments (active or not) of `client`, newest first.
async fn assignments_of(store: &Store, client: ClientId) -> Page<Assignment> {
    let filter = AssignmentFilter {
        client_id: Some(client),
        ..Default::default()
    };
    newest_first(store, &filter).await
}

/// The active assignments of `client` (at most one, unless a rule is broken), oldest first.
async fn active_assignments(store: &Store, client: ClientId) -> Vec<Assignment> {
    let filter = AssignmentFilter {
        client_id: Some(client),
        is_active: Some(true),
        ..Default::default()
    };
    oldest_first(store, &filter).await
}

/// The JSON object `value` (a literal of the test), as contexts hold it.
fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// The ids of `messages`, in their order.
fn ids_of(messages: &[ChatMessage]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

/// The ids of the history of `session`, in the order the store gives it.
async fn history_ids(store: &Store, session: SessionId) -> Vec<MessageId> {
    ids_of(&store.history(session).await.unwrap())
}

/// A worker loop of the store on a task of its own, until [`Worker::stop`].
struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

/// The worker loop a [`Worker`] runs.
#[derive(Clone, Copy)]
enum WorkerKind {
    Summaries,
    Webhooks,
}

impl Worker {
    /// Starts the `kind` worker loop on `store`.
    fn start(store: &Store, kind: WorkerKind) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let store = store.clone();
        let handle = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            match kind {
                WorkerKind::Summaries => store.run_summary_worker(shutdown).await,
                WorkerKind::Webhooks => store.run_webhook_worker(shutdown).await,
            }
        });
        Self { stop, handle }
    }

    /// Asks the loop to stop and waits until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap();
    }
}

/// The next item within 10 s (a generous bound: this checks delivery, not latency).
async fn next<T>(stream: &mut (impl Stream<Item = Result<T>> + Unpin)) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream goes on")
        .expect("no error")
}

/// Appends `m0`, `m1`, … up to `m{n-1}` to `session` as the client, and answers them in order.
async fn append_numbered(store: &Store, session: SessionId, n: usize) -> Vec<ChatMessage> {
    let mut written = Vec::with_capacity(n);
    for i in 0..n {
        written.push(
            store
                .append(session, &format!("m{i}"), SenderType::Client)
                .await
                .unwrap(),
        );
    }
    written
}

/// Appends `text` to `session` from `sender` and returns the stored message.
async fn append(store: &Store, session: SessionId, text: &str, sender: SenderType) -> ChatMessage {
    store
        .append(session, text, sender)
        .await
        .expect("append the message")
}

/// A new client named `name` whose context links the conversation `chat`.
async fn client_with_chat(store: &Store, name: &str, chat: SessionId) -> Client {
    store
        .create_client(NewClient {
            chat_session_id: Some(chat),
            ..NewClient::new(name)
        })
        .await
        .expect("create the client")
}

/// What setting the stage of `client` to `stage` (by `changed_by`, with `remarks`) did; panics
/// if the store refuses.
async fn set_stage(
    store: &Store,
    client: ClientId,
    stage: Stage,
    changed_by: Option<UserId>,
    remarks: &str,
) -> StageOutcome {
    store
        .set_stage(client, stage, changed_by, remarks)
        .await
        .expect("set the stage")
}

/// Deactivates a user (`is_active: false`) and returns it as stored.
async fn deactivate(store: &Store, user: UserId) -> User {
    let update = UserUpdate {
        is_active: Some(false),
        ..Default::default()
    };
    store.update_user(user, update).await.unwrap()
}

/// The error of `call`, a store call the test expects to be refused; panics, showing what it
/// answered, if it succeeds.
async fn refused<T: std::fmt::Debug>(call: impl Future<Output = Result<T>>) -> Error {
    call.await.expect_err("the store refuses it")
}

/// A role with only a name.
fn role_named(name: impl Into<String>) -> NewRole {
    NewRole {
        name: name.into(),
        ..Default::default()
    }
}

/// A new role with only a name.
async fn named_role(store: &Store, name: &str) -> Role {
    store
        .create_role(role_named(name))
        .await
        .expect("create the role")
}

/// The user `NewUser::new(email, username)` makes: active, not staff, without a password.
async fn plain_user(store: &Store, email: impl Into<String>, username: impl Into<String>) -> User {
    store
        .create_user(NewUser::new(email, username))
        .await
        .unwrap()
}
