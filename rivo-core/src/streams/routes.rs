//! The in-memory path of the session streams: each stream's bounded [`Slot`], and the
//! [`Routes`] that hand a committed batch's rows to the slots of their session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::{SLOT_BYTES, SLOT_DELIVERIES, Wake};
use crate::chat::ChatMessage;
use crate::ids::SessionId;

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
pub(super) struct Delivery {
    pub(super) prev: Option<i64>,
    pub(super) next: i64,
    pub(super) messages: Vec<ChatMessage>,
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
    pub(super) notify: tokio::sync::Notify,
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
    pub(super) fn take(&self) -> (VecDeque<Arc<Delivery>>, bool) {
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
    pub(super) slots: Mutex<HashMap<SessionId, Vec<Arc<Slot>>>>,
    pub(super) origin: String,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            origin: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

impl Routes {
    pub(super) fn register(&self, session: SessionId) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        if let Ok(mut slots) = self.slots.lock() {
            slots.entry(session).or_default().push(slot.clone());
        }
        slot
    }

    pub(super) fn unregister(&self, session: SessionId, slot: &Arc<Slot>) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(list) = slots.get_mut(&session)
        {
            list.retain(|s| !Arc::ptr_eq(s, slot));
            if list.is_empty() {
                slots.remove(&session);
            }
        }
    }

    pub(super) fn deliver(&self, messages: &[ChatMessage], marks: &[Mark]) {
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
