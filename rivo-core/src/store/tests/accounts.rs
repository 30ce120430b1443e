//! Users and roles on every backend: passwords, authentication, the email identity, validation,
//! listing, permissions and who may grant them, and deletion.

use std::collections::BTreeSet;

use super::{
    Matching, assignments_of, conflict, count, deactivate, list, list_all, named_role, plain_user,
    refused, role_named, set_stage, staff, stage_changes_of, validation_fields,
};
use crate::accounts::*;
use crate::auth::*;
use crate::clients::*;
use crate::*;

behaviours!(
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
);

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
    let no_password = plain_user(store, "bo@example.com", "bo").await;
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
    // Told apart internally, the same "invalid credentials" to everyone else.
    for (email, password, failure) in [
        ("cy@example.com", "nope", AuthFailure::WrongPassword),
        ("nobody@example.com", "x", AuthFailure::UnknownEmail),
    ] {
        let err = store.authenticate(email, password).await.unwrap_err();
        assert!(
            matches!(err, Error::Authentication(f) if f == failure),
            "{email}: {err:?}"
        );
        assert_eq!(err.to_string(), "invalid credentials");
    }
    deactivate(store, user.id).await;
    assert!(matches!(
        store
            .authenticate("cy@example.com", "a long passphrase")
            .await,
        Err(Error::Authentication(AuthFailure::Inactive))
    ));
}

async fn email_is_unique_case_insensitively(store: &Store) {
    plain_user(store, "dee@example.com", "dee").await;
    let err = refused(store.create_user(NewUser::new("DEE@example.com", "dee2"))).await;
    assert_eq!(conflict(err).0, "email");
    let other = plain_user(store, "eve@example.com", "eve").await;
    let taken = UserUpdate {
        email: Some("Dee@Example.com".into()),
        ..Default::default()
    };
    let err = refused(store.update_user(other.id, taken)).await;
    assert_eq!(conflict(err).0, "email");
    assert_eq!(count(store, "users").await, 2);
}

