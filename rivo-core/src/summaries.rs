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

use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::chat::{ChatMessage, SenderType};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::store::{Store, dispatch};

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

impl SummaryReason {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryReason::OnDemand => "on_demand",
            SummaryReason::LeadCompleted => "lead_completed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "on_demand" => Ok(SummaryReason::OnDemand),
            "lead_completed" => Ok(SummaryReason::LeadCompleted),
            other => Err(Error::Corrupt(format!("unknown summary reason {other:?}"))),
        }
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

impl SummaryStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryStatus::Pending => "pending",
            SummaryStatus::Running => "running",
            SummaryStatus::Done => "done",
            SummaryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(SummaryStatus::Pending),
            "running" => Ok(SummaryStatus::Running),
            "done" => Ok(SummaryStatus::Done),
            "failed" => Ok(SummaryStatus::Failed),
            other => Err(Error::Corrupt(format!("unknown summary status {other:?}"))),
        }
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

/// How summaries are made. Set with [`Store::set_summary_options`].
#[derive(Clone, PartialEq, Eq)]
pub struct SummaryOptions {
    /// Sent as `Authorization: Bearer <key>` (and `api-key` to Azure hosts). Optional for
    /// servers that need none (Ollama, llama.cpp, vLLM without `--api-key`).
    pub api_key: Option<String>,
    /// The API root, e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `http://localhost:8000/v1` (vLLM), `http://localhost:8080/v1` (llama.cpp),
    /// `https://NAME.openai.azure.com/openai/v1`. A query string (`?api-version=…`) is kept.
    /// With a key and no base URL: OpenAI's.
    pub base_url: Option<String>,
    /// The model name sent. Default `gpt-4o-mini`.
    pub model: String,
    /// The system message. Default [`DEFAULT_PROMPT`].
    pub prompt: String,
    /// One attempt's limit (connect, request and the whole answer). Default 60 s.
    pub timeout: Duration,
    /// Attempts before a job fails. Default 4.
    pub max_attempts: u32,
    /// The first retry waits this long, each further one twice as long (capped at 1 hour).
    /// Default 10 s.
    pub backoff_base: Duration,
    /// Most characters of conversation sent (the latest messages are kept). Default 24 000.
    pub max_transcript_chars: usize,
    /// Most messages read. Default 400.
    pub max_messages: u32,
    /// Most bytes of the provider's answer read; a larger answer is an error. Default 1 MiB.
    pub max_response_bytes: usize,
    /// `max_tokens` sent. Default 800.
    pub max_tokens: u32,
    /// Jobs one worker runs at once. Default 2.
    pub concurrency: usize,
    /// How often the worker looks for due jobs without being woken. Default 2 s.
    pub poll_interval: Duration,
}

impl std::fmt::Debug for SummaryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryOptions")
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            model: "gpt-4o-mini".into(),
            prompt: DEFAULT_PROMPT.into(),
            timeout: Duration::from_secs(60),
            max_attempts: 4,
            backoff_base: Duration::from_secs(10),
            max_transcript_chars: 24_000,
            max_messages: 400,
            max_response_bytes: 1024 * 1024,
            max_tokens: 800,
            concurrency: 2,
            poll_interval: Duration::from_secs(2),
        }
    }
}

impl SummaryOptions {
    /// Whether summaries are made: a key or a base URL is configured.
    pub fn enabled(&self) -> bool {
        self.api_key.as_deref().is_some_and(|k| !k.is_empty())
            || self.base_url.as_deref().is_some_and(|u| !u.is_empty())
    }

    /// The chat-completions URL called.
    pub fn endpoint(&self) -> String {
        let base = self
            .base_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .unwrap_or(OPENAI_BASE_URL);
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut url = format!("{}/chat/completions", path.trim_end_matches('/'));
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// How long a worker's claim lasts: twice the timeout plus 30 s.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(30)
    }

    /// Why summaries are off, when they are.
    pub fn disabled_reason() -> &'static str {
        "AI summaries are disabled: set AI_INTEGRATIONS_OPENAI_API_KEY and/or \
         AI_INTEGRATIONS_OPENAI_BASE_URL."
    }
}

/// Summary state shared by a store's clones: the worker's wake-up and the options.
pub(crate) struct Shared {
    wake: tokio::sync::Notify,
    options: RwLock<SummaryOptions>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            wake: tokio::sync::Notify::new(),
            options: RwLock::new(SummaryOptions::default()),
        }
    }
}

impl Shared {
    fn options(&self) -> SummaryOptions {
        match self.options.read() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Wakes the worker (call after a commit that enqueued a job).
    pub(crate) fn enqueued(&self) {
        self.wake.notify_one();
    }
}

// ----- rows -----

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub(crate) client_id: i64,
    pub(crate) reason: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) requested_at: i64,
    pub(crate) next_attempt_at: i64,
    pub(crate) finished_at: Option<i64>,
}

