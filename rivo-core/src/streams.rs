//! Live subscriptions: a [`Stream`] of a session's new messages
//! ([`Store::subscribe_session`]) and a [`Stream`] of all activity ([`Store::subscribe_activity`]:
//! new messages on every session and the client events of [`crate::events`]).
//!
//! **The database is the source of truth.** A stream keeps the position of the last item it
//! gave and reads the rows after it. A wake-up only says "look": on SQLite an in-process
//! broadcast after each commit, on PostgreSQL a `NOTIFY` sent inside the writing transaction
//! (at most one per group-commit batch or client change), received by **one** `LISTEN`
//! connection per [`Store`] shared by all of its subscribers (taken from the pool when the first
//! stream starts; it reconnects when it drops and every stream re-reads then). Streams also look
//! every [`StoreOptions::subscription_poll`](crate::StoreOptions::subscription_poll), so a lost
//! wake-up delays an item but never loses it — this is also how streams work behind a
//! transaction-mode pooler, which cannot carry `LISTEN`.
//!
//! **Bounded memory.** Wake-ups go through one shared ring of [`WAKE_BUFFER`] entries; a
//! subscriber that falls further behind loses its place in the ring and simply re-reads from the
//! database. A stream holds at most one page ([`PAGE`] rows) of items it has read and not yet
//! given; it reads the next page only when that one is consumed. Nothing queues without bound.
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

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::broadcast;

use crate::chat::ChatMessage;
use crate::error::{Error, Result, Rule};
use crate::events::Event;
use crate::ids::{MessageId, SessionId};
use crate::store::{Backend, Store};

/// Most rows a stream reads at once (and so holds, read but not yet given).
pub const PAGE: i64 = 100;

/// Wake-ups a subscriber may fall behind before it loses its place and re-reads instead.
pub const WAKE_BUFFER: usize = 256;

/// The PostgreSQL `NOTIFY` channel of wake-ups.
pub(crate) const CHANNEL: &str = "rivo_events";

/// A hint that something may have been written (never the data itself).
#[derive(Debug, Clone)]
pub(crate) enum Wake {
    /// New messages in these sessions.
    Sessions(Arc<[SessionId]>),
    /// New messages, sessions unknown (a big batch).
    AllSessions,
    /// A client event.
    Activity,
    /// Anything (the listener reconnected): every stream re-reads.
    Everything,
}

impl Wake {
    /// Parses a `NOTIFY` payload: `m<uuid>,<uuid>…`, `m*` or `a`.
    pub(crate) fn from_payload(payload: &str) -> Wake {
        match payload.split_at_checked(1) {
            Some(("a", _)) => Wake::Activity,
            Some(("m", "*")) => Wake::AllSessions,
            Some(("m", list)) => {
                let sessions: Option<Vec<SessionId>> = list
                    .split(',')
                    .map(|s| s.parse::<SessionId>().ok())
                    .collect();
                sessions.map_or(Wake::AllSessions, |s| Wake::Sessions(s.into()))
            }
            _ => Wake::Everything,
        }
    }

    fn concerns_session(&self, session: SessionId) -> bool {
        match self {
            Wake::Sessions(list) => list.contains(&session),
            Wake::AllSessions | Wake::Everything => true,
            Wake::Activity => false,
        }
    }
}

/// The wake-up hub of a store (shared by its clones): the broadcast ring, and on PostgreSQL
/// the one listener task, started with the first subscriber.
pub(crate) struct Hub {
    sender: broadcast::Sender<Wake>,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    poll: Duration,
}

impl Hub {
    pub(crate) fn new(poll: Duration) -> Self {
        let (sender, _) = broadcast::channel(WAKE_BUFFER);
        Self {
            sender,
            listener: Mutex::new(None),
            poll: if poll.is_zero() {
                Duration::from_secs(2)
            } else {
                poll
            },
        }
    }

    /// The sender, for the writers of this process (SQLite's after-commit broadcast).
    pub(crate) fn sender(&self) -> broadcast::Sender<Wake> {
        self.sender.clone()
    }

    /// Wakes this process's subscribers (cheap when there are none).
    pub(crate) fn wake(&self, wake: Wake) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(wake);
        }
    }

    fn subscribe(&self, backend: &Backend) -> broadcast::Receiver<Wake> {
        let receiver = self.sender.subscribe();
        if let Backend::Postgres(pg) = backend
            && let Ok(mut listener) = self.listener.lock()
            && listener.as_ref().is_none_or(|task| task.is_finished())
        {
            *listener = pg.spawn_listener(self.sender.clone());
        }
        receiver
    }

    /// Stops the listener (before the pool closes: it holds one of its connections).
    pub(crate) fn stop(&self) {
        if let Ok(mut listener) = self.listener.lock()
            && let Some(task) = listener.take()
        {
            task.abort();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

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

/// Waits for a wake-up that `concerns` this stream, or the poll interval, whichever is first.
/// A subscriber that fell behind the ring (lagged) just looks.
async fn wait(
    receiver: &mut broadcast::Receiver<Wake>,
    poll: Duration,
    concerns: impl Fn(&Wake) -> bool,
) {
    let deadline = tokio::time::sleep(poll);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            received = receiver.recv() => match received {
                Ok(wake) if concerns(&wake) => return,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    (&mut deadline).await;
                    return;
                }
            },
            () = &mut deadline => return,
        }
    }
}

struct SessionState {
    store: Store,
    session: SessionId,
    last: i64,
    buffer: VecDeque<ChatMessage>,
    receiver: broadcast::Receiver<Wake>,
    /// Whether the last read found nothing (then wait before reading again).
    idle: bool,
}

struct ActivityState {
    store: Store,
    cursor: ActivityCursor,
    buffer: VecDeque<Activity>,
    receiver: broadcast::Receiver<Wake>,
    idle: bool,
}

