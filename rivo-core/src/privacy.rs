//! Personal data: chat retention, erasure of one person's data, export of a copy, and finding
//! conversations that mention an email or a phone number.
//!
//! - **Retention** ([`Store::run_retention`]) deletes sessions whose last message is older than
//!   a limit, with their messages, in bounded batches (one short transaction each), once
//!   across several servers (a lease row), audited as one summary entry per run. Clients are
//!   kept; their context's link to a deleted conversation (`chat_session_id`) is cleared, since
//!   it would point at nothing.
//! - **Erasure** ([`Store::erase_client`], [`Store::erase_session`]) deletes everything of one
//!   client or one session in one transaction and leaves one audit entry that says an erasure
//!   happened (ids and counts only). Earlier audit entries about the erased objects keep who
//!   did what and when, but their descriptions and recorded changes (which held names, emails,
//!   phones and context values) are replaced by `[erased]`.
//! - **Export** ([`Store::export_client`], [`Store::export_session`]) gives typed, serde
//!   (de)serialisable copies, and transcripts as plain text or CSV.
//! - **Finding** ([`Store::find_unlinked_messages`]) lists messages of sessions linked to no
//!   client that contain an email (case-insensitive) or a phone number (by its digits).

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, SessionSummary};
use crate::clients::{AssignmentFilter, ClientContext, HistorySort, StageChangeFilter};
use crate::error::{Error, Result, Rule};
use crate::ids::{ClientId, SessionId};
use crate::query::{PageRequest, Sort};
use crate::store::{Store, dispatch};
use crate::{Assignment, Client, StageChange};

/// The lease name of the retention job (one row of `maintenance_leases`).
pub(crate) const RETENTION_LEASE: &str = "chat_retention";

/// How long a running retention job's lease lasts between two batches; each batch renews it.
/// A server that dies mid-run leaves the job to another one after this long.
const RUN_LEASE: Duration = Duration::from_secs(300);

/// What [`Store::run_retention`] deletes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Sessions whose last message is older than this go, with their messages.
    pub max_age: Duration,
    /// Most sessions deleted per batch (one short transaction each), at least 1.
    pub batch_size: u32,
    /// After a run finishes, no other run (on any server) starts until this long after the
    /// run started: a schedule of several servers sets it to the schedule's interval, so that
    /// the job runs once per interval across all of them. Zero for a run by hand, which only
    /// excludes runs at the same time.
    pub hold_for: Duration,
}

impl RetentionPolicy {
    /// Sessions older than `max_age`, in batches of 500 sessions, excluding concurrent runs
    /// only.
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            batch_size: 500,
            hold_for: Duration::ZERO,
        }
    }
}

/// One batch of a retention run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionBatch {
    /// Sessions deleted (at most the policy's batch size).
    pub sessions: u64,
    /// Their messages.
    pub messages: u64,
}

/// What one [`Store::run_retention`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Whether this run ran: `false` when another run (of any server) held the lease.
    pub ran: bool,
    /// Sessions whose last message is before this went.
    pub cutoff: DateTime<Utc>,
    /// Sessions deleted.
    pub sessions: u64,
    /// Messages deleted.
    pub messages: u64,
    /// The batches, in order (empty when nothing was old enough).
    pub batches: Vec<RetentionBatch>,
}

/// What a retention run would delete now ([`Store::preview_retention`], a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPreview {
    /// Sessions whose last message is before this would go.
    pub cutoff: DateTime<Utc>,
    /// Sessions that would go.
    pub sessions: u64,
    /// Their messages.
    pub messages: u64,
}

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
fn csv_field(out: &mut String, field: &str) {
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

/// A value to look for in messages of sessions linked to no client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalDataQuery {
    /// Messages containing this email, case-insensitively.
    Email(String),
    /// Messages containing this phone number: compared by its digits, with spaces, dashes,
    /// dots, parentheses and `+` ignored on both sides (`+1 (555) 010-9999` finds
    /// `15550109999` and `1-555-010-9999`). At least 6 digits.
    Phone(String),
}

/// The shortest phone number [`PersonalDataQuery::Phone`] accepts, in digits.
pub const MIN_PHONE_DIGITS: usize = 6;

