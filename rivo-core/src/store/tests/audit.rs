//! The audit log on every backend: what a write made as an actor records, that a rolled-back
//! change leaves no entry, and that the log outlives its actor.

use serde_json::json;

use super::{append, audit_of, count, list_all, named_role, session, set_stage, staff};
use crate::accounts::*;
use crate::audit::*;
use crate::chat::*;
use crate::clients::*;
use crate::*;

behaviours!(
    audit_records_writes_made_as_an_actor,
    audit_never_records_a_rolled_back_change,
    deleting_the_actor_keeps_the_log,
);

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
    set_stage(
        &as_admin,
        client.id,
        Stage::Contacted,
        Some(admin.id),
        "call",
    )
    .await;
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
    let role = named_role(&as_admin, "R").await;
    as_admin.delete_role(role.id).await.unwrap();
    let s = session();
    let m = append(store, s, "to be removed", SenderType::Client).await;
    as_admin.delete_message(m.id).await.unwrap();
    store.append(s, "again", SenderType::Client).await.unwrap();
    as_admin.delete_session(s).await.unwrap();
    as_admin.delete_client(client.id).await.unwrap();

    let log = list_all(store, &AuditFilter::default(), Sort::asc(AuditSort::Id)).await;
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
    let about_the_user = audit_of("user", user.id);
    let only_users = list_all(store, &about_the_user, Sort::desc(AuditSort::CreatedAt)).await;
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
    let unchanged = set_stage(&as_admin, client.id, Stage::Lead, None, "").await;
    assert_eq!(unchanged.change, None);
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
    let log = list_all(store, &AuditFilter::default(), Sort::asc(AuditSort::Id)).await;
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
