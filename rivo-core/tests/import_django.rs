//! Importing the original Django app's database (`rivo_core::import::import_django`).
//!
//! The source is always PostgreSQL: each test builds the Django tables
//! (`fixtures/django_schema.sql`) and rows (`fixtures/django_data.sql`) in a fresh schema of
//! `RIVO_TEST_POSTGRES_URL`, then imports into a fresh SQLite file (`sqlite::…`) and into a
//! fresh PostgreSQL schema (`postgres::…`). Without `RIVO_TEST_POSTGRES_URL` every test prints a
//! skip notice and returns; with `RIVO_TEST_REQUIRE_POSTGRES=1` it fails instead.

#![allow(clippy::unwrap_used)] // Test helpers: a failure should panic.
#![allow(clippy::type_complexity)] // Source rows are read as plain tuples.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rivo_core::accounts::{
    NewRole, NewUser, Permission, RoleFilter, RoleSort, UserFilter, UserSort,
};
use rivo_core::chat::{DataType, MessageFilter, MessageSort};
use rivo_core::clients::{
    AssignmentFilter, ClientFilter, ClientSort, HistorySort, NewClient, StageChangeFilter,
};
use rivo_core::import::{ImportOptions, ImportReport, import_django};
use rivo_core::*;
use rivo_testkit::ScratchDb;
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

const SCHEMA: &str = include_str!("fixtures/django_schema.sql");
const DATA: &str = include_str!("fixtures/django_data.sql");
/// The later original's migrations and rows, applied on top of `DATA` (see the file).
const LATER: &str = include_str!("fixtures/django_later.sql");

/// `LATER` up to the migrations of `commit` included (a database at that commit), without the
/// later rows.
fn later_schema_until(commit: &str) -> &'static str {
    let start = LATER
        .find(&format!("-- @step {commit}"))
        .unwrap_or_else(|| panic!("no step {commit}"));
    let end = start + 1 + LATER[start + 1..].find("-- @").unwrap();
    &LATER[..end]
}

/// The Django database: a PostgreSQL schema holding the fixtures.
struct Source {
    scratch: ScratchDb,
}

impl Source {
    /// `None` when the PostgreSQL suite is skipped.
    async fn new() -> Option<Self> {
        let source = Self {
            scratch: ScratchDb::postgres("django_src").await?,
        };
        source.exec(SCHEMA).await;
        source.exec(DATA).await;
        Some(source)
    }

    /// Runs SQL (several statements allowed) in the Django database.
    async fn exec(&self, sql: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.scratch.url)
            .await
            .unwrap()
    }

    async fn finish(self) {
        self.scratch.remove().await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// The rivo store imported into.
struct Target {
    store: Store,
    scratch: ScratchDb,
}

impl Target {
    async fn new(kind: Kind) -> Self {
        let scratch = match kind {
            Kind::Sqlite => ScratchDb::sqlite(),
            Kind::Postgres => ScratchDb::postgres("rivo_import")
                .await
                .expect("the source is on the same PostgreSQL"),
        };
        let store = Store::open(&scratch.url).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, scratch }
    }

    /// The stored password hash of a user, read past the API.
    async fn password_hash(&self, id: i64) -> String {
        let sql = "SELECT password FROM users WHERE id = $1";
        let url = &self.scratch.url;
        if !self.scratch.is_postgres() {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let hash = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            hash
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let hash = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            hash
        }
    }

    async fn finish(self) {
        self.store.close().await;
        self.scratch.remove().await;
    }
}

/// Runs one test body against a fresh source and a fresh target of `kind`.
async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Source, Target) -> Fut,
    Fut: std::future::Future<Output = (Source, Target)>,
{
    let Some(source) = Source::new().await else {
        return;
    };
    let target = Target::new(kind).await;
    let (source, target) = body(source, target).await;
    target.finish().await;
    source.finish().await;
}

/// Declares each test once per target backend: `sqlite::name` and `postgres::name`.
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Kind::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Kind::Postgres, super::$name).await;
                }
            )*
        }
    };
}

per_backend!(
    imports_every_row_and_link,
    report_counts_ignored_permissions_groups_and_unusable_passwords,
    django_passwords_log_in_and_are_upgraded_to_argon2,
    refuses_a_non_empty_target_and_merge_skips_present_rows,
    new_rows_get_ids_past_the_imported_maximum,
    bad_source_rows_are_named_and_nothing_is_written,
    non_object_contexts_are_kept_under_a_key,
    imports_a_database_of_the_later_original,
    imports_a_database_between_two_commits,
);

async fn import(source: &Source, target: &Target, merge: bool) -> rivo_core::Result<ImportReport> {
    import_django(&source.scratch.url, &target.store, ImportOptions { merge }).await
}

fn perms(codenames: &[&str]) -> BTreeSet<Permission> {
    codenames.iter().map(|c| c.parse().unwrap()).collect()
}