/// The id of the user `email` logs in as with `password` (panics when the login is refused).
async fn logs_in_as(store: &Store, email: &str, password: &str) -> UserId {
    store.authenticate(email, password).await.unwrap().id
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
    assert_eq!(logs_in_as(store, "ADMIN@example.com", PW).await, admin.id);
    // ... so it may be registered, as a different user, on both backends.
    plain_user(store, "admİn@example.com", "admin2").await;

    // SQLite's lower() is ASCII-only: É and é used to be two users there.
    let upper = store
        .create_user(NewUser::new("ÉMAIL@x.com", "email1").password(PW))
        .await
        .unwrap();
    // Fullwidth letters fold to plain ones under NFKC.
    for same in ["émail@x.com", "\u{c9}ＭＡＩＬ@x.com"] {
        let err = refused(store.create_user(NewUser::new(same, "email2"))).await;
        assert_eq!(conflict(err).0, "email", "{same}");
        assert_eq!(logs_in_as(store, same, PW).await, upper.id, "{same}");
        assert_eq!(store.user_by_email(same).await.unwrap().id, upper.id);
    }
    // A decomposed é (e + U+0301) is refused as a new email by validation, but logs in.
    assert_eq!(logs_in_as(store, "e\u{301}mail@x.com", PW).await, upper.id);
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
    assert_eq!(logs_in_as(store, "émile@example.com", PW).await, user.id);
    // Two users that only differ by case, as SQLite allowed before: a clear error.
    plain_user(store, "x@example.com", "x").await;
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

async fn username_is_unique(store: &Store) {
    plain_user(store, "f1@example.com", "fay").await;
    let err = refused(store.create_user(NewUser::new("f2@example.com", "fay"))).await;
    assert_eq!(conflict(err).0, "username");
}

async fn user_validation_reports_every_field(store: &Store) {
    let err = refused(store.create_user(NewUser {
        first_name: "x".repeat(151),
        phone: "1".repeat(21),
        ..NewUser::new("not-an-email", "bad name").password("short")
    }))
    .await;
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
    let unknown_role = NewUser {
        role_id: Some(RoleId(999)),
        ..NewUser::new("g@example.com", "g")
    };
    let unknown_creator = NewUser {
        created_by: Some(UserId(999)),
        ..NewUser::new("g@example.com", "g")
    };
    for (user, field) in [(unknown_role, "role_id"), (unknown_creator, "created_by")] {
        let err = store.create_user(user).await.unwrap_err();
        assert_eq!(validation_fields(err)[0].0, field);
    }
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
    let role = named_role(store, "Support").await;
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
    let all = list_all(
        store,
        &UserFilter::default(),
        Sort::desc(UserSort::CreatedAt),
    )
    .await;
    let ids: Vec<UserId> = all.items.iter().map(|u| u.id).collect();
    assert_eq!(ids, made.iter().rev().map(|u| u.id).collect::<Vec<_>>());
    let staff = list_all(
        store,
        &UserFilter {
            is_staff: Some(true),
            ..Default::default()
        },
        Sort::asc(UserSort::Email),
    )
    .await;
    assert_eq!(
        staff
            .items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["ivy", "kim"]
    );
    let searched = list_all(store, &UserFilter::matching("smi"), Sort::asc(UserSort::Id)).await;
    assert_eq!(searched.items[0].username, "jon");
    let by_role = list_all(
        store,
        &UserFilter {
            role_id: Some(role.id),
            is_active: Some(true),
            ..Default::default()
        },
        Sort::asc(UserSort::Id),
    )
    .await;
    assert_eq!(
        (by_role.total, by_role.items[0].username.as_str()),
        (1, "lee")
    );
    let last_login_sorted = list(
        store,
        &UserFilter::default(),
        Sort::asc(UserSort::LastLogin),
        PageRequest::first(2),
    )
    .await;
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
    let invalid = UserUpdate {
        username: Some("no spaces allowed".into()),
        ..Default::default()
    };
    let err = refused(store.update_user(user.id, invalid)).await;
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
    let err = refused(store.create_role(role_named("Sales"))).await;
    assert_eq!(conflict(err).0, "name");
    let err = refused(store.create_role(role_named("x".repeat(101)))).await;
    assert_eq!(
        validation_fields(err)[0].1,
        "Ensure this field has no more than 100 characters."
    );
    named_role(store, "Audit").await;
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
    let taken = RoleUpdate {
        name: Some("Audit".into()),
        ..Default::default()
    };
    let err = refused(store.update_role(role.id, taken)).await;
    assert_eq!(conflict(err).0, "name");
    let listed = list_all(store, &RoleFilter::default(), Sort::asc(RoleSort::Name)).await;
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
    let role = named_role(store, "Temp").await;
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
    let inactive = deactivate(store, user.id).await;
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
    let role = named_role(store, "Any").await;
    let denied = |r: Result<User>| matches!(r, Err(Error::PermissionDenied(_)));
    let superuser = |name: &str| NewUser {
        is_superuser: true,
        ..NewUser::new(format!("{name}@example.com"), name)
    };

    // add_user alone: a plain account, nothing more.
    store
        .create_user_as(&adder, NewUser::new("p1@example.com", "p1"))
        .await
        .unwrap();
    for grant in [
        superuser("s1"),
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
        store.create_user_as(&changer, superuser("s5")).await
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
                is_staff: true,
                ..superuser("s6")
            },
        )
        .await
        .unwrap();
    assert!(created.is_superuser);
    // An inactive superuser grants nothing.
    let retired = deactivate(store, root.id).await;
    assert!(denied(
        store.create_user_as(&retired, superuser("s7")).await
    ));
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
    set_stage(store, client.id, Stage::Contacted, Some(boss.id), "").await;
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
    let history = stage_changes_of(store, client.id).await;
    assert_eq!(history.total, 2);
    assert!(history.items.iter().all(|h| h.changed_by.is_none()));
    let assignments = assignments_of(store, client.id).await;
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
