//! What happens in a store, as live streams and webhooks report it.
//!
//! An [`Event`] is recorded in the same transaction as the change it reports, so a reported
//! event always happened and a committed change is always reported. The same shape (serde,
//! `{"type": "client.created", "data": {…}}`) is the body of a webhook delivery and the payload
//! of the admin activity stream.
//!
//! ```
//! use rivo_core::events::{Event, EventKind};
//! assert_eq!(EventKind::ClientStageChanged.as_str(), "client.stage_changed");
//! assert_eq!("message.created".parse::<EventKind>(), Ok(EventKind::MessageCreated));
//! assert_eq!(EventKind::ALL.len(), 4);
//! # let _ = |e: &Event| e.kind();
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::clients::{Assignment, Client, StageChange};
use crate::ids::SessionId;

/// The kinds of [`Event`], by their wire names (`message.created`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A chat message was stored (either sender).
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A client (lead) was created.
    #[serde(rename = "client.created")]
    ClientCreated,
    /// A client moved to another stage.
    #[serde(rename = "client.stage_changed")]
    ClientStageChanged,
    /// A client was assigned to a support user.
    #[serde(rename = "client.assigned")]
    ClientAssigned,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 4] = [
        EventKind::MessageCreated,
        EventKind::ClientCreated,
        EventKind::ClientStageChanged,
        EventKind::ClientAssigned,
    ];

    /// The wire name, e.g. `client.assigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::ClientCreated => "client.created",
            EventKind::ClientStageChanged => "client.stage_changed",
            EventKind::ClientAssigned => "client.assigned",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`EventKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not an event type (message.created, client.created, client.stage_changed, client.assigned)"
)]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// A client that was just created, with the conversation it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCreated {
    /// The new client as stored.
    pub client: Client,
    /// The chat session the lead came from, if any.
    pub chat_session_id: Option<SessionId>,
}

/// Something that happened, reported by streams and webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// A chat message was stored.
    #[serde(rename = "message.created")]
    MessageCreated(ChatMessage),
    /// A client was created.
    #[serde(rename = "client.created")]
    ClientCreated(ClientCreated),
    /// A client moved to another stage (the new stage history entry).
    #[serde(rename = "client.stage_changed")]
    ClientStageChanged(StageChange),
    /// A client was assigned (the new active assignment).
    #[serde(rename = "client.assigned")]
    ClientAssigned(Assignment),
}

impl Event {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::MessageCreated(_) => EventKind::MessageCreated,
            Event::ClientCreated(_) => EventKind::ClientCreated,
            Event::ClientStageChanged(_) => EventKind::ClientStageChanged,
            Event::ClientAssigned(_) => EventKind::ClientAssigned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name_and_serde() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, serde_json::Value::String(kind.as_str().into()));
        }
        assert!("message.deleted".parse::<EventKind>().is_err());
    }
}