#[derive(sqlx::FromRow)]
struct SrcUser {
    id: i64,
    email: String,
    username: String,
    first_name: String,
    last_name: String,
    phone: String,
    role_id: Option<i64>,
    created_by_id: Option<i64>,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    last_login: Option<DateTime<Utc>>,
    date_joined: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A row of `client_clientstagehistory`.
#[derive(sqlx::FromRow)]
struct SrcStageChange {
    id: i64,
    client_id: i64,
    from_stage: String,
    to_stage: String,
    changed_by_id: Option<i64>,
    remarks: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A row of `client_clientassignment`.
#[derive(sqlx::FromRow)]
struct SrcAssignment {
    id: i64,
    client_id: i64,
    assigned_to_id: i64,
    assigned_by_id: Option<i64>,
    is_active: bool,
    remarks: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Every row of the Django database, as rivo models.
struct Expected {
    roles: Vec<Role>,
    users: Vec<User>,
    user_permissions: BTreeMap<i64, BTreeSet<Permission>>,
    messages: Vec<ChatMessage>,
    clients: Vec<Client>,
    contexts: Vec<ClientContext>,
    stage_changes: Vec<StageChange>,
    assignments: Vec<Assignment>,
}

/// Every row `sql` selects from the Django database.
async fn rows<T>(c: &mut sqlx::PgConnection, sql: &'static str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql).fetch_all(c).await.unwrap()
}

async fn expected(source: &Source) -> Expected {
    let mut c = source.connect().await;
    let role_grants: Vec<(i64, String)> = rows(
        &mut c,
        "SELECT rp.role_id, ct.app_label || '.' || p.codename FROM account_role_permissions rp \
         JOIN auth_permission p ON p.id = rp.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id",
    )
    .await;
    let roles: Vec<(i64, String, String, DateTime<Utc>, DateTime<Utc>)> = rows(
        &mut c,
        "SELECT id, name, description, created_at, updated_at FROM account_role ORDER BY id",
    )
    .await;
    let roles = roles
        .into_iter()
        .map(|(id, name, description, created_at, updated_at)| Role {
            id: RoleId(id),
            name,
            description,
            permissions: role_grants
                .iter()
                .filter(|(role, _)| *role == id)
                .filter_map(|(_, codename)| codename.parse().ok())
                .collect(),
            created_at,
            updated_at,
        })
        .collect();
    let users: Vec<SrcUser> = rows(
        &mut c,
        "SELECT id, email, username, first_name, last_name, phone, role_id, created_by_id, \
         is_active, is_staff, is_superuser, last_login, date_joined, created_at, updated_at \
         FROM account_user ORDER BY id",
    )
    .await;
    let users = users
        .into_iter()
        .map(|u| User {
            id: UserId(u.id),
            email: u.email,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            phone: u.phone,
            role_id: u.role_id.map(RoleId),
            created_by: u.created_by_id.map(UserId),
            is_active: u.is_active,
            is_staff: u.is_staff,
            is_superuser: u.is_superuser,
            last_login: u.last_login,
            date_joined: u.date_joined,
            created_at: u.created_at,
            updated_at: u.updated_at,
        })
        .collect();
    let user_grants: Vec<(i64, String)> = rows(
        &mut c,
        "SELECT up.user_id, ct.app_label || '.' || p.codename \
         FROM account_user_user_permissions up \
         JOIN auth_permission p ON p.id = up.permission_id \
         JOIN django_content_type ct ON ct.id = p.content_type_id",
    )
    .await;
    let mut user_permissions: BTreeMap<i64, BTreeSet<Permission>> = BTreeMap::new();
    for (user, codename) in user_grants {
        if let Ok(p) = codename.parse() {
            user_permissions.entry(user).or_default().insert(p);
        }
    }
    let messages: Vec<(i64, Uuid, String, String, DateTime<Utc>)> = rows(
        &mut c,
        "SELECT id, session_id, message, sender_type, sent_at FROM chat_chathistory ORDER BY id",
    )
    .await;
    let messages = messages
        .into_iter()
        .map(|(id, session, message, sender, sent_at)| ChatMessage {
            id: MessageId(id),
            session_id: SessionId(session),
            message,
            sender_type: sender.parse().unwrap(),
            data_type: DataType::Message,
            sent_at,
        })
        .collect();
    let clients: Vec<(
        i64,
        String,
        String,
        String,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
    )> = rows(
        &mut c,
        "SELECT id, name, email, phone, current_stage, created_at, updated_at \
             FROM client_client ORDER BY id",
    )
    .await;
    let clients = clients
        .into_iter()
        .map(
            |(id, name, email, phone, stage, created_at, updated_at)| Client {
                id: ClientId(id),
                name,
                email,
                phone,
                current_stage: stage.parse().unwrap(),
                created_at,
                updated_at,
            },
        )
        .collect();
    let contexts: Vec<(i64, i64, Option<Uuid>, Json, DateTime<Utc>, DateTime<Utc>)> = rows(
        &mut c,
        "SELECT id, client_id, chat_session_id, context_data, created_at, updated_at \
             FROM client_context ORDER BY id",
    )
    .await;
    let contexts = contexts
        .into_iter()
        .map(
            |(id, client, session, data, created_at, updated_at)| ClientContext {
                id: ContextId(id),
                client_id: ClientId(client),
                chat_session_id: session.map(SessionId),
                data: match data {
                    Json::Object(map) => map,
                    other => panic!("fixture context {id} is {other}"),
                },
                created_at,
                updated_at,
            },
        )
        .collect();
    let changes: Vec<SrcStageChange> = rows(
        &mut c,
        "SELECT id, client_id, from_stage, to_stage, changed_by_id, remarks, created_at, \
         updated_at FROM client_clientstagehistory ORDER BY id",
    )
    .await;
    let stage_changes = changes
        .into_iter()
        .map(|h| StageChange {
            id: StageChangeId(h.id),
            client_id: ClientId(h.client_id),
            from_stage: (!h.from_stage.is_empty()).then(|| h.from_stage.parse().unwrap()),
            to_stage: h.to_stage.parse().unwrap(),
            changed_by: h.changed_by_id.map(UserId),
            remarks: h.remarks,
            created_at: h.created_at,
            updated_at: h.updated_at,
        })
        .collect();
    let assignments: Vec<SrcAssignment> = rows(
        &mut c,
        "SELECT id, client_id, assigned_to_id, assigned_by_id, is_active, remarks, created_at, \
         updated_at FROM client_clientassignment ORDER BY id",
    )
    .await;
    let assignments = assignments
        .into_iter()
        .map(|a| Assignment {
            id: AssignmentId(a.id),
            client_id: ClientId(a.client_id),
            assigned_to: Some(UserId(a.assigned_to_id)),
            assigned_by: a.assigned_by_id.map(UserId),
            is_active: a.is_active,
            remarks: a.remarks,
            created_at: a.created_at,
            updated_at: a.updated_at,
        })
        .collect();
    c.close().await.unwrap();
    Expected {
        roles,
        users,
        user_permissions,
        messages,
        clients,
        contexts,
        stage_changes,
        assignments,
    }
}

/// Every role, user, client, stage change and assignment of the store, by id: the listings the
/// import is checked through.
struct Listed {
    roles: Vec<Role>,
    users: Vec<User>,
    clients: Vec<Client>,
    stage_changes: Vec<StageChange>,
    assignments: Vec<Assignment>,
}

async fn listed(store: &Store) -> Listed {
    let all = PageRequest::first(1000);
    let by_id = Sort::asc(HistorySort::Id);
    let (role, user, client) = (
        RoleFilter::default(),
        UserFilter::default(),
        ClientFilter::default(),
    );
    let (change, assignment) = (StageChangeFilter::default(), AssignmentFilter::default());
    let (roles, users, clients, stage_changes, assignments) = tokio::try_join!(
        store.list_roles(&role, Sort::asc(RoleSort::Id), all),
        store.list_users(&user, Sort::asc(UserSort::Id), all),
        store.list_clients(&client, Sort::asc(ClientSort::Id), all),
        store.list_stage_changes(&change, by_id, all),
        store.list_assignments(&assignment, by_id, all),
    )
    .unwrap();
    Listed {
        roles: roles.items,
        users: users.items,
        clients: clients.items,
        stage_changes: stage_changes.items,
        assignments: assignments.items,
    }
}

/// The stage changes of one client, by id.
async fn stage_changes_of(store: &Store, client: ClientId) -> Page<StageChange> {
    let filter = StageChangeFilter {
        client_id: Some(client),
        ..Default::default()
    };
    let by_id = Sort::asc(HistorySort::Id);
    store
        .list_stage_changes(&filter, by_id, PageRequest::default())
        .await
        .unwrap()
}

/// Every message of the store, by id.
async fn all_messages(store: &Store) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let items = store
            .list_messages(
                &MessageFilter::default(),
                Sort::asc(MessageSort::Id),
                PageRequest::page(page, 1000),
            )
            .await
            .unwrap()
            .items;
        if items.is_empty() {
            return out;
        }
        out.extend(items);
        page += 1;
    }
}

/// Checks that the store holds exactly the Django database's rows, through rivo's API.
async fn assert_store_matches(store: &Store, expected: &Expected) {
    let listed = listed(store).await;
    assert_eq!(listed.roles, expected.roles);
    for role in &expected.roles {
        assert_eq!(&store.role(role.id).await.unwrap(), role);
    }
    assert_eq!(listed.users, expected.users);
    for user in &expected.users {
        assert_eq!(
            store.user_permissions(user.id).await.unwrap(),
            expected
                .user_permissions
                .get(&user.id.0)
                .cloned()
                .unwrap_or_default(),
            "permissions of user {}",
            user.id
        );
    }
    assert_eq!(all_messages(store).await, expected.messages);
    assert_eq!(listed.clients, expected.clients);
    for client in &expected.clients {
        let context = store.context(client.id).await.unwrap();
        match expected.contexts.iter().find(|c| c.client_id == client.id) {
            Some(expected) => assert_eq!(&context, expected),
            None => assert_eq!((context.id, context.data.len()), (ContextId(0), 0)),
        }
    }
    assert_eq!(listed.stage_changes, expected.stage_changes);
    assert_eq!(listed.assignments, expected.assignments);
}

async fn imports_every_row_and_link(source: Source, target: Target) -> (Source, Target) {
    let expected = expected(&source).await;
    import(&source, &target, false).await.unwrap();
    let store = &target.store;
    assert_store_matches(store, &expected).await;

    // Spot checks of what the generic comparison relies on.
    assert_eq!(expected.users.len(), 6);
    assert_eq!(expected.messages.len(), 2509);
    let priya = store
        .user_by_email("priya.sharma@acme.example")
        .await
        .unwrap();
    assert_eq!(priya.email, "Priya.Sharma@Acme.example");
    assert_eq!(priya.role_id, Some(RoleId(1)));
    assert_eq!(priya.created_by, Some(UserId(1)));
    assert_eq!(
        priya.created_at.to_rfc3339(),
        "2024-01-11T09:30:00.250+00:00"
    );
    // ravi was created by a user with a larger id.
    assert_eq!(
        store.user(UserId(3)).await.unwrap().created_by,
        Some(UserId(7))
    );
    assert_eq!(
        store.role(RoleId(1)).await.unwrap().permissions,
        perms(&[
            "chat.view_chathistory",
            "client.change_client",
            "client.view_client",
            "client.view_context",
            "client.view_clientstagehistory",
        ])
    );
    assert_eq!(
        store.user_permissions(UserId(3)).await.unwrap(),
        perms(&["client.delete_client"])
    );
    let ravi = store.user(UserId(3)).await.unwrap();
    assert_eq!(
        store.effective_permissions(&ravi).await.unwrap(),
        perms(&[
            "account.view_user",
            "client.add_clientassignment",
            "client.delete_client",
            "client.view_client",
            "client.view_clientassignment",
        ])
    );
    let grace = session("a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f601");
    let history = store.history(grace).await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.id.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        history[3].message,
        "Thanks Grace!\nAn advisor will call you."
    );
    assert_eq!(
        history[0].sent_at.to_rfc3339(),
        "2024-03-01T09:00:00.000001+00:00"
    );
    let history_first = history[0].sent_at;
    let finnish = session("0f9e8d7c-6b5a-4938-a271-605f4e3d2c1b");
    let history = store.history(finnish).await.unwrap();
    assert_eq!(history[0].message, "Hei! Onko teillä lainoja? 🏠");
    assert_eq!(history[2].message, "नमस्ते, मुझे ऋण चाहिए");
    assert_eq!(history[0].sender_type, SenderType::Client);
    let context = store.context(ClientId(1)).await.unwrap();
    assert_eq!(context.chat_session_id, Some(grace));
    // The import fills the session rows: counts, times, last message and the client link.
    let sessions = store
        .list_sessions(&Default::default(), rivo_core::PageRequest::first(100))
        .await
        .unwrap();
    let row = sessions
        .items
        .iter()
        .find(|s| s.session_id == grace)
        .expect("a row for the imported session");
    assert_eq!(row.message_count, 4);
    assert_eq!(
        row.last_message_preview,
        "Thanks Grace!\nAn advisor will call you."
    );
    assert_eq!(row.first_sent_at, history_first);
    assert_eq!(row.client_id, Some(ClientId(1)));
    for s in &sessions.items {
        let h = store.history(s.session_id).await.unwrap();
        assert_eq!(s.message_count as usize, h.len());
        assert_eq!(s.last_sent_at, h.last().unwrap().sent_at);
    }
    // And the search index: imported messages are found by a substring, case-insensitively.
    for (needle, session) in [("AN ADVISOR will", grace), ("onko teillä", finnish)] {
        let found = store
            .list_messages(
                &MessageFilter {
                    search: Some(needle.into()),
                    ..Default::default()
                },
                Sort::asc(MessageSort::Id),
                PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(found.items.len(), 1, "{needle}");
        assert_eq!(found.items[0].session_id, session, "{needle}");
    }
    assert_eq!(context.data["loan"]["amount"], json!(250000));
    assert_eq!(context.data["address"]["lines"][1], json!("Apt 2"));
    assert_eq!(context.data["notes"], Json::Null);
    let first = stage_changes_of(store, ClientId(1)).await;
    assert_eq!(first.items[0].from_stage, None);
    assert_eq!(first.items[1].from_stage, Some(Stage::Lead));
    assert_eq!(first.items[1].changed_by, Some(UserId(2)));
    let active = store.active_assignment(ClientId(1)).await.unwrap().unwrap();
    assert_eq!(
        (active.id, active.assigned_to),
        (AssignmentId(3), Some(UserId(2)))
    );
    assert_eq!(
        store.client(ClientId(4)).await.unwrap().name,
        "Zoë Ångström"
    );
    (source, target)
}

async fn report_counts_ignored_permissions_groups_and_unusable_passwords(
    source: Source,
    target: Target,
) -> (Source, Target) {
    let report = import(&source, &target, false).await.unwrap();
    let counts: Vec<(&str, &str, u64, u64, u64, u64)> = report
        .tables
        .iter()
        .map(|t| (t.source, t.target, t.read, t.imported, t.skipped, t.ignored))
        .collect();
    assert_eq!(
        counts,
        [
            ("account_role", "roles", 3, 3, 0, 0),
            ("account_role_permissions", "role_permissions", 12, 9, 0, 3),
            ("account_user", "users", 6, 6, 0, 0),
            (
                "account_user_user_permissions",
                "user_permissions",
                4,
                3,
                0,
                1
            ),
            ("chat_chathistory", "chat_messages", 2509, 2509, 0, 0),
            ("client_client", "clients", 5, 5, 0, 0),
            ("client_context", "client_contexts", 4, 4, 0, 0),
            (
                "client_clientstagehistory",
                "client_stage_history",
                9,
                9,
                0,
                0
            ),
            ("client_clientassignment", "client_assignments", 5, 5, 0, 0),
            ("account_user_groups", "-", 2, 0, 0, 2),
        ]
    );
    assert_eq!(report.table("account_user").unwrap().imported, 6);
    assert_eq!(report.target, target.store.kind());
    // 49 Django permissions, 28 of them rivo's: the other 21 are listed, with their grants.
    assert_eq!(report.ignored_permissions.len(), 21);
    let granted: Vec<(&str, u64)> = report
        .ignored_permissions
        .iter()
        .filter(|p| p.grants > 0)
        .map(|p| (p.codename.as_str(), p.grants))
        .collect();
    assert_eq!(
        granted,
        [
            ("admin.add_logentry", 1),
            ("auth.view_group", 1),
            ("chat.export_chathistory", 1),
            ("sessions.view_session", 1),
        ]
    );
    assert!(
        report
            .ignored_permissions
            .iter()
            .any(|p| p.codename == "contenttypes.change_contenttype" && p.grants == 0)
    );
    let groups: Vec<(i64, &str, Vec<UserId>)> = report
        .groups
        .iter()
        .map(|g| (g.id, g.name.as_str(), g.members.clone()))
        .collect();
    assert_eq!(
        groups,
        [
            (1, "Editors", vec![UserId(3), UserId(4)]),
            (2, "Auditors", vec![])
        ]
    );
    let unusable: Vec<(UserId, &str, &str)> = report
        .unusable_passwords
        .iter()
        .map(|u| (u.user_id, u.email.as_str(), u.algorithm.as_str()))
        .collect();
    assert_eq!(
        unusable,
        [
            (UserId(5), "bot-service@acme.example", "unusable"),
            (UserId(7), "legacy@acme.example", "md5"),
        ]
    );
    let text = report.to_string();
    for row in [
        "account_user users 6 6 0 0",
        "chat_chathistory chat_messages 2509 2509 0 0",
        "account_user_groups - 2 0 0 2",
    ] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == row),
            "{row:?} missing from\n{text}"
        );
    }
    for line in [
        "granted: admin.add_logentry (1 grant), auth.view_group (1 grant)",
        "1 \"Editors\": users 3, 4",
        "2 \"Auditors\": no members",
        "5 bot-service@acme.example (unusable)",
        "7 legacy@acme.example (md5)",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    (source, target)
}