impl PersonalDataQuery {
    /// The validated text to search for: the trimmed email, or the phone's digits.
    pub(crate) fn needle(&self) -> Result<String> {
        match self {
            PersonalDataQuery::Email(email) => {
                let email = email.trim();
                if email.is_empty() {
                    return Err(Error::invalid("email", Rule::Blank));
                }
                if email.contains('\0') {
                    return Err(Error::invalid("email", Rule::NullCharacter));
                }
                if email.chars().count() > 254 {
                    return Err(Error::invalid("email", Rule::TooLong { max: 254 }));
                }
                if !email.contains('@') {
                    return Err(Error::invalid("email", Rule::InvalidEmail));
                }
                Ok(email.to_owned())
            }
            PersonalDataQuery::Phone(phone) => {
                if phone.chars().count() > 40 {
                    return Err(Error::invalid("phone", Rule::TooLong { max: 40 }));
                }
                if phone
                    .chars()
                    .any(|c| !(c.is_ascii_digit() || " -().+".contains(c)))
                {
                    return Err(Error::invalid(
                        "phone",
                        Rule::Other(
                            "A phone number holds only digits, spaces, dashes, dots, \
                             parentheses and +."
                                .into(),
                        ),
                    ));
                }
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                if digits.len() < MIN_PHONE_DIGITS {
                    return Err(Error::invalid(
                        "phone",
                        Rule::TooShort {
                            min: MIN_PHONE_DIGITS,
                        },
                    ));
                }
                Ok(digits)
            }
        }
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The store's personal-data operations.
impl Store {
    /// Sessions whose last message is before `now - max_age`, with their messages, as a
    /// retention run would delete them now. Reads only.
    pub async fn preview_retention(&self, max_age: Duration) -> Result<RetentionPreview> {
        let cutoff = crate::store::now_micros() - chrono_duration(max_age);
        let (sessions, messages) = dispatch!(self.retention_preview(cutoff))?;
        Ok(RetentionPreview {
            cutoff,
            sessions,
            messages,
        })
    }

    /// Deletes the sessions whose last message is older than `policy.max_age`, with their
    /// messages, in batches of at most `policy.batch_size` sessions, each its own short
    /// transaction (so appends to other sessions never wait for long). Clients are kept; their
    /// context's `chat_session_id` is cleared where it named a deleted session.
    ///
    /// Runs once across every store on the database: it first takes the `chat_retention`
    /// lease (one row of `maintenance_leases`, taken with an atomic upsert, renewed by every
    /// batch), and answers `ran: false` at once when another run holds it. The lease then
    /// stays taken until `policy.hold_for` after the start (see [`RetentionPolicy::hold_for`]).
    /// Works through a transaction-mode pooler (it holds no session state) and on SQLite.
    ///
    /// A run that deleted something writes one audit entry (`delete` of object type
    /// `retention`, the cutoff as its id) with the counts and the cutoff, and no personal data.
    pub async fn run_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let started = crate::store::now_micros();
        let cutoff = started - chrono_duration(policy.max_age);
        let holder = uuid::Uuid::new_v4().to_string();
        let mut report = RetentionReport {
            ran: false,
            cutoff,
            sessions: 0,
            messages: 0,
            batches: Vec::new(),
        };
        let lease_until = |now: DateTime<Utc>| micros(now + chrono_duration(RUN_LEASE));
        let taken = dispatch!(self.take_lease(
            RETENTION_LEASE,
            &holder,
            micros(started),
            lease_until(started)
        ))?;
        if !taken {
            return Ok(report);
        }
        report.ran = true;
        let batch = i64::from(policy.batch_size.max(1));
        let result: Result<()> = async {
            loop {
                let (sessions, messages) = dispatch!(self.retention_batch(cutoff, batch))?;
                if sessions == 0 {
                    return Ok(());
                }
                report.sessions += sessions;
                report.messages += messages;
                report.batches.push(RetentionBatch { sessions, messages });
                if sessions < batch as u64 {
                    return Ok(());
                }
                let now = crate::store::now_micros();
                if !dispatch!(self.renew_lease(RETENTION_LEASE, &holder, lease_until(now)))? {
                    // Another server took over an expired lease: it finishes the job.
                    return Ok(());
                }
                tokio::task::yield_now().await;
            }
        }
        .await;
        let release_at = micros(started + chrono_duration(policy.hold_for))
            .max(micros(crate::store::now_micros()));
        let summary = (report.sessions > 0).then(|| {
            serde_json::json!({
                "cutoff": cutoff,
                "max_age_seconds": policy.max_age.as_secs(),
                "sessions": report.sessions,
                "messages": report.messages,
                "batches": report.batches.len(),
                "batch_size": policy.batch_size.max(1),
            })
        });
        let finished = dispatch!(self.finish_lease(
            RETENTION_LEASE,
            &holder,
            release_at,
            summary.map(|changes| (cutoff, changes)),
            self.actor.as_deref()
        ));
        result?;
        finished?;
        if report.sessions > 0 {
            tracing::info!(
                sessions = report.sessions,
                messages = report.messages,
                batches = report.batches.len(),
                "chat retention deleted old sessions"
            );
        }
        Ok(report)
    }

    /// Runs [`Store::run_retention`] now and then every `every`, forever (spawn it as a task
    /// and abort it on shutdown), holding the lease for `every` after each start so that
    /// several servers on one database run it once per interval between them. A failed run
    /// is logged and retried at the next tick.
    pub async fn run_retention_every(&self, policy: RetentionPolicy, every: Duration) {
        let every = every.max(Duration::from_millis(10));
        let policy = RetentionPolicy {
            // A little less than the interval, so this server's own next tick finds it free.
            hold_for: every.mul_f64(0.9),
            ..policy
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = self.run_retention(&policy).await {
                tracing::warn!(%err, "chat retention run failed");
            }
        }
    }

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
        let mut stage_history = Vec::new();
        let mut assignments = Vec::new();
        for page in 1.. {
            let found = self
                .list_stage_changes(
                    &StageChangeFilter {
                        client_id: Some(id),
                        ..Default::default()
                    },
                    oldest_first,
                    PageRequest::page(page, PageRequest::MAX_LIMIT),
                )
                .await?;
            stage_history.extend(found.items);
            if !found.has_next {
                break;
            }
        }
        for page in 1.. {
            let found = self
                .list_assignments(
                    &AssignmentFilter {
                        client_id: Some(id),
                        ..Default::default()
                    },
                    oldest_first,
                    PageRequest::page(page, PageRequest::MAX_LIMIT),
                )
                .await?;
            assignments.extend(found.items);
            if !found.has_next {
                break;
            }
        }
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

    /// Up to `limit` (1 to [`PageRequest::MAX_LIMIT`]) messages of sessions linked to no client
    /// that contain the email or phone number of `query`, newest first, so that an operator
    /// can export or erase those sessions. Bad input is [`Error::Validation`].
    pub async fn find_unlinked_messages(
        &self,
        query: &PersonalDataQuery,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        let needle = query.needle()?;
        let phone = matches!(query, PersonalDataQuery::Phone(_));
        let limit = i64::from(limit.clamp(1, PageRequest::MAX_LIMIT));
        dispatch!(self.find_unlinked_messages(&needle, phone, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut out = String::new();
        for f in ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", ""] {
            csv_field(&mut out, f);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"||"
        );
    }

    #[test]
    fn phone_queries_keep_digits_and_refuse_letters_and_short_numbers() {
        assert_eq!(
            PersonalDataQuery::Phone("+1 (555) 010-9999".into())
                .needle()
                .unwrap(),
            "15550109999"
        );
        assert!(PersonalDataQuery::Phone("12345".into()).needle().is_err());
        assert!(
            PersonalDataQuery::Phone("555-CALL-NOW".into())
                .needle()
                .is_err()
        );
        assert!(PersonalDataQuery::Email("nobody".into()).needle().is_err());
        assert!(PersonalDataQuery::Email("  ".into()).needle().is_err());
    }

    #[test]
    fn transcript_format_parses() {
        assert_eq!(
            "csv".parse::<TranscriptFormat>().unwrap(),
            TranscriptFormat::Csv
        );
        assert_eq!(
            "text".parse::<TranscriptFormat>().unwrap(),
            TranscriptFormat::Text
        );
        assert!("pdf".parse::<TranscriptFormat>().is_err());
    }
}
