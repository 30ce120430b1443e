//! AI summaries of a client's chat, off the request path.
//!
//! - **The queue.** One job row per client (`summary_jobs`). A request —
//!   [`Store::request_summary`] on demand, or a lead completing inside its capture transaction
//!   (the in-transaction enqueue of the store) — makes the row pending again. The job is written
//!   in the transaction of the change that asks for it, so it is never lost and never runs for a
//!   change that rolled back.
//! - **The worker** ([`Store::run_summary_worker`]) claims due jobs (PostgreSQL:
//!   `FOR UPDATE SKIP LOCKED` and a lease, so several servers share the work and a killed
//!   server's claims expire; SQLite: the single writer serialises claims), reads the client's
//!   linked conversation (`client_contexts.chat_session_id`, its latest messages, bounded),
//!   calls an OpenAI-compatible `POST {base_url}/chat/completions` (OpenAI, Azure OpenAI's v1
//!   API, Ollama, vLLM, llama.cpp's server), and stores the answer.
//! - **The answer** must be a JSON object (a Markdown ```` ```json ```` fence around it is
//!   stripped). It is merged into the client's context under the one key [`SUMMARY_KEY`], with
//!   `model` and `generated_at` added, in one transaction. Anything else — a timeout, an HTTP
//!   error, invalid JSON, a JSON value that is not an object, an answer too large — is recorded
//!   as the job's status and `last_error` (shown to admins), **never** written into the
//!   customer's context. Failures are retried with exponential backoff up to
//!   [`SummaryOptions::max_attempts`].
//! - **Disabled** when neither an API key nor a base URL is configured: jobs stay pending and
//!   [`SummaryJob::detail`] says why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ClientId;
use crate::names::names;
#[cfg(doc)]
use crate::store::Store;

/// The key of the client's context that holds the summary.
pub const SUMMARY_KEY: &str = "ai_summary";
/// Longest error text kept on a job, in characters.
pub const MAX_ERROR_LEN: usize = 500;
/// The OpenAI API, used when only a key is configured.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The default instructions sent to the model (the system message). The fields are the
/// original's: intent, loan details, financial info, preferences, sentiment, urgency, summary.
pub const DEFAULT_PROMPT: &str = "You read a conversation between a mortgage and loan \
website's chat assistant (Bot) and a visitor (Client), and write notes for the advisor who \
will call the visitor back. Answer with one JSON object and nothing else (no prose, no \
Markdown), with these keys:\n\
- \"intent\": what the visitor wants, in a few words (e.g. \"refinance\", \"first home \
purchase\");\n\
- \"loan_details\": an object with \"current_loan_amount\", \"monthly_payment\", \
\"interest_rate\" and \"property_value\";\n\
- \"financial_info\": an object with \"income\", \"debt_to_income\" and \
\"employment_status\";\n\
- \"preferences\": a list of what the visitor asked for or cares about;\n\
- \"sentiment\": \"positive\", \"neutral\" or \"negative\";\n\
- \"urgency\": \"low\", \"medium\" or \"high\";\n\
- \"summary\": one or two sentences an advisor can read before calling.\n\
Use null for anything the conversation does not say; never guess numbers.";

/// Why a summary was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryReason {
    /// Someone asked ([`Store::request_summary`]).
    OnDemand,
    /// A chat lead became complete (name, email and phone).
    LeadCompleted,
}

names! {
    /// The stored spelling.
    SummaryReason {
        OnDemand => "on_demand",
        LeadCompleted => "lead_completed",
    }
}

/// Where a summary job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryStatus {
    /// Waiting for a worker (or for its next attempt after a failure: see `last_error`).
    Pending,
    /// A worker is calling the model.
    Running,
    /// The summary is in the context under [`SUMMARY_KEY`].
    Done,
    /// Gave up; `last_error` says why. The context was not touched.
    Failed,
}

names! {
    /// The stored spelling.
    SummaryStatus {
        Pending => "pending",
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
}

/// A client's summary job: the last request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryJob {
    /// The client.
    pub client_id: ClientId,
    /// Why it was last asked for.
    pub reason: SummaryReason,
    /// Where it stands.
    pub status: SummaryStatus,
    /// Attempts made since it was last asked for.
    pub attempts: u32,
    /// The last failure (kept while a retry is pending; cleared by a new request).
    pub last_error: Option<String>,
    /// The model that wrote the last summary.
    pub model: Option<String>,
    /// When it was last asked for.
    pub requested_at: DateTime<Utc>,
    /// When the next attempt is due (pending jobs).
    pub next_attempt_at: DateTime<Utc>,
    /// When it finished (done or failed).
    pub finished_at: Option<DateTime<Utc>>,
    /// A sentence for people: what the status means now, including "summaries are disabled".
    pub detail: String,
}

mod model;
mod options;
mod worker;

pub use model::parse_summary;
pub use options::SummaryOptions;
pub(crate) use worker::{ClaimedJob, JOB_COLS, JobRow, Outcome, Shared, micros};

#[cfg(test)]
mod tests;
