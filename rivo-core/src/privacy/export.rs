//! Export: typed copies of one client's or one session's data, and their transcripts.

use std::fmt::Write as _;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, SessionSummary};
use crate::clients::{AssignmentFilter, ClientContext, HistorySort, StageChangeFilter};
use crate::error::{Error, Result, Rule};
use crate::ids::{ClientId, SessionId};
use crate::query::{Page, PageRequest, Sort};
use crate::store::{Store, dispatch};
use crate::{Assignment, Client, StageChange};

/// The version of the export format, written into every export.
pub const EXPORT_FORMAT: u32 = 1;

/// One chat session and its whole conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionExport {
    /// [`EXPORT_FORMAT`].
    pub format: u32,
    /// The session row.
    pub session: SessionSummary,
    /// Every message, oldest first.
    pub messages: Vec<ChatMessage>,
}

/// Everything stored about one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientExport {
    /// [`EXPORT_FORMAT`].
    pub format: u32,
    /// The client.
    pub client: Client,
    /// Its context.
    pub context: ClientContext,
    /// Its stage history, oldest first.
    pub stage_history: Vec<StageChange>,
    /// Its assignments, oldest first.
    pub assignments: Vec<Assignment>,
    /// Its linked conversations (the context's session and every session row linked to the
    /// client), by session id.
    pub sessions: Vec<SessionExport>,
}

/// A transcript format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// `[time] sender: text`, one message per line; further lines of a message are indented.
    Text,
    /// RFC 4180 CSV with a header: `session_id,message_id,sent_at,sender_type,message`.
    Csv,
}

impl std::str::FromStr for TranscriptFormat {
    type Err = Rule;
    fn from_str(s: &str) -> std::result::Result<Self, Rule> {
        match s {
            "text" | "txt" => Ok(TranscriptFormat::Text),
            "csv" => Ok(TranscriptFormat::Csv),
            other => Err(Rule::InvalidChoice {
                value: other.to_owned(),
            }),
        }
    }
}

/// One CSV field, quoted when it holds a comma, a quote, a CR or an LF (quotes doubled).
pub(super) fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

const CSV_HEADER: &str = "session_id,message_id,sent_at,sender_type,message\r\n";

/// A transcript of `sessions` in `format`.
pub fn transcript(sessions: &[SessionExport], format: TranscriptFormat) -> String {
    let mut out = String::new();
    match format {
        TranscriptFormat::Csv => {
            out.push_str(CSV_HEADER);
            for m in sessions.iter().flat_map(|s| &s.messages) {
                let _ = write!(
                    out,
                    "{},{},{},{},",
                    m.session_id,
                    m.id,
                    m.sent_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    m.sender_type
                );
                csv_field(&mut out, &m.message);
                out.push_str("\r\n");
            }
        }
        TranscriptFormat::Text => {
            for (i, s) in sessions.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "Session {}", s.session.session_id);
                for m in &s.messages {
                    let at = m.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    let mut lines = m.message.lines();
                    let first = lines.next().unwrap_or_default();
                    let _ = writeln!(out, "[{at}] {}: {first}", m.sender_type);
                    for line in lines {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
    }
    out
}

impl SessionExport {
    /// The transcript of this session.
    pub fn transcript(&self, format: TranscriptFormat) -> String {
        transcript(std::slice::from_ref(self), format)
    }
}

impl ClientExport {
    /// The transcript of every linked session.
    pub fn transcript(&self, format: TranscriptFormat) -> String {
        transcript(&self.sessions, format)
    }
}

/// Every item of a list, read a page of [`PageRequest::MAX_LIMIT`] at a time until the last.
async fn every_page<T, F, Fut>(mut read: F) -> Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut items = Vec::new();
    for page in 1.. {
        let found = read(PageRequest::page(page, PageRequest::MAX_LIMIT)).await?;
        items.extend(found.items);
        if !found.has_next {
            break;
        }
    }
    Ok(items)
}

/// The store's export operations.
impl Store {
    /// One session and its whole conversation. An unknown session is [`Error::NotFound`].
    pub async fn export_session(&self, session_id: SessionId) -> Result<SessionExport> {
        let session = dispatch!(self.session_row(session_id))?.ok_or(Error::NotFound {
            entity: "chat session",
        })?;
        let messages = self.history(session_id).await?;
        Ok(SessionExport {
            format: EXPORT_FORMAT,
            session,
            messages,
        })
    }

    /// Everything stored about one client: the row, context, stage history, assignments and
    /// linked conversations.
    pub async fn export_client(&self, id: ClientId) -> Result<ClientExport> {
        let client = self.client(id).await?;
        let context = self.context(id).await?;
        let oldest_first = Sort {
            field: HistorySort::CreatedAt,
            descending: false,
        };
        let stages = StageChangeFilter {
            client_id: Some(id),
            ..Default::default()
        };
        let stage_history =
            every_page(|page| self.list_stage_changes(&stages, oldest_first, page)).await?;
        let assigned = AssignmentFilter {
            client_id: Some(id),
            ..Default::default()
        };
        let assignments =
            every_page(|page| self.list_assignments(&assigned, oldest_first, page)).await?;
        let mut sessions = Vec::new();
        for session in dispatch!(self.client_sessions(id, context.chat_session_id))? {
            let messages = self.history(session.session_id).await?;
            sessions.push(SessionExport {
                format: EXPORT_FORMAT,
                session,
                messages,
            });
        }
        Ok(ClientExport {
            format: EXPORT_FORMAT,
            client,
            context,
            stage_history,
            assignments,
            sessions,
        })
    }
}
