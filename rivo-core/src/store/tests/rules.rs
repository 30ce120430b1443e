//! Rules that live in rivo-core so that an embedding app gets them without the HTTP server
//! (issue 14, Build item 1): the admin gate and the audit-log policy, atomic context changes,
//! the client a stage change leaves, the one default of a new user, unique rules worded by their
//! domain, and configuration errors that are no outage.

use std::collections::BTreeSet;

use serde_json::json;

use super::{
    TestDb, audit_of, conflict, count, list_all, named_role, object, plain_user, refused,
    role_named, session, set_stage, staff,
};
use crate::access::{Access, PERMISSION_DENIED};
use crate::accounts::*;
use crate::audit::*;
use crate::clients::*;
use crate::query::Sort;
use crate::*;

behaviours!(
    the_admin_gate_admits_active_staff_by_permission_and_the_log_to_superusers,
    an_authorized_store_records_writes_as_the_caller,
    a_context_change_whose_second_change_fails_leaves_the_context_as_it_was,
    several_context_changes_are_one_write_and_one_audit_entry,
    no_context_change_writes_nothing,
    set_stage_returns_the_client_its_own_transaction_left,
    a_user_made_from_the_default_is_active,
    unique_rules_are_worded_by_their_domain,
    a_client_edit_needs_the_permissions_of_what_it_changes,
);

/// The users of the gate's matrix, each given `client.view_client` unless the name says
/// otherwise.
async fn gate_users(store: &Store) -> Vec<(&'static str, User)> {
    let view = BTreeSet::from([Permission::new(Action::View, Model::Client)]);
    let make = |name: &'static str, active: bool, staff: bool, superuser: bool, perms: bool| {
        let permissions = if perms { view.clone() } else { BTreeSet::new() };
        async move {
            let user = store
                .create_user(NewUser {
                    is_active: active,
                    is_staff: staff,
                    is_superuser: superuser,
                    permissions,
                    ..NewUser::new(format!("{name}@example.com"), name)
                })
                .await
                .unwrap();
            (name, user)
        }
    };
    vec![
        make("inactive_staff", false, true, false, true).await,
        make("active_non_staff", true, false, false, true).await,
        make("staff_without_perm", true, true, false, false).await,
        make("staff_with_perm", true, true, false, true).await,
        make("superuser", true, true, true, false).await,
    ]
}

async fn the_admin_gate_admits_active_staff_by_permission_and_the_log_to_superusers(store: &Store) {
    let view = Permission::new(Action::View, Model::Client);
    let delete = Permission::new(Action::Delete, Model::Client);
    let accesses = [
        Access::AdminIndex,
        Access::Admin(view),
        Access::Admin(delete),
        Access::AuditLog,
        Access::Superuser,
        Access::Member(view),
    ];
    // index, view, delete, log, superuser-only, member (CSM API)
    let expected: [(&str, [bool; 6]); 5] = [
        ("inactive_staff", [false; 6]),
        (
            "active_non_staff",
            [false, false, false, false, false, true],
        ),
        (
            "staff_without_perm",
            [true, false, false, false, false, false],
        ),
        ("staff_with_perm", [true, true, false, false, false, true]),
        ("superuser", [true; 6]),
    ];
    let users = gate_users(store).await;
    for ((name, user), (expected_name, answers)) in users.iter().zip(expected) {
        assert_eq!(*name, expected_name);
        for (access, allowed) in accesses.iter().zip(answers) {
            assert_eq!(
                store.may(user, *access).await.unwrap(),
                allowed,
                "{name} {access:?}"
            );
            match store.authorize(user, *access).await {
                Ok(_) => assert!(allowed, "{name} {access:?} let in"),
                Err(Error::PermissionDenied(text)) => {
                    assert!(!allowed, "{name} {access:?} refused");
                    assert_eq!(text, PERMISSION_DENIED);
                }
                Err(other) => panic!("{name} {access:?}: {other:?}"),
            }
        }
    }
}

