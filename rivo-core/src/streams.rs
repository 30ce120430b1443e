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
    /// Parses a `NOTIFY` payload: `m<uuid>,<uuid>…`, `m*` or `a`, optionally followed by
    /// `@<origin>` (the sending process, see [`Hub::origin`]), returned apart.
    pub(crate) fn from_payload(payload: &str) -> (Wake, Option<&str>) {
        let (body, origin) = match payload.rsplit_once('@') {
            Some((body, origin)) => (body, Some(origin)),
            None => (payload, None),
        };
        let wake = match body.split_at_checked(1) {
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
        };
        (wake, origin)
    }

    #[cfg(test)]
    fn concerns_session(&self, session: SessionId) -> bool {
        match self {
            Wake::Sessions(list) => list.contains(&session),
            Wake::AllSessions | Wake::Everything => true,
            Wake::Activity => false,
        }
    }
}

/// The wake-up hub of a store (shared by its clones): the broadcast ring of the activity
/// streams, the per-session slots of the session streams ([`Routes`]), and on PostgreSQL the
/// one listener task, started with the first subscriber.
pub(crate) struct Hub {
    sender: broadcast::Sender<Wake>,
    routes: Arc<Routes>,
    /// Database reads of session streams so far (to show the in-memory path in tests).
    pub(crate) session_reads: std::sync::atomic::AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    poll: Duration,
}

impl Hub {
    pub(crate) fn new(poll: Duration) -> Self {
        let (sender, _) = broadcast::channel(WAKE_BUFFER);
        Self {
            sender,
            routes: Arc::new(Routes::default()),
            session_reads: std::sync::atomic::AtomicU64::new(0),
            listener: Mutex::new(None),
            poll: if poll.is_zero() {
                Duration::from_secs(2)
            } else {
                poll
            },
        }
    }

    /// This process's mark in its own `NOTIFY` payloads (its listener ignores them: their
    /// rows were handed over in memory by [`Hub::committed`]).
    pub(crate) fn origin(&self) -> &str {
        &self.routes.origin
    }

    /// Wakes this process's activity subscribers (cheap when there are none).
    pub(crate) fn wake(&self, wake: Wake) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(wake);
        }
    }

    /// A group-commit batch committed (called by the writer, in no particular order between
    /// writers): hands each session's rows to the session streams of this process that follow
    /// it, and wakes the activity streams. `messages` are in id order; `marks` say, per session
    /// of the batch, which session [`Mark`] the rows follow and which they leave.
    pub(crate) fn committed(&self, messages: &[ChatMessage], marks: &[Mark]) {
        if self.sender.receiver_count() > 0 {
            let mut sessions: Vec<SessionId> = marks.iter().map(|m| m.session).collect();
            sessions.sort_unstable();
            sessions.dedup();
            let _ = self.sender.send(Wake::Sessions(sessions.into()));
        }
        self.routes.deliver(messages, marks);
    }

    fn subscribe(&self, backend: &Backend) -> broadcast::Receiver<Wake> {
        let receiver = self.sender.subscribe();
        if let Backend::Postgres(pg) = backend
            && let Ok(mut listener) = self.listener.lock()
            && listener.as_ref().is_none_or(|task| task.is_finished())
        {
            *listener = pg.spawn_listener(self.sender.clone(), self.routes.clone());
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

/// Most deliveries a session stream's slot holds before it overflows.
pub const SLOT_DELIVERIES: usize = 64;

/// Most message bytes a session stream's slot holds before it overflows.
pub const SLOT_BYTES: usize = 256 * 1024;

/// Where a session's message log stands, as the writer of a batch saw it under the session's
/// lock: a token that changes with every batch that appends to the session (on PostgreSQL the
/// session row's `append_seq`, bumped by each batch; on SQLite the id of the session's newest
/// message). A batch's rows of one session follow `prev` and leave `next`; a stream whose own
/// token equals `prev` has every earlier row, so it may take the rows without a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) session: SessionId,
    /// The session's token before the batch; `None` when the writer does not know it (then
    /// every stream of the session reads the database instead).
    pub(crate) prev: Option<i64>,
    /// The session's token after the batch.
    pub(crate) next: i64,
}

/// One batch's rows of one session, shared by every stream of the session.
#[derive(Debug)]
struct Delivery {
    prev: Option<i64>,
    next: i64,
    messages: Vec<ChatMessage>,
}

/// What a session stream has been handed and not yet taken.
#[derive(Debug, Default)]
struct SlotState {
    deliveries: VecDeque<Arc<Delivery>>,
    bytes: usize,
    /// Read the database before taking anything: a wake-up from another server, or the slot
    /// overflowed (its deliveries were dropped).
    look: bool,
}

/// A session stream's mailbox: bounded ([`SLOT_DELIVERIES`], [`SLOT_BYTES`]); on overflow it
/// drops what it holds and says "look" instead, so a slow stream costs at most that much memory
/// and then reads the database. Many hand-overs before the stream runs cost one wake-up.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    notify: tokio::sync::Notify,
}

