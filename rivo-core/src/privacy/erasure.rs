//! Erasure: deleting everything of one client or one session, and scrubbing the audit log.

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::ids::{ClientId, SessionId};
use crate::store::{Store, dispatch};

/// What [`Store::erase_client`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientErasure {
    /// The erased client.
    pub client_id: ClientId,
    /// Linked chat sessions deleted.
    pub sessions: u64,
    /// Their messages.
    pub messages: u64,
    /// Stage history entries deleted.
    pub stage_changes: u64,
    /// Assignments deleted.
    pub assignments: u64,
    /// Earlier audit entries whose personal fields were replaced by `[erased]`.
    pub audit_entries_scrubbed: u64,
}

/// What [`Store::erase_session`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionErasure {
    /// The erased session.
    pub session_id: SessionId,
    /// Messages deleted.
    pub messages: u64,
    /// Client contexts whose link to the session was cleared.
    pub links_cleared: u64,
    /// Earlier audit entries whose personal fields were replaced by `[erased]`.
    pub audit_entries_scrubbed: u64,
}

/// The store's erasure operations.
impl Store {
    /// Erases one client: the client row, its context, stage history and assignments, and its
    /// linked conversations (the session its context names and every session row linked to
    /// it: the session rows and their messages), in one transaction. Earlier audit entries
    /// about the client, its context, stage changes, assignments and those sessions keep who
    /// did what when, but their descriptions and changes become `[erased]`. One new audit
    /// entry (`delete` of the client, `changes.erasure` with the counts) records the erasure,
    /// made by the store's actor, or by no one for a store without one.
    ///
    /// Not recoverable: messages deleted before, one by one, keep their audit previews (they
    /// name no session), see the README.
    pub async fn erase_client(&self, id: ClientId) -> Result<ClientErasure> {
        dispatch!(self.erase_client(id, self.actor.as_deref()))
    }

    /// Erases one chat session: its messages and session row, and the link of any client
    /// context to it, in one transaction, scrubbing earlier audit entries about the session
    /// and recording one erasure entry like [`Store::erase_client`]. An unknown session is
    /// [`Error::NotFound`].
    pub async fn erase_session(&self, session_id: SessionId) -> Result<SessionErasure> {
        dispatch!(self.erase_session(session_id, self.actor.as_deref()))
    }
}