async fn an_authorized_store_records_writes_as_the_caller(store: &Store) {
    let users = gate_users(store).await;
    let (_, clerk) = &users[3];
    let as_clerk = store
        .authorize(
            clerk,
            Access::Admin(Permission::new(Action::Add, Model::Client)),
        )
        .await;
    assert!(matches!(as_clerk, Err(Error::PermissionDenied(_))));
    let as_clerk = store
        .authorize(
            clerk,
            Access::Admin(Permission::new(Action::View, Model::Client)),
        )
        .await
        .unwrap();
    let client = as_clerk.create_client(NewClient::new("Ada")).await.unwrap();
    let log = list_all(
        store,
        &audit_of("client", client.id),
        Sort::asc(AuditSort::Id),
    )
    .await;
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].actor_id, Some(clerk.id));
}

async fn a_context_change_whose_second_change_fails_leaves_the_context_as_it_was(store: &Store) {
    // Acting as a user, so that every write would be in the audit log.
    let admin = staff(store, "root").await;
    let store = &store.acting_as(&admin);
    let client = store.create_client(NewClient::new("Ada")).await.unwrap();
    let linked = session();
    let before = store
        .change_context(
            client.id,
            &[
                ContextChange::Replace(object(json!({"amount": 100, "city": "Oslo"}))),
                ContextChange::ChatSession(Some(linked)),
            ],
        )
        .await
        .unwrap();
    let audited = count(store, "audit_log").await;
    // The second change breaks a rule checked before anything is read: a blank key.
    let err = store
        .change_context(
            client.id,
            &[
                ContextChange::Merge(object(json!({"amount": 200, "new": true}))),
                ContextChange::Remove(String::new()),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert_eq!(store.context(client.id).await.unwrap(), before);
    // The second change breaks a rule checked inside the transaction, after the first change
    // was applied to the row read: the context limits.
    let small = store.with_limits(Limits {
        max_context_keys: 3,
        ..Limits::default()
    });
    let err = small
        .change_context(
            client.id,
            &[
                ContextChange::ChatSession(None),
                ContextChange::Set("amount".into(), json!(300)),
                ContextChange::Merge(object(json!({"a": 1, "b": 2}))),
            ],
        )
        .await
        .unwrap_err();
    let Error::Validation(errors) = err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.iter().next().map(|(f, _)| f), Some("context_data"));
    let after = store.context(client.id).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.chat_session_id, Some(linked));
    assert_eq!(count(store, "audit_log").await, audited);
}

