//! The wake-up hub of a store: the hints that something may have been written, and the one
//! `LISTEN` task of a PostgreSQL store that turns other servers' `NOTIFY`s into them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::WAKE_BUFFER;
use super::routes::{Mark, Routes};
use crate::chat::ChatMessage;
use crate::ids::SessionId;
use crate::store::Backend;

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
    pub(super) fn concerns_session(&self, session: SessionId) -> bool {
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
    pub(super) routes: Arc<Routes>,
    /// Database reads of session streams so far (to show the in-memory path in tests).
    pub(crate) session_reads: std::sync::atomic::AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(super) poll: Duration,
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

    pub(super) fn subscribe(&self, backend: &Backend) -> broadcast::Receiver<Wake> {
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
