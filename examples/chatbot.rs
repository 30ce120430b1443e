//! A chatbot backend that stores a conversation through rivo-core and replays it.
//!
//! ```sh
//! cargo run --example chatbot                                  # in-memory SQLite
//! DATABASE_URL=sqlite://chat.sqlite3?mode=rwc cargo run --example chatbot
//! DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run --example chatbot
//! ```

use rivo_core::{Error, SenderType, SessionId, Store};

/// A toy bot: answers by keyword.
fn reply_to(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    if lower.contains("loan") {
        "We offer personal loans from 1,000 to 50,000. How much do you need?"
    } else if lower.chars().any(|c| c.is_ascii_digit()) {
        "Thanks! An advisor will call you. What is your phone number?"
    } else {
        "Hello! How can I help you today?"
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = Store::open(&rivo_examples::database_url()).await?;
    store.migrate().await?;

    // One conversation: every visitor message is stored, then the bot's answer.
    let session = SessionId::new_random();
    for visitor in ["Hi there", "  I'd like a loan  ", "About 12000 please"] {
        store.append(session, visitor, SenderType::Client).await?;
        store
            .append(session, reply_to(visitor), SenderType::Bot)
            .await?;
    }

    // Bad input is refused with a clear error and nothing is written.
    match store.append(session, "   ", SenderType::Client).await {
        Err(Error::Validation(errors)) => println!("refused a blank message: {errors}"),
        other => println!("unexpected: {other:?}"),
    }

    // Replay the conversation, oldest first, as a front end would after a page reload.
    println!("session {session}");
    let history = store.history(session).await?;
    for message in &history {
        println!(
            "[{}] {:>6}: {}",
            message.sent_at.format("%H:%M:%S%.6f"),
            message.sender_type,
            message.message
        );
    }
    assert_eq!(history.len(), 6);
    assert_eq!(history[1].message.as_str(), reply_to("Hi there"));

    // Long sessions can be read page by page.
    let first = store.history_page(session, None, 4).await?;
    let rest = store.history_page(session, first.next, 4).await?;
    println!(
        "paged: {} + {} messages",
        first.messages.len(),
        rest.messages.len()
    );
    store.close().await;
    Ok(())
}
