//! Live subscriptions: a [`Stream`] of a session's new messages
//! ([`Store::subscribe_session`]) and a [`Stream`] of all activity ([`Store::subscribe_activity`]:
//! new messages on every session and the client events of [`crate::events`]).
//!
//! **The database is the source of truth; this process's own writes come in memory.** A stream
//! keeps the position of the last item it gave. The group-commit writer hands each committed
//! batch's rows to the session streams of its own process (no read), each session's rows with
//! a mark: the session's token before and after the batch, taken under the session row's
//! lock (on PostgreSQL the row's `append_seq`; on SQLite the id of the session's newest
//! message). A stream takes them only when the "before" equals its own token, i.e. when it
//! provably has every earlier row; otherwise (a write from another server in between, two local
//! writers finishing out of order, a slot that overflowed, a restart) it reads the rows after
//! its position from the database, as it does to catch up (`Last-Event-ID`). Rows it already
//! has are skipped by id, so nothing is given twice.
//!
//! Writes of other servers only say "look": on PostgreSQL a `NOTIFY` sent inside the writing
//! transaction (at most one per group-commit batch or client change, tagged with the sending
//! process so that it ignores its own), received by **one** `LISTEN` connection per [`Store`]
//! shared by all of its subscribers (taken from the pool when the first stream starts; it
//! reconnects when it drops and every stream re-reads then). Streams also look every
//! [`StoreOptions::subscription_poll`](crate::StoreOptions::subscription_poll), so a lost
//! wake-up delays an item but never loses it — this is also how streams work behind a
//! transaction-mode pooler, which cannot carry `LISTEN`. The activity stream always reads the
//! database (it must order two logs by transaction), woken by each local batch and `NOTIFY`.
//!
//! **Bounded memory.** Each session stream has a slot of at most [`SLOT_DELIVERIES`] hand-overs
//! and [`SLOT_BYTES`] of text; when it would overflow, it drops them and the stream reads the
//! database instead. Many hand-overs before a stream runs cost it one wake-up. Activity wake-ups
//! go through one shared ring of [`WAKE_BUFFER`] entries; a subscriber that falls further behind
//! loses its place in the ring and simply re-reads from the database. A stream holds at most one
//! page ([`PAGE`] rows) of items it has read and not yet given (or one slot's hand-overs); it
//! reads the next page only when that one is consumed. Nothing queues without bound.
//!
//! **Order and resumption.** A session stream gives messages in id order, and the id of each
//! message is the position to resume after (`Last-Event-ID` of the server's SSE). Ids of one
//! session are taken in commit order (the session row is locked by each batch), so "after id N"
//! never skips a message. The activity stream merges two logs (messages and client events); its
//! position, an [`ActivityCursor`], holds one place in each. On PostgreSQL, where ids are taken at
//! insert time but transactions may commit out of id order (several writer tasks and servers),
//! each log is read in `(transaction id, id)` order and only below the oldest transaction still
//! running (`pg_snapshot_xmin(pg_current_snapshot())`): a row is given once nothing that could
//! precede it is still in flight. The cost is that a long-running write transaction elsewhere
//! holds back the activity stream (not the session streams) until it ends.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivo_core::Error> {
//! use futures_util::StreamExt;
//! use rivo_core::events::Event;
//! use rivo_core::{SenderType, SessionId, Store};
//!
//! let store = Store::open("sqlite::memory:").await?;
//! store.migrate().await?;
//! let session = SessionId::new_random();
//! let first = store.append(session, "Hello!", SenderType::Client).await?;
//!
//! // Messages after `first`; `None` would mean "only messages stored from now on".
//! let mut messages = Box::pin(store.subscribe_session(session, Some(first.id)).await?);
//! let mut activity = Box::pin(store.subscribe_activity(None).await?);
//! let reply = store.append(session, "Hi, how can I help?", SenderType::Bot).await?;
//!
//! assert_eq!(messages.next().await.transpose()?, Some(reply.clone()));
//! let item = activity.next().await.transpose()?.expect("an item");
//! assert_eq!(item.event, Event::MessageCreated(reply));
//! // `item.cursor` resumes right after this item: `store.subscribe_activity(Some(item.cursor))`.
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::Rule;
use crate::events::Event;
#[cfg(doc)]
use crate::store::Store;
#[cfg(doc)]
use futures_core::Stream;

/// Most rows a stream reads at once (and so holds, read but not yet given).
pub const PAGE: i64 = 100;

/// Wake-ups a subscriber may fall behind before it loses its place and re-reads instead.
pub const WAKE_BUFFER: usize = 256;

/// The PostgreSQL `NOTIFY` channel of wake-ups.
pub(crate) const CHANNEL: &str = "rivo_events";

/// Most deliveries a session stream's slot holds before it overflows.
pub const SLOT_DELIVERIES: usize = 64;

/// Most message bytes a session stream's slot holds before it overflows.
pub const SLOT_BYTES: usize = 256 * 1024;

mod hub;
mod routes;
mod subscribe;

pub(crate) use hub::{Hub, Wake};
pub(crate) use routes::{Mark, Routes, Slot};

/// A place in one log: the writing transaction (PostgreSQL; always 0 on SQLite) and the row id.
/// Rows after it are those with a greater `(tx, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Position {
    pub(crate) tx: i64,
    pub(crate) id: i64,
}

/// Where an activity stream is: one position in the message log and one in the client-event
/// log. Written as four non-negative integers, `tx.id.tx.id` (e.g. `0.153.0.7` on SQLite); give
/// it back to [`Store::subscribe_activity`] to resume right after the item that carried it.
/// [`ActivityCursor::default`] is the very beginning (everything still stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActivityCursor {
    pub(crate) messages: Position,
    pub(crate) events: Position,
}

impl fmt::Display for ActivityCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.messages.tx, self.messages.id, self.events.tx, self.events.id
        )
    }
}

impl FromStr for ActivityCursor {
    type Err = Rule;

    /// Parses `tx.id.tx.id`; anything else is [`Rule::Other`] with a message saying so.
    fn from_str(s: &str) -> std::result::Result<Self, Rule> {
        let bad = || {
            Rule::Other(
                "Not a valid activity cursor: expected four non-negative integers \
                 joined by dots, as sent in a previous event's id."
                    .into(),
            )
        };
        let parts: Vec<i64> = s
            .split('.')
            .map(|p| {
                if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                p.parse::<i64>().ok()
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [mtx, mid, etx, eid] = parts[..] else {
            return Err(bad());
        };
        Ok(ActivityCursor {
            messages: Position { tx: mtx, id: mid },
            events: Position { tx: etx, id: eid },
        })
    }
}

/// One item of [`Store::subscribe_activity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Resume after this item with it.
    pub cursor: ActivityCursor,
    /// What happened.
    pub event: Event,
}

#[cfg(test)]
mod tests;