async fn several_context_changes_are_one_write_and_one_audit_entry(store: &Store) {
    let admin = staff(store, "root").await;
    let store = &store.acting_as(&admin);
    let client = store.create_client(NewClient::new("Bo")).await.unwrap();
    let linked = session();
    let audited = count(store, "audit_log").await;
    let context = store
        .change_context(
            client.id,
            &[
                ContextChange::Merge(object(json!({"x": 1, "y": 2}))),
                ContextChange::Remove("x".into()),
                ContextChange::Set("z".into(), json!("three")),
                ContextChange::ChatSession(Some(linked)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(context.data, object(json!({"y": 2, "z": "three"})));
    assert_eq!(context.chat_session_id, Some(linked));
    assert_eq!(store.context(client.id).await.unwrap(), context);
    assert_eq!(count(store, "audit_log").await, audited + 1);
    let newest = newest_context_audit(store).await;
    assert_eq!(
        newest.changes,
        json!({"changes": [
            {"merge": {"x": 1, "y": 2}},
            {"remove": "x"},
            {"set": {"z": "three"}},
            {"chat_session_id": linked},
        ]})
    );
    // One change keeps the one-change description.
    store
        .change_context(client.id, &[ContextChange::Remove("y".into())])
        .await
        .unwrap();
    let newest = newest_context_audit(store).await;
    assert_eq!(newest.changes, json!({"remove": "y"}));
}

/// The newest audit entry about a context.
async fn newest_context_audit(store: &Store) -> AuditEntry {
    let filter = AuditFilter {
        object_type: Some("context".into()),
        ..AuditFilter::default()
    };
    let mut log = list_all(store, &filter, Sort::desc(AuditSort::Id)).await;
    log.items.remove(0)
}

async fn no_context_change_writes_nothing(store: &Store) {
    let admin = staff(store, "root").await;
    let store = &store.acting_as(&admin);
    let client = store.create_client(NewClient::new("Cy")).await.unwrap();
    let before = store
        .change_context(client.id, &[ContextChange::Set("k".into(), json!(1))])
        .await
        .unwrap();
    let audited = count(store, "audit_log").await;
    assert_eq!(store.change_context(client.id, &[]).await.unwrap(), before);
    assert_eq!(count(store, "audit_log").await, audited);
    assert!(matches!(
        store.change_context(ClientId(999_999), &[]).await,
        Err(Error::NotFound { entity: "client" })
    ));
}

async fn set_stage_returns_the_client_its_own_transaction_left(store: &Store) {
    let client = store.create_client(NewClient::new("Dee")).await.unwrap();
    let moved = set_stage(store, client.id, Stage::Qualified, None, "called").await;
    let change = moved.change.clone().unwrap();
    assert_eq!(moved.client.current_stage, Stage::Qualified);
    assert_eq!(moved.client.updated_at, change.created_at);
    assert!(moved.client.updated_at >= client.updated_at);
    assert_eq!(moved.client, store.client(client.id).await.unwrap());
    // Moving to the current stage writes nothing and still answers the client.
    let again = set_stage(store, client.id, Stage::Qualified, None, "").await;
    assert_eq!(again.change, None);
    assert_eq!(again.client, moved.client);
}

async fn a_user_made_from_the_default_is_active(store: &Store) {
    assert!(NewUser::default().is_active);
    assert_eq!(
        NewUser::default().is_active,
        NewUser::new("a@example.com", "a").is_active
    );
    let user = store
        .create_user(NewUser {
            email: "eve@example.com".into(),
            username: "eve".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(user.is_active);
    assert!(!user.is_staff && !user.is_superuser);
}

async fn unique_rules_are_worded_by_their_domain(store: &Store) {
    plain_user(store, "fay@example.com", "fay").await;
    let other = plain_user(store, "gus@example.com", "gus").await;
    let err = refused(store.create_user(NewUser::new("FAY@example.com", "fay2"))).await;
    assert_eq!(
        conflict(err),
        ("email", "A user with that email already exists.".to_owned())
    );
    let err = refused(store.create_user(NewUser::new("fay2@example.com", "fay"))).await;
    assert_eq!(
        conflict(err),
        (
            "username",
            "A user with that username already exists.".to_owned()
        )
    );
    let taken_username = UserUpdate {
        username: Some("fay".into()),
        ..UserUpdate::default()
    };
    let err = refused(store.update_user(other.id, taken_username)).await;
    assert_eq!(conflict(err).0, "username");
    let taken_email = UserUpdate {
        email: Some("Fay@Example.com".into()),
        ..UserUpdate::default()
    };
    let err = refused(store.update_user(other.id, taken_email)).await;
    assert_eq!(conflict(err).0, "email");
    // A role's name: "name" is also inside "username", but rules are matched exactly.
    named_role(store, "agents").await;
    let err = refused(store.create_role(role_named("agents"))).await;
    assert_eq!(
        conflict(err),
        ("name", "A role with this name already exists.".to_owned())
    );
    // Nothing was written by the refused writes.
    assert_eq!(count(store, "users").await, 2);
    assert_eq!(count(store, "roles").await, 1);
}

/// An unsupported `DATABASE_URL` scheme is a configuration error, not an outage (no 503).
#[tokio::test]
async fn a_bad_database_url_is_a_configuration_error() {
    for url in ["mysql://rivo@localhost/rivo", "rivo.sqlite3", ""] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{url}: {err:?}");
        assert!(!err.is_unavailable(), "{url}");
        assert_eq!(err.kind(), "config");
        assert!(
            err.to_string().starts_with("configuration error: "),
            "{err}"
        );
    }
}

/// A driver error is opaque but still classified: a unique violation caught below the domain
/// layer keeps its kind, its code and its text.
#[tokio::test]
async fn database_errors_are_opaque_and_classified() {
    let db = TestDb::sqlite().await;
    db.store
        .execute_raw("CREATE TABLE t (v INTEGER UNIQUE)")
        .await
        .unwrap();
    db.store
        .execute_raw("INSERT INTO t (v) VALUES (1)")
        .await
        .unwrap();
    let err = db
        .store
        .execute_raw("INSERT INTO t (v) VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "db_unique_violation");
    let Error::Database(inner) = &err else {
        panic!("{err:?}")
    };
    assert!(inner.is_unique_violation());
    assert!(inner.code().is_some());
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    db.finish().await;
}

/// The CSM API's edit rule, in core: fields and stage need `client.change_client`, assigning
/// needs add or change of `clientassignment`, unassigning needs its change, an empty edit
/// needs `client.change_client`, and an inactive user may do nothing.
async fn a_client_edit_needs_the_permissions_of_what_it_changes(store: &Store) {
    use crate::client_views::{AssignmentChange, ClientEdit};
    let change_client = Permission::new(Action::Change, Model::Client);
    let add_assignment = Permission::new(Action::Add, Model::ClientAssignment);
    let change_assignment = Permission::new(Action::Change, Model::ClientAssignment);
    let user = |name: &'static str, active: bool, perms: &[Permission]| {
        let permissions: BTreeSet<Permission> = perms.iter().copied().collect();
        async move {
            store
                .create_user(NewUser {
                    is_active: active,
                    permissions,
                    ..NewUser::new(format!("{name}@example.com"), name)
                })
                .await
                .unwrap()
        }
    };
    let nothing = user("nothing", true, &[]).await;
    let changer = user("changer", true, &[change_client]).await;
    let adder = user("adder", true, &[add_assignment]).await;
    let reassigner = user("reassigner", true, &[change_assignment]).await;
    let all = user("all", true, &[change_client, change_assignment]).await;
    let inactive = user("inactive", false, &[change_client, change_assignment]).await;

    let rename = ClientEdit {
        fields: ClientUpdate {
            name: Some("Ada".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let restage = ClientEdit {
        stage: Some(Stage::Contacted),
        ..Default::default()
    };
    let assign = ClientEdit {
        assignment: AssignmentChange::To(adder.id),
        ..Default::default()
    };
    let unassign = ClientEdit {
        assignment: AssignmentChange::Unassign,
        ..Default::default()
    };
    let rename_and_assign = ClientEdit {
        assignment: AssignmentChange::To(adder.id),
        ..rename.clone()
    };
    let empty = ClientEdit::default();
    assert!(rename.changes_client() && restage.changes_client());
    assert!(!assign.changes_client() && !empty.changes_client());

    // Who may make each edit, of: nothing, changer, adder, reassigner, all, inactive.
    const Y: bool = true;
    const N: bool = false;
    let cases: [(&str, &ClientEdit, [bool; 6]); 6] = [
        ("rename", &rename, [N, Y, N, N, Y, N]),
        ("restage", &restage, [N, Y, N, N, Y, N]),
        ("assign", &assign, [N, N, Y, Y, Y, N]),
        ("unassign", &unassign, [N, N, N, Y, Y, N]),
        ("rename and assign", &rename_and_assign, [N, N, N, N, Y, N]),
        ("empty", &empty, [N, Y, N, N, Y, N]),
    ];
    let users = [&nothing, &changer, &adder, &reassigner, &all, &inactive];
    for (name, edit, expected) in cases {
        for (user, expected) in users.iter().zip(expected) {
            assert_eq!(
                store.may_edit_client(user, edit).await.unwrap(),
                expected,
                "{name} by {}",
                user.username
            );
        }
    }
}