/// A job a worker claimed.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimedJob {
    pub(crate) id: i64,
    pub(crate) client_id: i64,
    pub(crate) generation: i64,
    /// Attempts including this one.
    pub(crate) attempts: i32,
}

/// What a finished attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Retry { at: i64 },
    Failed,
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn job_of(r: JobRow, options: &SummaryOptions) -> Result<SummaryJob> {
    let status = SummaryStatus::parse(&r.status)?;
    let detail = match status {
        SummaryStatus::Pending if !options.enabled() => SummaryOptions::disabled_reason().into(),
        SummaryStatus::Pending if r.last_error.is_some() => {
            format!("Attempt {} failed; retrying.", r.attempts)
        }
        SummaryStatus::Pending => "Waiting for the summary worker.".into(),
        SummaryStatus::Running => "The model is writing the summary.".into(),
        SummaryStatus::Done => format!("Summary stored under \"{SUMMARY_KEY}\"."),
        SummaryStatus::Failed => format!("Gave up after {} attempt(s).", r.attempts),
    };
    Ok(SummaryJob {
        client_id: ClientId(r.client_id),
        reason: SummaryReason::parse(&r.reason)?,
        status,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        last_error: r.last_error,
        model: r.model,
        requested_at: from_micros(r.requested_at),
        next_attempt_at: from_micros(r.next_attempt_at),
        finished_at: r.finished_at.map(from_micros),
        detail,
    })
}

// ----- the store's operations -----

/// The store's summary operations.
impl Store {
    /// Sets how summaries are made (the server calls it from its settings).
    pub fn set_summary_options(&self, options: SummaryOptions) {
        match self.summaries.options.write() {
            Ok(mut o) => *o = options,
            Err(p) => *p.into_inner() = options,
        }
        self.summaries.wake.notify_one();
    }

    /// How summaries are made now.
    pub fn summary_options(&self) -> SummaryOptions {
        self.summaries.options()
    }

    /// Asks for a summary of the client's linked conversation: the client's job becomes
    /// pending (a new request while one runs makes it run again afterwards). Returns the job.
    /// Works while summaries are disabled too: the job waits and its `detail` says why.
    pub async fn request_summary(&self, client: ClientId) -> Result<SummaryJob> {
        let audit = self.audit(json!({ "summary": "requested" }));
        let row = dispatch!(self.request_summary(client, SummaryReason::OnDemand, audit))?;
        self.summaries.enqueued();
        job_of(row, &self.summaries.options())
    }

    /// The client's summary job, if a summary was ever asked for.
    pub async fn summary_job(&self, client: ClientId) -> Result<Option<SummaryJob>> {
        let options = self.summaries.options();
        dispatch!(self.summary_job(client))?
            .map(|r| job_of(r, &options))
            .transpose()
    }