async fn django_passwords_log_in_and_are_upgraded_to_argon2(
    source: Source,
    target: Target,
) -> (Source, Target) {
    import(&source, &target, false).await.unwrap();
    let store = &target.store;
    let before = target.password_hash(2).await;
    assert!(before.starts_with("pbkdf2_sha256$1000$"), "{before}");
    assert!(rivo_core::accounts::is_usable_hash(&before));

    // The old password works, with the email in any case, and is re-hashed with argon2.
    match store
        .authenticate("priya.sharma@acme.example", "correct horse")
        .await
    {
        Err(Error::Authentication(AuthFailure::WrongPassword)) => {}
        other => panic!("wrong password accepted: {other:?}"),
    }
    assert_eq!(
        target.password_hash(2).await,
        before,
        "a failed login changed the hash"
    );
    let priya = store
        .authenticate("PRIYA.SHARMA@acme.example", "correct horse ✓")
        .await
        .unwrap();
    assert_eq!(priya.id, UserId(2));
    assert!(priya.last_login.unwrap() > "2024-06-29T08:01:02Z".parse::<DateTime<Utc>>().unwrap());
    let after = target.password_hash(2).await;
    assert!(after.starts_with("$argon2id$"), "{after}");
    // Only the hash (and the login time) changed, as with Django's hasher upgrade.
    let stored = store.user(UserId(2)).await.unwrap();
    assert_eq!(
        stored.updated_at,
        "2024-05-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(stored.last_login, priya.last_login);
    // ... and keeps working with the new hash.
    assert_eq!(
        store
            .authenticate("Priya.Sharma@Acme.example", "correct horse ✓")
            .await
            .unwrap()
            .id,
        UserId(2)
    );
    assert_eq!(target.password_hash(2).await, after, "re-hashed twice");
    assert!(
        store
            .authenticate("priya.sharma@acme.example", "correct horse")
            .await
            .is_err()
    );

    // Concurrent first logins both succeed and leave one argon2 hash.
    let (a, b) = tokio::join!(
        store.authenticate("admin@acme.example", "Admin pass 2024!"),
        store.authenticate("admin@acme.example", "Admin pass 2024!"),
    );
    let admin = a.unwrap();
    assert_eq!(b.unwrap().id, admin.id);
    assert!(admin.is_superuser);
    assert!(target.password_hash(1).await.starts_with("$argon2id$"));
    store
        .authenticate("ravi@acme.example", "Ravi sells 2023")
        .await
        .unwrap();

    // Inactive users still cannot log in; unusable and unsupported hashes never match.
    match store
        .authenticate("old.agent@acme.example", "Retired pass 99")
        .await
    {
        Err(Error::Authentication(AuthFailure::Inactive)) => {}
        other => panic!("inactive user: {other:?}"),
    }
    for (email, id) in [("bot-service@acme.example", 5), ("legacy@acme.example", 7)] {
        let hash = target.password_hash(id).await;
        assert!(!rivo_core::accounts::is_usable_hash(&hash));
        for guess in ["", "!", "password", &hash] {
            match store.authenticate(email, guess).await {
                Err(Error::Authentication(AuthFailure::WrongPassword)) => {}
                other => panic!("{email} logged in with {guess:?}: {other:?}"),
            }
        }
        assert_eq!(target.password_hash(id).await, hash);
    }
    // A new password replaces an unusable one as usual.
    store
        .set_password(UserId(5), "Quiet river 2031")
        .await
        .unwrap();
    store
        .authenticate("bot-service@acme.example", "Quiet river 2031")
        .await
        .unwrap();
    (source, target)
}

/// Rows the Django app gained after a first import.
const LATER_ROWS: &str = "
INSERT INTO account_role (id, created_at, updated_at, name, description) VALUES
    (5, '2024-07-01 08:00:00+00', '2024-07-01 08:00:00+00', 'Night Shift', '');
INSERT INTO account_role_permissions (role_id, permission_id) VALUES (5, 32), (5, 1);
INSERT INTO account_user (id, password, last_login, is_superuser, username, first_name, last_name,
    email, is_staff, is_active, date_joined, created_at, updated_at, phone, role_id, created_by_id)
VALUES (8, 'pbkdf2_sha256$1000$Hn3Jk7Lp1Qr5$W4kHqyuYiDDNU3BtuvY+f9260oGUTPdeUVr/k5jW99E=', NULL,
    false, 'newcomer', 'New', 'Comer', 'newcomer@acme.example', false, true,
    '2024-07-01 09:00:00+00', '2024-07-01 09:00:00+00', '2024-07-01 09:00:00+00', '', 5, 2);
INSERT INTO account_user_user_permissions (user_id, permission_id) VALUES (8, 36), (2, 35);
INSERT INTO chat_chathistory (id, session_id, message, sender_type, sent_at) VALUES
    (2601, '99999999-8888-4777-8666-555555555555', 'Late night question', 'client',
     '2024-07-01 23:59:59.999999+00');
INSERT INTO client_client (id, created_at, updated_at, name, email, phone, current_stage) VALUES
    (7, '2024-07-02 10:00:00+00', '2024-07-02 10:00:00+00', 'Late Lead', '', '', 'contacted');
INSERT INTO client_context (id, created_at, updated_at, client_id, chat_session_id, context_data)
VALUES (6, '2024-07-02 10:00:00+00', '2024-07-02 10:00:00+00', 7,
    '99999999-8888-4777-8666-555555555555', '{\"night\": true}');
INSERT INTO client_clientstagehistory (id, created_at, updated_at, client_id, from_stage, to_stage,
    changed_by_id, remarks) VALUES
    (11, '2024-07-02 10:00:00+00', '2024-07-02 10:00:00+00', 7, '', 'lead', NULL, ''),
    (12, '2024-07-02 11:00:00+00', '2024-07-02 11:00:00+00', 7, 'lead', 'contacted', 8, 'called');
INSERT INTO client_clientassignment (id, created_at, updated_at, client_id, assigned_to_id,
    assigned_by_id, is_active, remarks) VALUES
    (7, '2024-07-02 11:00:00+00', '2024-07-02 11:00:00+00', 7, 8, 2, true, '');
-- Changed in Django after the first import: merge leaves present rows as they are.
UPDATE client_client SET name = 'Grace B. Hopper' WHERE id = 1;
";

async fn refuses_a_non_empty_target_and_merge_skips_present_rows(
    source: Source,
    target: Target,
) -> (Source, Target) {
    let first = import(&source, &target, false).await.unwrap();
    let expected_first = expected(&source).await;

    // Again without merge: refused, nothing written.
    match import(&source, &target, false).await {
        Err(Error::Conflict { field, message }) => {
            assert_eq!(field, "target");
            assert!(
                message.contains("users, roles, chat_messages, clients"),
                "{message}"
            );
            assert!(message.contains("--merge"), "{message}");
        }
        other => panic!("second import not refused: {other:?}"),
    }
    assert_store_matches(&target.store, &expected_first).await;

    // Merge with nothing new: everything is skipped.
    let again = import(&source, &target, true).await.unwrap();
    assert!(again.merge);
    for (before, after) in first.tables.iter().zip(&again.tables) {
        assert_eq!(after.source, before.source);
        assert_eq!(after.read, before.read, "{}", after.source);
        assert_eq!(after.imported, 0, "{}", after.source);
        assert_eq!(after.ignored, before.ignored, "{}", after.source);
        assert_eq!(after.skipped, before.imported, "{}", after.source);
    }
    assert_store_matches(&target.store, &expected_first).await;

    // Merge after Django gained rows: only the new ones are imported.
    source.exec(LATER_ROWS).await;
    let report = import(&source, &target, true).await.unwrap();
    let counts: Vec<(&str, u64, u64, u64, u64)> = report
        .tables
        .iter()
        .map(|t| (t.source, t.read, t.imported, t.skipped, t.ignored))
        .collect();
    assert_eq!(
        counts,
        [
            ("account_role", 4, 1, 3, 0),
            // (5, 32) is new; (5, 1) is admin.add_logentry.
            ("account_role_permissions", 14, 1, 9, 4),
            ("account_user", 7, 1, 6, 0),
            // (8, 36) is new; (2, 35) belongs to a user already present: left as is.
            ("account_user_user_permissions", 6, 1, 4, 1),
            ("chat_chathistory", 2510, 1, 2509, 0),
            ("client_client", 6, 1, 5, 0),
            ("client_context", 5, 1, 4, 0),
            ("client_clientstagehistory", 11, 2, 9, 0),
            ("client_clientassignment", 6, 1, 5, 0),
            ("account_user_groups", 2, 0, 0, 2),
        ]
    );
    let store = &target.store;
    let newcomer = store
        .authenticate("newcomer@acme.example", "Newcomer pass 2025")
        .await
        .unwrap();
    assert_eq!(
        (newcomer.id, newcomer.role_id, newcomer.created_by),
        (UserId(8), Some(RoleId(5)), Some(UserId(2)))
    );
    assert_eq!(
        store.effective_permissions(&newcomer).await.unwrap(),
        perms(&["chat.view_chathistory", "client.view_client"])
    );
    assert_eq!(
        store.user_permissions(UserId(2)).await.unwrap(),
        perms(&["chat.add_chathistory"])
    );
    assert_eq!(
        store.client(ClientId(1)).await.unwrap().name,
        "Grace Hopper"
    );
    assert_eq!(
        store.context(ClientId(7)).await.unwrap().data["night"],
        json!(true)
    );
    assert_eq!(
        store
            .active_assignment(ClientId(7))
            .await
            .unwrap()
            .unwrap()
            .assigned_to,
        Some(UserId(8))
    );
    assert_eq!(
        store.message(MessageId(2601)).await.unwrap().message,
        "Late night question"
    );
    (source, target)
}

async fn new_rows_get_ids_past_the_imported_maximum(
    source: Source,
    target: Target,
) -> (Source, Target) {
    import(&source, &target, false).await.unwrap();
    let store = &target.store;
    let role = store
        .create_role(NewRole {
            name: "After Import".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(role.id, RoleId(5));
    let user = store
        .create_user(NewUser::new("fresh@acme.example", "fresh").password("Tangerine orbit 77"))
        .await
        .unwrap();
    assert_eq!(user.id, UserId(8));
    let message = store
        .append(
            SessionId::new_random(),
            "first message after the move",
            SenderType::Client,
        )
        .await
        .unwrap();
    assert_eq!(message.id, MessageId(2601));
    let client = store
        .create_client(NewClient {
            chat_session_id: Some(message.session_id),
            created_by: Some(user.id),
            ..NewClient::new("First Rivo Lead")
        })
        .await
        .unwrap();
    assert_eq!(client.id, ClientId(7));
    assert_eq!(store.context(client.id).await.unwrap().id, ContextId(6));
    let changes = stage_changes_of(store, client.id).await;
    assert_eq!(changes.items[0].id, StageChangeId(11));
    let change = store
        .set_stage(client.id, Stage::Contacted, Some(user.id), "called")
        .await
        .unwrap()
        .change
        .unwrap();
    assert_eq!(change.id, StageChangeId(12));
    store
        .update_user(
            UserId(2),
            rivo_core::accounts::UserUpdate {
                is_staff: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let assignment = store
        .assign(client.id, UserId(2), Some(user.id), "")
        .await
        .unwrap();
    assert_eq!(assignment.id, AssignmentId(7));
    (source, target)
}

async fn bad_source_rows_are_named_and_nothing_is_written(
    source: Source,
    target: Target,
) -> (Source, Target) {
    let cases = [
        (
            "UPDATE client_client SET current_stage = 'won' WHERE id = 3",
            "UPDATE client_client SET current_stage = 'disbursed' WHERE id = 3",
            &["client_client id 3", "current_stage \"won\""][..],
        ),
        (
            "UPDATE client_clientstagehistory SET from_stage = 'Lead' WHERE id = 8",
            "UPDATE client_clientstagehistory SET from_stage = 'lead' WHERE id = 8",
            &["client_clientstagehistory id 8", "from_stage \"Lead\""][..],
        ),
        (
            "UPDATE chat_chathistory SET sender_type = 'user' WHERE id = 6",
            "UPDATE chat_chathistory SET sender_type = 'bot' WHERE id = 6",
            &["chat_chathistory id 6", "sender_type \"user\""][..],
        ),
        (
            "UPDATE account_user SET email = 'ADMIN@acme.example' WHERE id = 7",
            "UPDATE account_user SET email = 'legacy@acme.example' WHERE id = 7",
            &["account_user ids 1 and 7", "\"ADMIN@acme.example\""][..],
        ),
        (
            "UPDATE client_clientassignment SET is_active = true WHERE id = 2",
            "UPDATE client_clientassignment SET is_active = false WHERE id = 2",
            &["client_clientassignment ids 2 and 3", "client 1"][..],
        ),
    ];
    for (break_it, fix_it, fragments) in cases {
        source.exec(break_it).await;
        let err = import(&source, &target, false).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Validation(_)), "{break_it}: {err:?}");
        for fragment in fragments {
            assert!(
                text.contains(fragment),
                "{break_it}: {fragment:?} not in {text}"
            );
        }
        source.exec(fix_it).await;
        let users = listed(&target.store).await.users;
        assert_eq!(users.len(), 0, "{break_it}: rows were written");
    }
    // Not a Django database at all.
    let err = import_django(
        &target_url_of_empty_schema(&source),
        &target.store,
        ImportOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("table django_content_type not found"),
        "{err}"
    );
    let err = import_django("sqlite::memory:", &target.store, ImportOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("postgres://"), "{err}");
    // Fixed, it imports.
    import(&source, &target, false).await.unwrap();
    (source, target)
}

/// A URL whose search_path is a schema without the Django tables.
fn target_url_of_empty_schema(_source: &Source) -> String {
    let server = rivo_testkit::postgres_url().expect("the source is on PostgreSQL");
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}options=-c%20search_path%3Dpg_catalog")
}

/// A context that is not a JSON object is kept, under `value` (`import::NON_OBJECT_CONTEXT_KEY`).
async fn non_object_contexts_are_kept_under_a_key(
    source: Source,
    target: Target,
) -> (Source, Target) {
    source
        .exec("UPDATE client_context SET context_data = '[1, \"two\"]' WHERE id = 3")
        .await;
    import(&source, &target, false).await.unwrap();
    let context = target.store.context(ClientId(3)).await.unwrap();
    assert_eq!(context.id, ContextId(3));
    assert_eq!(Json::Object(context.data), json!({"value": [1, "two"]}));
    (source, target)
}

fn session(text: &str) -> SessionId {
    text.parse().unwrap()
}

/// The newest original (1ecf1f0): no `client_context`, the context on the client, the client
/// link and `data_type` on messages, assignments without assignee, no `created_by`, tokens.
async fn imports_a_database_of_the_later_original(
    source: Source,
    target: Target,
) -> (Source, Target) {
    source.exec(LATER).await;
    let report = import(&source, &target, false).await.unwrap();
    let store = &target.store;
    let line = |name: &str| {
        let l = report
            .tables
            .iter()
            .find(|t| t.source == name)
            .unwrap_or_else(|| panic!("no report line {name}"));
        (l.target, l.read, l.imported, l.skipped, l.ignored)
    };
    assert_eq!(line("account_role"), ("roles", 4, 4, 0, 0));
    assert_eq!(line("account_user"), ("users", 6, 6, 0, 0));
    assert_eq!(
        line("chat_chathistory"),
        ("chat_messages", 2517, 2517, 0, 0)
    );
    assert_eq!(line("client_client"), ("clients", 9, 9, 0, 0));
    assert_eq!(
        line("client_client.context"),
        ("client_contexts", 3, 3, 0, 0)
    );
    assert_eq!(
        line("client_clientassignment"),
        ("client_assignments", 8, 8, 0, 0)
    );
    assert_eq!(line("authtoken_token"), ("-", 1, 0, 0, 1));
    assert!(!report.tables.iter().any(|t| t.source == "client_context"));

    // Accounts: role descriptions, no creator any more, logins with the Django password.
    let listed = listed(store).await;
    assert_eq!(
        listed
            .roles
            .iter()
            .map(|r| (r.id.0, r.description.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "Answers chats and keeps leads moving"),
            (2, "Assigns leads — équipe commerciale"),
            (4, ""),
            (5, "Works the leads captured from chats"),
        ]
    );
    assert_eq!(listed.users.len(), 6);
    assert!(listed.users.iter().all(|u| u.created_by.is_none()));
    assert_eq!(listed.users[2].role_id, Some(RoleId(5)));
    let priya = store
        .authenticate("priya.sharma@acme.example", "correct horse ✓")
        .await
        .unwrap();
    assert_eq!(priya.id, UserId(2));
    let admin = store
        .authenticate("admin@acme.example", "Admin pass 2024!")
        .await
        .unwrap();
    assert!(admin.is_superuser);

    // Messages keep their data_type; the original's rows are plain messages.
    let lead = session("e5000000-0000-4000-8000-000000000007");
    let history = store.history(lead).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|m| (m.id.0, m.data_type, m.message.as_str()))
            .collect::<Vec<_>>(),
        [
            (3001, DataType::Message, "I want to refinance my 300k loan"),
            (3002, DataType::Name, "mary o'brien-smith"),
            (3003, DataType::Email, "Mary.OBrien@Example.COM"),
            (3004, DataType::Phone, "+1 (555) 123-4567"),
        ]
    );
    let messages = all_messages(store).await;
    assert_eq!(messages.len(), 2517);
    assert!(
        messages
            .iter()
            .filter(|m| m.id.0 < 3000)
            .all(|m| m.data_type == DataType::Message)
    );

    // Clients, blank fields included.
    let partial = store.client(ClientId(10)).await.unwrap();
    assert_eq!(
        (partial.name.as_str(), partial.email.as_str()),
        ("", "sam@example.com")
    );
    assert_eq!(
        store.client(ClientId(7)).await.unwrap().phone,
        "15551234567"
    );

    // Contexts: from the client, with the session of its oldest linked message.
    let context = store.context(ClientId(7)).await.unwrap();
    assert_eq!(context.id, ContextId(7));
    assert_eq!(context.chat_session_id, Some(lead));
    assert_eq!(
        Json::Object(context.data),
        json!({"intent": "refinance", "loan_details": {"current_loan_amount": "300k"},
               "sentiment": "positive", "urgency": "high", "summary": "Wants to refinance."})
    );
    assert_eq!(context.created_at.to_rfc3339(), "2025-11-27T12:00:05+00:00");
    let sam = session("f6000000-0000-4000-8000-000000000008");
    let context = store.context(ClientId(8)).await.unwrap();
    assert_eq!(context.chat_session_id, Some(sam));
    assert_eq!(
        Json::Object(context.data),
        json!({"value": ["not", "an", "object"]})
    );
    let context = store.context(ClientId(9)).await.unwrap();
    assert_eq!(context.chat_session_id, None);
    assert_eq!(
        Json::Object(context.data),
        json!({"value": "Failed to summarize chat history"})
    );
    // The duplicate lead holds only a later message of session 8's; the original's contexts
    // (clients 1 to 6) went with `client_context` in b2fff2d.
    for id in [1, 2, 3, 4, 6, 10] {
        let context = store.context(ClientId(id)).await.unwrap();
        assert_eq!(
            (context.id, context.data.len(), context.chat_session_id),
            (ContextId(0), 0, None),
            "client {id}"
        );
    }

    // Sessions link to their client.
    let sessions = store
        .list_sessions(&Default::default(), PageRequest::first(100))
        .await
        .unwrap();
    let linked: BTreeMap<String, Option<i64>> = sessions
        .items
        .iter()
        .map(|s| (s.session_id.to_string(), s.client_id.map(|c| c.0)))
        .collect();
    assert_eq!(linked[&lead.to_string()], Some(7));
    assert_eq!(linked[&sam.to_string()], Some(8));
    assert_eq!(linked["a7000000-0000-4000-8000-000000000000"], None);
    assert_eq!(linked["a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f601"], None);

    // Assignments without assignee: active = awaiting assignment.
    let rows: Vec<(i64, i64, Option<i64>, bool, &str)> = listed
        .assignments
        .iter()
        .map(|a| {
            (
                a.id.0,
                a.client_id.0,
                a.assigned_to.map(|u| u.0),
                a.is_active,
                a.remarks.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows[5..],
        [
            (7, 7, None, true, "Awaiting assignment"),
            (8, 9, None, false, "Awaiting assignment"),
            (9, 9, Some(3), true, ""),
        ]
    );
    assert_eq!(rows[2], (3, 1, Some(2), true, "back to Priya"));

    // Stage history without a previous stage.
    let first = listed.stage_changes.iter().find(|c| c.id.0 == 11).unwrap();
    assert_eq!((first.from_stage, first.to_stage), (None, Stage::Lead));

    // New rows continue after the imported ones.
    let client = store
        .create_client(NewClient::new("After Import"))
        .await
        .unwrap();
    assert_eq!(client.id, ClientId(11));
    (source, target)
}

/// A database migrated to b2fff2d only: `client_context` is gone, messages have `client_id`
/// and `data_type`, but there is no context column yet, assignees are still required and users
/// still have `created_by`.
async fn imports_a_database_between_two_commits(
    source: Source,
    target: Target,
) -> (Source, Target) {
    source.exec(later_schema_until("b2fff2d")).await;
    source
        .exec(
            "UPDATE chat_chathistory SET client_id = 1 \
             WHERE session_id = 'a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f601'; \
             UPDATE chat_chathistory SET data_type = 'name' WHERE id = 3; \
             UPDATE chat_chathistory SET client_id = 2, data_type = 'phone' WHERE id = 8; \
             UPDATE chat_chathistory SET data_type = 'address' WHERE id = 9",
        )
        .await;
    // A data_type the original never had is named, and nothing is written.
    let err = import(&source, &target, false).await.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("chat_chathistory id 9") && text.contains("data_type \"address\""),
        "{text}"
    );
    source
        .exec("UPDATE chat_chathistory SET data_type = 'message' WHERE id = 9")
        .await;
    let report = import(&source, &target, false).await.unwrap();
    assert!(!report.tables.iter().any(|t| t.source == "authtoken_token"));
    let store = &target.store;
    let grace = session("a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f601");
    let finnish = session("0f9e8d7c-6b5a-4938-a271-605f4e3d2c1b");
    for (client, session) in [(1, grace), (2, finnish)] {
        let context = store.context(ClientId(client)).await.unwrap();
        assert_eq!(context.id, ContextId(client));
        assert_eq!(context.chat_session_id, Some(session));
        assert!(context.data.is_empty());
    }
    assert_eq!(store.context(ClientId(3)).await.unwrap().id, ContextId(0));
    let history = store.history(grace).await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.data_type).collect::<Vec<_>>(),
        [
            DataType::Message,
            DataType::Message,
            DataType::Name,
            DataType::Message
        ]
    );
    assert_eq!(
        store.history(finnish).await.unwrap()[2].data_type,
        DataType::Phone
    );
    assert_eq!(
        store.user(UserId(2)).await.unwrap().created_by,
        Some(UserId(1))
    );
    let sessions = store
        .list_sessions(&Default::default(), PageRequest::first(100))
        .await
        .unwrap();
    let row = sessions
        .items
        .iter()
        .find(|s| s.session_id == grace)
        .unwrap();
    assert_eq!(row.client_id, Some(ClientId(1)));
    let assignments = listed(store).await.assignments;
    assert!(assignments.iter().all(|a| a.assigned_to.is_some()));
    (source, target)
}
