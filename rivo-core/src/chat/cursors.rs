//! Keyset paging: the cursors of a session's history and of the session list, and the pages
//! they mark.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{ChatMessage, SessionSummary};
use crate::error::Rule;
use crate::ids::{MessageId, SessionId};
use crate::query::Page;

/// The one error of every malformed cursor.
fn invalid_cursor() -> Rule {
    Rule::Other("Invalid cursor.".to_owned())
}

/// A cursor's string form, `<microseconds since the epoch>.<id>`: the instant and the id part
/// (parsed by the caller).
fn split_cursor(s: &str) -> Result<(DateTime<Utc>, &str), Rule> {
    let (micros, id) = s.split_once('.').ok_or_else(invalid_cursor)?;
    let micros: i64 = micros.parse().map_err(|_| invalid_cursor())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid_cursor)?;
    Ok((at, id))
}

/// Position in a session's history, for reading long sessions page by page (keyset on
/// `(sent_at, id)`). Its string form is opaque and URL-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    /// `sent_at` of the last message already read.
    pub sent_at: DateTime<Utc>,
    /// `id` of the last message already read.
    pub id: MessageId,
}

impl HistoryCursor {
    /// The cursor just after `message`.
    pub fn after(message: &ChatMessage) -> Self {
        Self {
            sent_at: message.sent_at,
            id: message.id,
        }
    }
}

impl fmt::Display for HistoryCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.sent_at.timestamp_micros(), self.id)
    }
}

impl FromStr for HistoryCursor {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        let (sent_at, id) = split_cursor(s)?;
        let id: i64 = id.parse().map_err(|_| invalid_cursor())?;
        Ok(Self {
            sent_at,
            id: MessageId(id),
        })
    }
}

/// Position in the session list (most recently active first), for keyset paging: the list
/// continues after this session. Its string form is opaque and URL-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// `last_sent_at` of the last session already read.
    pub last_sent_at: DateTime<Utc>,
    /// The last session already read.
    pub session_id: SessionId,
}

impl SessionCursor {
    /// The cursor just after `session`.
    pub fn after(session: &SessionSummary) -> Self {
        Self {
            last_sent_at: session.last_sent_at,
            session_id: session.session_id,
        }
    }
}

impl fmt::Display for SessionCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            self.last_sent_at.timestamp_micros(),
            self.session_id.0.simple()
        )
    }
}

impl FromStr for SessionCursor {
    type Err = Rule;

    fn from_str(s: &str) -> Result<Self, Rule> {
        let (last_sent_at, id) = split_cursor(s)?;
        let session = uuid::Uuid::try_parse(id).map_err(|_| invalid_cursor())?;
        Ok(Self {
            last_sent_at,
            session_id: SessionId(session),
        })
    }
}

/// One page of a keyset-paged list and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysetPage<T, C> {
    /// This page's rows, with the total and whether it is an estimate.
    pub page: Page<T>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<C>,
}

impl<T, C> KeysetPage<T, C> {
    /// `page`, with the cursor after its last row when there is a next page.
    pub(crate) fn new(page: Page<T>, cursor_after: impl FnOnce(&T) -> C) -> Self {
        let next = if page.has_next {
            page.items.last().map(cursor_after)
        } else {
            None
        };
        Self { page, next }
    }
}

/// One page of a session's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages of this page, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Where the next page starts, if there are more messages.
    pub next: Option<HistoryCursor>,
}