impl Slot {
    fn push(&self, delivery: &Arc<Delivery>, bytes: usize) {
        if let Ok(mut st) = self.state.lock() {
            if st.look {
                // Will read anyway: holding rows would only cost memory.
            } else if st.deliveries.len() >= SLOT_DELIVERIES || st.bytes + bytes > SLOT_BYTES {
                st.deliveries.clear();
                st.bytes = 0;
                st.look = true;
            } else {
                st.deliveries.push_back(delivery.clone());
                st.bytes += bytes;
            }
        }
        self.notify.notify_one();
    }

    fn look(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.deliveries.clear();
            st.bytes = 0;
            st.look = true;
        }
        self.notify.notify_one();
    }

    /// Everything held, and whether to read the database.
    fn take(&self) -> (VecDeque<Arc<Delivery>>, bool) {
        match self.state.lock() {
            Ok(mut st) => {
                st.bytes = 0;
                (
                    std::mem::take(&mut st.deliveries),
                    std::mem::take(&mut st.look),
                )
            }
            Err(_) => (VecDeque::new(), true),
        }
    }
}

/// The session streams of this process, by session.
pub(crate) struct Routes {
    slots: Mutex<std::collections::HashMap<SessionId, Vec<Arc<Slot>>>>,
    origin: String,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            slots: Mutex::new(std::collections::HashMap::new()),
            origin: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

impl Routes {
    fn register(&self, session: SessionId) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        if let Ok(mut slots) = self.slots.lock() {
            slots.entry(session).or_default().push(slot.clone());
        }
        slot
    }

    fn unregister(&self, session: SessionId, slot: &Arc<Slot>) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(list) = slots.get_mut(&session)
        {
            list.retain(|s| !Arc::ptr_eq(s, slot));
            if list.is_empty() {
                slots.remove(&session);
            }
        }
    }

    fn deliver(&self, messages: &[ChatMessage], marks: &[Mark]) {
        let Ok(slots) = self.slots.lock() else {
            return;
        };
        if slots.is_empty() {
            return;
        }
        for mark in marks {
            let Some(list) = slots.get(&mark.session) else {
                continue;
            };
            let mine: Vec<ChatMessage> = messages
                .iter()
                .filter(|m| m.session_id == mark.session)
                .cloned()
                .collect();
            let bytes = mine.iter().map(|m| m.message.len() + 64).sum();
            let delivery = Arc::new(Delivery {
                prev: mark.prev,
                next: mark.next,
                messages: mine,
            });
            for slot in list {
                slot.push(&delivery, bytes);
            }
        }
    }

    /// A wake-up from another server (or the listener reconnected): the streams it concerns
    /// read the database.
    pub(crate) fn look(&self, wake: &Wake) {
        let Ok(slots) = self.slots.lock() else {
            return;
        };
        match wake {
            Wake::Sessions(list) => {
                for session in list.iter() {
                    for slot in slots.get(session).into_iter().flatten() {
                        slot.look();
                    }
                }
            }
            Wake::AllSessions | Wake::Everything => {
                for slot in slots.values().flatten() {
                    slot.look();
                }
            }
            Wake::Activity => {}
        }
    }

    /// Whether a `NOTIFY` payload's origin is this process.
    pub(crate) fn is_own(&self, origin: Option<&str>) -> bool {
        origin == Some(self.origin.as_str())
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
    /// The newest id given or held in `buffer`.
    last: i64,
    /// The session's [`Mark`] token that `last` stands at, when known: a hand-over whose
    /// `prev` equals it follows on without a gap.
    token: Option<i64>,
    buffer: VecDeque<ChatMessage>,
    slot: Arc<Slot>,
    /// Read the database before waiting again.
    read: bool,
    /// The last read failed: wait one poll interval before the next.
    failed: bool,
}

