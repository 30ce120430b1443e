//! The admin's page-at-once lookups (`permissions_of_users`, `client_names`, `user_emails`)
//! answer for every id asked, leave unknown ids out, and cost nothing for an empty page. Runs on
//! SQLite, and on PostgreSQL when `RIVO_TEST_POSTGRES_URL` is set.

#![allow(clippy::unwrap_used, missing_docs)] // Test helpers: a failure should panic.

use std::collections::{BTreeMap, BTreeSet};

use rivo_core::accounts::{Action, Model, NewUser};
use rivo_core::clients::NewClient;
use rivo_core::{ClientId, Permission, Store, UserId};

async fn lookups_answer_per_id(store: &Store) {
    let view = Permission::new(Action::View, Model::Client);
    let add = Permission::new(Action::Add, Model::Client);
    let a = store
        .create_user(NewUser {
            permissions: [view, add].into(),
            ..NewUser::new("a@example.com", "a")
        })
        .await
        .unwrap();
    let b = store
        .create_user(NewUser::new("b@example.com", "b"))
        .await
        .unwrap();
    let c = store
        .create_user(NewUser {
            permissions: [view].into(),
            ..NewUser::new("c@example.com", "c")
        })
        .await
        .unwrap();
    let unknown = UserId(a.id.0 + b.id.0 + c.id.0 + 1000);

    let held = store
        .permissions_of_users(&[a.id, b.id, c.id, unknown])
        .await
        .unwrap();
    let expected: BTreeMap<UserId, BTreeSet<Permission>> = [
        (a.id, [view, add].into()),
        (b.id, BTreeSet::new()),
        (c.id, [view].into()),
        (unknown, BTreeSet::new()),
    ]
    .into();
    assert_eq!(held, expected);
    for user in [&a, &b, &c] {
        assert_eq!(
            held[&user.id],
            store.user_permissions(user.id).await.unwrap(),
            "the page lookup agrees with the one-user lookup"
        );
    }
    assert!(store.permissions_of_users(&[]).await.unwrap().is_empty());

    let emails = store.user_emails(&[a.id, c.id, unknown]).await.unwrap();
    assert_eq!(
        emails,
        [
            (a.id, "a@example.com".to_owned()),
            (c.id, "c@example.com".to_owned())
        ]
        .into()
    );
    assert!(store.user_emails(&[]).await.unwrap().is_empty());

    let ada = store.create_client(NewClient::new("Ada")).await.unwrap();
    let bob = store.create_client(NewClient::new("Bob")).await.unwrap();
    let names = store
        .client_names(&[ada.id, bob.id, ClientId(ada.id.0 + bob.id.0 + 1000)])
        .await
        .unwrap();
    assert_eq!(
        names,
        [(ada.id, "Ada".to_owned()), (bob.id, "Bob".to_owned())].into()
    );
    assert!(store.client_names(&[]).await.unwrap().is_empty());
}

async fn on(db: rivo_testkit::ScratchDb) {
    let store = Store::open(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    lookups_answer_per_id(&store).await;
    store.close().await;
    db.remove().await;
}

#[tokio::test]
async fn sqlite_lookups_answer_per_id() {
    on(rivo_testkit::ScratchDb::sqlite()).await;
}

#[tokio::test]
async fn postgres_lookups_answer_per_id() {
    if let Some(db) = rivo_testkit::ScratchDb::postgres("rivo_lookups").await {
        on(db).await;
    }
}