impl Store {
    /// The messages of `session` stored after `after`, in id order, as they are stored: a
    /// stream that never ends by itself (drop it to stop). `after = None` starts with the
    /// messages stored from now on; `Some(id)` resumes right after message `id` (whatever
    /// session it was in), so a reconnect gets exactly what it missed.
    ///
    /// A database error is given as an `Err` item; the stream then waits one poll interval and
    /// goes on from the same place. See the [module documentation](crate::streams) for how it
    /// is woken and why it never skips a message. Fails at once only when `None` is given and
    /// the session's newest message cannot be read.
    pub async fn subscribe_session(
        &self,
        session: SessionId,
        after: Option<MessageId>,
    ) -> Result<impl Stream<Item = Result<ChatMessage>> + Send + 'static> {
        let receiver = self.streams.subscribe(&self.backend);
        let last = match after {
            Some(id) => id.0,
            None => self.session_head(session).await?,
        };
        let state = SessionState {
            store: self.clone(),
            session,
            last,
            buffer: VecDeque::new(),
            receiver,
            idle: false,
        };
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(message) = st.buffer.pop_front() {
                    st.last = message.id.0;
                    return Some((Ok(message), st));
                }
                if st.idle {
                    let session = st.session;
                    wait(&mut st.receiver, st.store.streams.poll, |w| {
                        w.concerns_session(session)
                    })
                    .await;
                }
                match st.store.session_messages_after(st.session, st.last).await {
                    Ok(messages) => {
                        st.idle = messages.is_empty();
                        st.buffer.extend(messages);
                    }
                    Err(e) => {
                        st.idle = true;
                        return Some((Err(e), st));
                    }
                }
            }
        }))
    }

    /// Everything that happens on this store after `after`: new messages on every session
    /// ([`Event::MessageCreated`]) and client events ([`Event::ClientCreated`],
    /// [`Event::ClientStageChanged`], [`Event::ClientAssigned`]), each with the cursor to resume
    /// after it. `None` starts from now. Each log is given in its own commit order; the two are
    /// interleaved as they are read. Errors are items, as in [`Store::subscribe_session`].
    ///
    /// Fails at once only when `None` is given and the database cannot say where "now" is.
    pub async fn subscribe_activity(
        &self,
        after: Option<ActivityCursor>,
    ) -> Result<impl Stream<Item = Result<Activity>> + Send + 'static> {
        let receiver = self.streams.subscribe(&self.backend);
        let cursor = match after {
            Some(cursor) => cursor,
            None => self.activity_head().await?,
        };
        let state = ActivityState {
            store: self.clone(),
            cursor,
            buffer: VecDeque::new(),
            receiver,
            idle: false,
        };
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.buffer.pop_front() {
                    return Some((Ok(item), st));
                }
                if st.idle {
                    wait(&mut st.receiver, st.store.streams.poll, |_| true).await;
                }
                match st.store.activity_after(st.cursor).await {
                    Ok(items) => {
                        st.idle = items.is_empty();
                        if let Some(last) = items.last() {
                            st.cursor = last.cursor;
                        }
                        st.buffer.extend(items);
                    }
                    Err(e) => {
                        st.idle = true;
                        return Some((Err(e), st));
                    }
                }
            }
        }))
    }

    /// The newest message id of `session` (0 when it has none).
    async fn session_head(&self, session: SessionId) -> Result<i64> {
        crate::store::dispatch!(self.session_head(session))
    }

    async fn session_messages_after(
        &self,
        session: SessionId,
        after: i64,
    ) -> Result<Vec<ChatMessage>> {
        crate::store::dispatch!(self.session_messages_after(session, after, PAGE))
    }

    /// Where "now" is in both logs.
    async fn activity_head(&self) -> Result<ActivityCursor> {
        crate::store::dispatch!(self.activity_head())
    }

    /// The next page of both logs after `cursor`, each item carrying the cursor after it.
    async fn activity_after(&self, cursor: ActivityCursor) -> Result<Vec<Activity>> {
        let (messages, events) = crate::store::dispatch!(self.activity_after(cursor, PAGE))?;
        let mut at = cursor;
        let mut items = Vec::with_capacity(messages.len() + events.len());
        for (position, message) in messages {
            at.messages = position;
            items.push(Activity {
                cursor: at,
                event: Event::MessageCreated(message),
            });
        }
        for (position, payload) in events {
            at.events = position;
            let event: Event = serde_json::from_str(&payload).map_err(|e| {
                Error::Internal(format!("activity event {} unreadable: {e}", position.id))
            })?;
            items.push(Activity { cursor: at, event });
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = ActivityCursor {
            messages: Position { tx: 7, id: 153 },
            events: Position { tx: 0, id: 9 },
        };
        assert_eq!(cursor.to_string(), "7.153.0.9");
        assert_eq!("7.153.0.9".parse::<ActivityCursor>(), Ok(cursor));
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "-1.2.3.4",
            "a.b.c.d",
            "1..3.4",
            "99999999999999999999.0.0.0",
        ] {
            assert!(bad.parse::<ActivityCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn payloads_parse_to_wakes() {
        let s = SessionId::new_random();
        let wake = Wake::from_payload(&format!("m{s}"));
        assert!(wake.concerns_session(s));
        assert!(!wake.concerns_session(SessionId::new_random()));
        assert!(matches!(Wake::from_payload("m*"), Wake::AllSessions));
        assert!(matches!(Wake::from_payload("a"), Wake::Activity));
        assert!(matches!(
            Wake::from_payload("mnot-a-uuid"),
            Wake::AllSessions
        ));
        assert!(matches!(Wake::from_payload(""), Wake::Everything));
    }
}