impl Drop for SessionState {
    fn drop(&mut self) {
        self.store
            .streams
            .routes
            .unregister(self.session, &self.slot);
    }
}

impl SessionState {
    /// Takes what the slot holds: rows that follow on from `token` go to the buffer; a gap,
    /// an overflow or a wake-up from elsewhere sets `read`.
    fn take_slot(&mut self) {
        let (deliveries, look) = self.slot.take();
        if look {
            self.read = true;
        }
        if self.read {
            return;
        }
        for delivery in deliveries {
            let last = self.last;
            let mut fresh = delivery
                .messages
                .iter()
                .filter(|m| m.id.0 > last)
                .peekable();
            if delivery.prev.is_some() && delivery.prev == self.token {
                // Follows on from what the stream has: take it (rows it already read from
                // the database are skipped by id).
                self.buffer.extend(fresh.cloned());
                if let Some(m) = self.buffer.back() {
                    self.last = self.last.max(m.id.0);
                }
                self.token = Some(delivery.next);
            } else if fresh.peek().is_some() {
                // Something may lie between: the database says what.
                self.read = true;
                return;
            }
            // Otherwise nothing new: already read from the database, or older than the start.
        }
    }
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
        // Listen first, then read where to start: nothing committed in between is missed.
        let _ = self.streams.subscribe(&self.backend);
        let slot = self.streams.routes.register(session);
        let state = SessionState {
            store: self.clone(),
            session,
            last: 0,
            token: None,
            buffer: VecDeque::new(),
            slot,
            read: true,
            failed: false,
        };
        let mut state = state;
        state.last = match after {
            Some(id) => id.0,
            None => self.session_head(session).await?,
        };
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(message) = st.buffer.pop_front() {
                    return Some((Ok(message), st));
                }
                st.take_slot();
                if !st.buffer.is_empty() {
                    continue;
                }
                if !st.read {
                    // Nothing to give: wait for a hand-over, a wake-up or the poll interval.
                    let poll = st.store.streams.poll;
                    if tokio::time::timeout(poll, st.slot.notify.notified())
                        .await
                        .is_err()
                    {
                        st.read = true;
                    }
                    continue;
                }
                if std::mem::take(&mut st.failed) {
                    tokio::time::sleep(st.store.streams.poll).await;
                }
                st.store
                    .streams
                    .session_reads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The token first: rows read after it are at least as new, so a hand-over that
                // follows it may repeat rows (skipped by id) but never hides one.
                let token = match st.store.session_token(st.session).await {
                    Ok(token) => token,
                    Err(e) => {
                        st.failed = true;
                        return Some((Err(e), st));
                    }
                };
                match st.store.session_messages_after(st.session, st.last).await {
                    Ok(messages) => {
                        let full = messages.len() as i64 >= PAGE;
                        st.read = full;
                        st.token = if full { None } else { token };
                        if let Some(m) = messages.last() {
                            st.last = m.id.0;
                        }
                        st.buffer.extend(messages);
                    }
                    Err(e) => {
                        st.failed = true;
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

    /// The session's [`Mark`] token now (`None`: no session row yet, or no messages).
    async fn session_token(&self, session: SessionId) -> Result<Option<i64>> {
        crate::store::dispatch!(self.session_token(session))
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
        let payload = format!("m{s}");
        let (wake, origin) = Wake::from_payload(&payload);
        assert!(wake.concerns_session(s));
        assert!(!wake.concerns_session(SessionId::new_random()));
        assert_eq!(origin, None);
        let payload = format!("m{s}@0123abcd");
        let (wake, origin) = Wake::from_payload(&payload);
        assert!(wake.concerns_session(s));
        assert_eq!(origin, Some("0123abcd"));
        assert!(matches!(Wake::from_payload("m*").0, Wake::AllSessions));
        assert!(matches!(Wake::from_payload("m*@x").0, Wake::AllSessions));
        assert!(matches!(Wake::from_payload("a").0, Wake::Activity));
        assert!(matches!(
            Wake::from_payload("mnot-a-uuid").0,
            Wake::AllSessions
        ));
        assert!(matches!(Wake::from_payload("").0, Wake::Everything));
    }

    fn message(id: i64, session: SessionId) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            session_id: session,
            message: format!("m{id}"),
            sender_type: crate::SenderType::Client,
            data_type: crate::chat::DataType::Message,
            sent_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_slot_hands_over_rows_only_where_they_follow_on() {
        let routes = Routes::default();
        let (s, other) = (SessionId::new_random(), SessionId::new_random());
        let slot = routes.register(s);
        let batch = [message(5, s), message(6, other), message(7, s)];
        let marks = [
            Mark {
                session: s,
                prev: Some(10),
                next: 12,
            },
            Mark {
                session: other,
                prev: Some(3),
                next: 4,
            },
        ];
        routes.deliver(&batch, &marks);
        let (held, look) = slot.take();
        assert!(!look);
        assert_eq!(held.len(), 1, "only the session's own delivery");
        assert_eq!(
            held[0].messages.iter().map(|m| m.id.0).collect::<Vec<_>>(),
            [5, 7]
        );
        assert_eq!((held[0].prev, held[0].next), (Some(10), 12));
        // A remote wake-up for the session: look, and drop what is held.
        routes.deliver(&batch, &marks);
        routes.look(&Wake::Sessions(vec![s].into()));
        let (held, look) = slot.take();
        assert!(look && held.is_empty());
        routes.unregister(s, &slot);
        assert!(routes.slots.lock().unwrap().is_empty());
    }

    #[test]
    fn a_full_slot_drops_its_rows_and_says_look() {
        let routes = Routes::default();
        let s = SessionId::new_random();
        let slot = routes.register(s);
        for i in 0..=SLOT_DELIVERIES as i64 {
            routes.deliver(
                &[message(i + 1, s)],
                &[Mark {
                    session: s,
                    prev: Some(i),
                    next: i + 1,
                }],
            );
        }
        let (held, look) = slot.take();
        assert!(look, "one more than the slot holds: overflow");
        assert!(held.is_empty(), "nothing kept once it overflowed");
        // Bytes bound too: one big delivery overflows at once.
        let mut big = message(100, s);
        big.message = "x".repeat(SLOT_BYTES);
        routes.deliver(
            &[big],
            &[Mark {
                session: s,
                prev: Some(99),
                next: 100,
            }],
        );
        let (held, look) = slot.take();
        assert!(look && held.is_empty());
    }

    #[test]
    fn own_notifications_are_recognised() {
        let routes = Routes::default();
        let payload = format!("m*@{}", routes.origin);
        let (_, origin) = Wake::from_payload(&payload);
        assert!(routes.is_own(origin));
        assert!(!routes.is_own(Some("someone-else")));
        assert!(!routes.is_own(None));
    }
}
