//! A bot backend embedding rivo-core: it follows all activity live
//! ([`Store::subscribe_activity`]), answers every visitor message (`sender_type=client`) with a
//! bot message, and moves every new client (lead) to the `contacted` stage.
//!
//! By default it runs a bounded demo: a simulated visitor writes in two conversations and a
//! client is created through the API, the bot handles them, and the program exits 0 once every
//! visitor message has its answer and the client has moved (or 1 after 30 s). With `--serve` it
//! runs until stopped, e.g. next to a `rivo-server` on the same database: on PostgreSQL it hears
//! every server's writes (LISTEN/NOTIFY); on SQLite, writes of other processes after at most
//! the poll interval.
//!
//! ```sh
//! cargo run --example live_bot
//! DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run --example live_bot
//! DATABASE_URL=postgres://… cargo run --example live_bot -- --serve
//! ```

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use rivo_core::clients::NewClient;
use rivo_core::events::Event;
use rivo_core::{ClientId, Error, MessageId, SenderType, SessionId, Stage, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let serve = std::env::args().any(|a| a == "--serve");
    let store = Store::open(&rivo_examples::database_url()).await?;
    store.migrate().await?;

    // Subscribe first, so that nothing written from now on is missed.
    let mut activity = Box::pin(store.subscribe_activity(None).await?);

    // The demo's visitor and lead (nothing in --serve mode: real visitors write through the
    // chat API of a rivo-server on the same database).
    let mut waiting_for: HashSet<MessageId> = HashSet::new();
    let mut lead: Option<ClientId> = None;
    if !serve {
        let (s1, s2) = (SessionId::new_random(), SessionId::new_random());
        for (session, text) in [
            (s1, "Hi! Do you ship to Norway?"),
            (s2, "Hello, I'd like a quote."),
            (s1, "And how long does it take?"),
        ] {
            waiting_for.insert(store.append(session, text, SenderType::Client).await?.id);
        }
        let client = store
            .create_client(NewClient {
                email: "ada@example.com".into(),
                chat_session_id: Some(s2),
                ..NewClient::new("Ada Lovelace")
            })
            .await?;
        lead = Some(client.id);
    }

    let deadline = tokio::time::sleep(Duration::from_secs(if serve {
        10 * 365 * 86_400
    } else {
        30
    }));
    tokio::pin!(deadline);
    let mut lead_moved = false;
    loop {
        if !serve && waiting_for.is_empty() && lead_moved {
            println!("demo done: every visitor message answered, the lead moved");
            store.close().await;
            return Ok(());
        }
        let item = tokio::select! {
            item = activity.next() => item,
            () = &mut deadline => {
                eprintln!("demo timed out: {} messages unanswered, lead moved: {lead_moved}",
                    waiting_for.len());
                std::process::exit(1);
            }
        };
        let Some(item) = item else { break };
        let item = match item {
            Ok(item) => item,
            Err(err) => {
                // The stream goes on from the same place after a poll interval.
                eprintln!("store error (retrying): {err}");
                continue;
            }
        };
        match item.event {
            Event::MessageCreated(m) if m.sender_type == SenderType::Client => {
                let reply = format!(
                    "Thanks! You wrote: \"{}\". An agent will follow up.",
                    m.message
                );
                let answer = store.append(m.session_id, &reply, SenderType::Bot).await?;
                println!("answered message {} with {}", m.id, answer.id);
                waiting_for.remove(&m.id);
            }
            Event::MessageCreated(_) => {} // Our own answers (or another bot's).
            Event::ClientCreated(created) => {
                let client = created.client;
                store
                    .set_stage(client.id, Stage::Contacted, None, "greeted by the bot")
                    .await?;
                println!("client {} ({}) moved to contacted", client.id, client.name);
            }
            Event::ClientStageChanged(change) => {
                if Some(change.client_id) == lead && change.to_stage == Stage::Contacted {
                    lead_moved = true;
                }
            }
            Event::ClientAssigned(_) => {}
        }
    }
    Ok(())
}
