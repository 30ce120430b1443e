//! A lead pipeline on rivo-core: clients created from chat sessions, moved through stages,
//! assigned to support users, with the stage history printed at the end.
//!
//! ```sh
//! cargo run --example lead_pipeline
//! DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run --example lead_pipeline
//! ```

use rivo_core::accounts::NewUser;
use rivo_core::clients::{ContextChange, HistorySort, NewClient, StageChangeFilter};
use rivo_core::{Error, PageRequest, SenderType, SessionId, Sort, Stage, Store};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::open(&rivo_examples::database_url()).await?;
    store.migrate().await?;

    // Two support users (staff) and a lead lead.
    let unique = SessionId::new_random().to_string()[..8].to_owned();
    let mut agents = Vec::new();
    for name in ["alice", "bob"] {
        let user = store
            .create_user(NewUser {
                is_staff: true,
                first_name: name.to_owned(),
                ..NewUser::new(
                    format!("{name}.{unique}@example.com"),
                    format!("{name}{unique}"),
                )
                .password("a long support passphrase")
            })
            .await?;
        agents.push(user);
    }

    // Chats that turn into leads.
    let mut clients = Vec::new();
    for (name, phone) in [
        ("Ada Lovelace", "+44 20 7946 0000"),
        ("Alan Turing", "+44 161 000"),
    ] {
        let session = SessionId::new_random();
        store
            .append(
                session,
                &format!("Hi, I'm {name}, I need a loan"),
                SenderType::Client,
            )
            .await?;
        store
            .append(session, "Sure! What amount?", SenderType::Bot)
            .await?;
        let client = store
            .create_client(NewClient {
                phone: phone.to_owned(),
                chat_session_id: Some(session),
                created_by: Some(agents[0].id),
                ..NewClient::new(name)
            })
            .await?;
        store
            .change_context(
                client.id,
                &[ContextChange::Merge(
                    json!({"amount": 12000, "source": "chatbot"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                )],
            )
            .await?;
        clients.push(client);
    }

    // Move the first lead along and hand it over.
    let ada = &clients[0];
    store
        .assign(ada.id, agents[0].id, Some(agents[0].id), "first contact")
        .await?;
    for (stage, remarks) in [
        (Stage::Contacted, "called, interested"),
        (Stage::Qualified, "income checked"),
        (Stage::DocsPending, "waiting for payslips"),
    ] {
        store
            .set_stage(ada.id, stage, Some(agents[0].id), remarks)
            .await?;
    }
    // Setting the same stage again is a no-op: no history row.
    assert!(
        store
            .set_stage(ada.id, Stage::DocsPending, None, "")
            .await?
            .change
            .is_none()
    );
    store
        .assign(
            ada.id,
            agents[1].id,
            Some(agents[0].id),
            "bob handles documents",
        )
        .await?;
    store
        .set_stage(
            clients[1].id,
            Stage::Lost,
            Some(agents[1].id),
            "not reachable",
        )
        .await?;

    for client in &clients {
        let client = store.client(client.id).await?;
        let context = store.context(client.id).await?;
        let assigned = store.active_assignment(client.id).await?;
        println!(
            "{} — stage {} — context {} — chat {} — assigned to {}",
            client.name,
            client.current_stage.label(),
            serde_json::Value::Object(context.data),
            context
                .chat_session_id
                .map(|s| s.to_string())
                .unwrap_or_default(),
            match assigned {
                Some(a) => a
                    .assigned_to
                    .map_or_else(|| "awaiting assignment".into(), |u| u.to_string()),
                None => "nobody".into(),
            },
        );
        let history = store
            .list_stage_changes(
                &StageChangeFilter {
                    client_id: Some(client.id),
                    ..Default::default()
                },
                Sort::asc(HistorySort::CreatedAt),
                PageRequest::default(),
            )
            .await?;
        for entry in history.items {
            println!(
                "    {:<13} -> {:<13} by {:<6} {}",
                entry.from_stage.map(|s| s.as_str()).unwrap_or("(new)"),
                entry.to_stage.as_str(),
                entry
                    .changed_by
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "-".into()),
                entry.remarks
            );
        }
    }
    store.close().await;
    Ok(())
}