    /// Runs the summary worker until `shutdown` completes, then waits for the calls in flight
    /// (each bounded by [`SummaryOptions::timeout`]). Does nothing but wait while summaries are
    /// disabled. Run one per process (`rivo-server serve` does); several processes on one
    /// PostgreSQL database share the jobs.
    pub async fn run_summary_worker(&self, shutdown: impl Future<Output = ()>) {
        let mut inflight = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let options = self.summaries.options();
            let free = options.concurrency.max(1).saturating_sub(inflight.len());
            if options.enabled() && free > 0 {
                let now = Utc::now();
                let lease = chrono::Duration::from_std(options.lease()).unwrap_or_default();
                match dispatch!(self.claim_summaries(
                    micros(now),
                    micros(now + lease),
                    i64::try_from(free).unwrap_or(1)
                )) {
                    Ok(claimed) => {
                        for job in claimed {
                            let store = self.clone();
                            let options = options.clone();
                            inflight.spawn(async move { store.run_job(job, &options).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming summary jobs failed"),
                }
            }
            let poll = options.poll_interval.max(Duration::from_millis(10));
            tokio::select! {
                () = &mut shutdown => break,
                () = self.summaries.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            }
        }
        while inflight.join_next().await.is_some() {}
    }

    /// One attempt of a claimed job, recorded with its outcome.
    async fn run_job(&self, job: ClaimedJob, options: &SummaryOptions) {
        let client = ClientId(job.client_id);
        let result = match dispatch!(self.summary_transcript(client, options.max_messages)) {
            Ok(Some(messages)) if !messages.is_empty() => {
                let lines: Vec<(SenderType, &str)> = messages
                    .iter()
                    .map(|m: &ChatMessage| (m.sender_type, m.message.as_str()))
                    .collect();
                let transcript = transcript(&lines, options.max_transcript_chars);
                match tokio::time::timeout(options.timeout, call_model(options, &transcript)).await
                {
                    Ok(r) => r,
                    Err(_) => Err(Failure::retry(format!(
                        "the model did not answer within {} s",
                        options.timeout.as_secs_f64()
                    ))),
                }
            }
            Ok(Some(_)) => Err(Failure::fatal(
                "the linked chat session has no messages to summarise",
            )),
            Ok(None) => Err(Failure::fatal(
                "the client has no linked chat session to summarise",
            )),
            Err(e) => Err(Failure::retry(format!("reading the conversation: {e}"))),
        };
        let recorded = match result {
            Ok((mut summary, model)) => {
                summary.insert("model".into(), Json::String(model.clone()));
                summary.insert(
                    "generated_at".into(),
                    Json::String(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                );
                match dispatch!(self.finish_summary(
                    job.id,
                    job.generation,
                    client,
                    &summary,
                    &model,
                    &self.limits
                )) {
                    Ok(()) => Ok(()),
                    // Too large for the context, or the client is gone: a failure, recorded.
                    Err(e @ (Error::Validation(_) | Error::NotFound { .. })) => {
                        self.fail_job(&job, Failure::fatal(e.to_string()), options)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            Err(failure) => self.fail_job(&job, failure, options).await,
        };
        if let Err(e) = recorded {
            // The lease expires and the job is attempted again.
            tracing::warn!(error = %e, client = job.client_id, "recording a summary failed");
        }
    }

    async fn fail_job(
        &self,
        job: &ClaimedJob,
        failure: Failure,
        options: &SummaryOptions,
    ) -> Result<()> {
        let now = micros(Utc::now());
        let attempts = u32::try_from(job.attempts).unwrap_or(u32::MAX);
        let outcome = if failure.retryable && attempts < options.max_attempts {
            let n = attempts.saturating_sub(1).min(20);
            let delay = options
                .backoff_base
                .saturating_mul(1u32 << n)
                .min(Duration::from_secs(3600));
            Outcome::Retry {
                at: now.saturating_add(i64::try_from(delay.as_micros()).unwrap_or(i64::MAX)),
            }
        } else {
            Outcome::Failed
        };
        tracing::info!(client = job.client_id, attempt = attempts, error = %failure.message,
            "summary attempt failed");
        let error = bounded(&failure.message, MAX_ERROR_LEN);
        dispatch!(self.fail_summary(job.id, job.generation, &error, outcome, now))
    }
}

// ----- the model call -----

/// Why an attempt failed, and whether another attempt may do better.
#[derive(Debug)]
struct Failure {
    message: String,
    retryable: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
    fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// The conversation as `Client: …` / `Bot: …` lines, the latest ones kept within `max_chars`.
fn transcript(messages: &[(SenderType, &str)], max_chars: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut used = 0usize;
    for (sender, text) in messages.iter().rev() {
        let who = match sender {
            SenderType::Client => "Client",
            SenderType::Bot => "Bot",
        };
        let line = format!("{who}: {text}");
        let len = line.chars().count() + 1;
        if used + len > max_chars {
            if lines.is_empty() {
                // One message longer than the whole budget: its start.
                lines.push(line.chars().take(max_chars).collect());
            }
            lines.push("[earlier messages omitted]".into());
            break;
        }
        used += len;
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

/// The model's text as a JSON object: a ```` ```json ```` (or ```` ``` ````) fence around it is
/// stripped; anything but an object is an error.
pub fn parse_summary(content: &str) -> std::result::Result<Map<String, Json>, String> {
    let mut text = content.trim();
    if let Some(rest) = text.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        text = rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the model answered JSON that is not an object (a {})",
            match other {
                Json::Null => "null",
                Json::Bool(_) => "boolean",
                Json::Number(_) => "number",
                Json::String(_) => "string",
                Json::Array(_) => "list",
                Json::Object(_) => "object",
            }
        )),
        Err(e) => Err(format!("the model's answer is not valid JSON: {e}")),
    }
}

/// One chat-completions call: the summary object and the model that wrote it.
async fn call_model(
    options: &SummaryOptions,
    transcript: &str,
) -> std::result::Result<(Map<String, Json>, String), Failure> {
    let body = json!({
        "model": options.model,
        "messages": [
            {"role": "system", "content": options.prompt},
            {"role": "user", "content": format!("The conversation:\n\n{transcript}")},
        ],
        "temperature": 0.3,
        "max_tokens": options.max_tokens,
    });
    let body = serde_json::to_vec(&body).map_err(|e| Failure::fatal(e.to_string()))?;
    let (status, answer) = post_json(options, body).await?;
    if !(200..300).contains(&status) {
        let retryable = matches!(status, 408 | 409 | 425 | 429) || status >= 500;
        let text = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
        return Err(Failure {
            message: format!("the provider answered HTTP {status}: {text}"),
            retryable,
        });
    }
    let envelope: Json = serde_json::from_slice(&answer).map_err(|e| {
        Failure::retry(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let content = envelope
        .pointer("/choices/0/message/content")
        .and_then(Json::as_str)
        .ok_or_else(|| Failure::retry("the provider's answer has no choices[0].message.content"))?;
    let model = envelope
        .get("model")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(options.model.as_str())
        .chars()
        .take(200)
        .collect::<String>();
    let summary = parse_summary(content).map_err(Failure::retry)?;
    Ok((summary, model))
}

/// POSTs `body` to the endpoint; the status and at most `max_response_bytes` of the answer
/// (more is an error).
async fn post_json(
    options: &SummaryOptions,
    body: Vec<u8>,
) -> std::result::Result<(u16, Vec<u8>), Failure> {
    let raw = options.endpoint();
    let url = url::Url::parse(&raw)
        .map_err(|e| Failure::fatal(format!("the base URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::fatal("the base URL must be http:// or https://"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Failure::fatal("the base URL has no host"))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let stream = tokio::net::TcpStream::connect((connect_host.as_str(), port))
        .await
        .map_err(|e| Failure::retry(format!("connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "Rivo-Summaries/1");
    if let Some(key) = options.api_key.as_deref().filter(|k| !k.is_empty()) {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        if host.ends_with(".azure.com") {
            request = request.header("api-key", key);
        }
    }
    let request = request
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .map_err(|e| Failure::fatal(format!("request: {e}")))?;
    if url.scheme() == "https" {
        let name = match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                rustls::pki_types::ServerName::from(std::net::IpAddr::V4(ip))
            }
            Some(url::Host::Ipv6(ip)) => {
                rustls::pki_types::ServerName::from(std::net::IpAddr::V6(ip))
            }
            _ => rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| Failure::fatal(format!("TLS server name: {e}")))?,
        };
        let tls = tokio_rustls::TlsConnector::from(crate::webhooks::tls_config())
            .connect(name, stream)
            .await
            .map_err(|e| Failure::retry(format!("TLS: {e}")))?;
        send(tls, request, options.max_response_bytes).await
    } else {
        send(stream, request, options.max_response_bytes).await
    }
}

async fn send<S>(
    io: S,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
    max: usize,
) -> std::result::Result<(u16, Vec<u8>), Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| Failure::retry(format!("HTTP: {e}")))?;
    let conn = tokio::spawn(conn);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::retry(format!("HTTP: {e}")))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::retry(format!("reading the answer: {e}")))?;
            if let Some(data) = frame.data_ref() {
                if read.len() + data.len() > max {
                    return Err(Failure::retry(format!(
                        "the provider's answer is larger than {max} bytes"
                    )));
                }
                read.extend_from_slice(data);
            }
        }
        Ok((status, read))
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_objects_with_fences_stripped() {
        let fenced = "```json\n{\"intent\": \"refinance\"}\n```";
        assert_eq!(
            parse_summary(fenced).unwrap().get("intent"),
            Some(&json!("refinance"))
        );
        assert!(parse_summary("```\n{\"a\": 1}\n```").is_ok());
        assert!(
            parse_summary("[1, 2]")
                .unwrap_err()
                .contains("not an object")
        );
        assert!(
            parse_summary("\"text\"")
                .unwrap_err()
                .contains("not an object")
        );
        assert!(
            parse_summary("Sure! Here you go")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn endpoints_keep_the_query_and_default_to_openai() {
        let mut o = SummaryOptions::default();
        assert!(!o.enabled());
        o.api_key = Some("k".into());
        assert!(o.enabled());
        assert_eq!(o.endpoint(), "https://api.openai.com/v1/chat/completions");
        o.base_url = Some("https://x.openai.azure.com/openai/v1/?api-version=preview".into());
        assert_eq!(
            o.endpoint(),
            "https://x.openai.azure.com/openai/v1/chat/completions?api-version=preview"
        );
        let ollama = SummaryOptions {
            base_url: Some("http://localhost:11434/v1".into()),
            ..Default::default()
        };
        assert!(ollama.enabled());
        assert!(!format!("{o:?}").contains("\"k\""));
    }

    #[test]
    fn transcripts_keep_the_latest_messages() {
        let messages = vec![
            (SenderType::Client, "old old old old"),
            (SenderType::Bot, "hi"),
            (SenderType::Client, "refinance"),
        ];
        assert_eq!(
            transcript(&messages, 1000),
            "Client: old old old old\nBot: hi\nClient: refinance"
        );
        assert_eq!(
            transcript(&messages, 30),
            "[earlier messages omitted]\nBot: hi\nClient: refinance"
        );
    }
}
