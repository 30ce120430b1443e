//! [`Store::subscribe_session`] and [`Store::subscribe_activity`]: the streams themselves, and
//! the reads they make.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::broadcast;

use super::{Activity, ActivityCursor, PAGE, Slot, Wake};
use crate::chat::ChatMessage;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ids::{MessageId, SessionId};
use crate::store::Store;

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
    /// The session's [`Mark`](super::Mark) token that `last` stands at, when known: a
    /// hand-over whose `prev` equals it follows on without a gap.
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

    /// The session's [`Mark`](super::Mark) token now (`None`: no session row yet, or no messages).
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
