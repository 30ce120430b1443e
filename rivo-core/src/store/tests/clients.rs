//! Clients on every backend: creation, validation, listing, stages, context, assignments and
//! deletion, under concurrency where it matters.

use chrono::Duration;
use serde_json::json;

use super::{
    Matching, active_assignments, assignments_of, count, list, list_all, newest_first, object,
    plain_user, refused, session, set_stage, staff, stage_changes_of, validation_fields,
};
use crate::accounts::*;
use crate::clients::*;
use crate::*;

behaviours!(
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
);

async fn create_client_writes_context_and_first_history(store: &Store) {
    let creator = staff(store, "sam").await;
    let s = session();
    let client = store
        .create_client(NewClient {
            email: "Tia@Example.com".into(),
            phone: " +44 20 ".into(),
            chat_session_id: Some(s),
            context: object(json!({"loan": 5000})),
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
    assert_eq!(context.data, object(json!({"loan": 5000})));
    let history = stage_changes_of(store, client.id).await;
    assert_eq!(history.items.len(), 1);
    assert_eq!(
        (history.items[0].from_stage, history.items[0].to_stage),
        (None, Stage::Lead)
    );
    assert_eq!(history.items[0].changed_by, Some(creator.id));
    let by_session = newest_first(
        store,
        &ContextFilter {
            chat_session_id: Some(s),
            ..Default::default()
        },
    )
    .await;
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
    let invalid = ClientUpdate {
        email: Some("bad@".into()),
        ..Default::default()
    };
    let err = refused(store.update_client(ok.id, invalid)).await;
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
    set_stage(store, made[1].id, Stage::Qualified, None, "").await;
    let newest = list_all(
        store,
        &ClientFilter::default(),
        Sort::desc(ClientSort::CreatedAt),
    )
    .await;
    assert_eq!(
        newest.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        made.iter().rev().map(|c| c.id).collect::<Vec<_>>()
    );
    let by_name = list_all(store, &ClientFilter::default(), Sort::asc(ClientSort::Name)).await;
    assert_eq!(
        by_name.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[0].id, made[2].id, made[1].id, made[3].id],
        "equal names ordered by id"
    );
    let by_name_desc = list(
        store,
        &ClientFilter::default(),
        Sort::desc(ClientSort::Name),
        PageRequest::page(2, 2),
    )
    .await;
    assert_eq!(
        by_name_desc.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![made[2].id, made[0].id]
    );
    let qualified = list_all(
        store,
        &ClientFilter {
            stage: Some(Stage::Qualified),
            ..Default::default()
        },
        Sort::desc(ClientSort::CreatedAt),
    )
    .await;
    assert_eq!((qualified.total, qualified.items[0].id), (1, made[1].id));
    let searched = list_all(
        store,
        &ClientFilter::matching("@A.COM"),
        Sort::asc(ClientSort::Id),
    )
    .await;
    assert_eq!(searched.total, 2);
    let ranged = list_all(
        store,
        &ClientFilter {
            created_from: Some(made[1].created_at),
            created_before: Some(made[3].created_at + Duration::microseconds(1)),
            ..Default::default()
        },
        Sort::asc(ClientSort::Id),
    )
    .await;
    assert_eq!(ranged.items.first().map(|c| c.id), Some(made[1].id));
    assert_eq!(ranged.items.last().map(|c| c.id), Some(made[3].id));
}

async fn set_stage_records_history_and_skips_no_ops(store: &Store) {
    let agent = staff(store, "yan").await;
    let client = store.create_client(NewClient::new("Zed")).await.unwrap();
    let remarks = "  first call ";
    let first = set_stage(store, client.id, Stage::Contacted, Some(agent.id), remarks).await;
    let change = first.change.unwrap();
    assert_eq!(
        (change.from_stage, change.to_stage),
        (Some(Stage::Lead), Stage::Contacted)
    );
    assert_eq!(
        (change.changed_by, change.remarks.as_str()),
        (Some(agent.id), "first call")
    );
    let again = set_stage(store, client.id, Stage::Contacted, None, "again").await;
    assert_eq!(again.change, None);
    set_stage(store, client.id, Stage::Lost, None, "").await;
    assert_eq!(
        store.client(client.id).await.unwrap().current_stage,
        Stage::Lost
    );
    let history = stage_changes_of(store, client.id).await;
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
    let to_lost = newest_first(
        store,
        &StageChangeFilter {
            to_stage: Some(Stage::Lost),
            ..Default::default()
        },
    )
    .await;
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
    let history = list_all(
        store,
        &StageChangeFilter {
            client_id: Some(client.id),
            ..Default::default()
        },
        Sort::asc(HistorySort::Id),
    )
    .await;
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
            &[ContextChange::Merge(object(
                json!({"amount": 200, "city": "Oslo"}),
            ))],
        )
        .await
        .unwrap();
    assert_eq!(merged.data, object(json!({"amount": 200, "city": "Oslo"})));
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
            &[ContextChange::Replace(object(
                json!({"nested": {"a": [1, 2]}}),
            ))],
        )
        .await
        .unwrap();
    assert_eq!(replaced.data, object(json!({"nested": {"a": [1, 2]}})));
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
    assert_eq!(recreated.data, object(json!({"k": true})));
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
    let all = assignments_of(store, client.id).await;
    assert_eq!(all.total, 2);
    assert!(!all.items[1].is_active && all.items[1].id == first.id);
    let to_a = newest_first(
        store,
        &AssignmentFilter {
            assigned_to: Some(a.id),
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(to_a.total, 1);
}

async fn assign_requires_active_staff_user(store: &Store) {
    let client = store.create_client(NewClient::new("Dot")).await.unwrap();
    let plain = plain_user(store, "plain@example.com", "plain").await;
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
    assert_eq!(active_assignments(store, client.id).await.len(), 1);
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
    set_stage(store, client.id, Stage::Qualified, None, "").await;
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
