//! The summary queue and its worker: requesting a summary, claiming due jobs, running one
//! attempt and recording its outcome (with backoff), and the rows the store reads them from.

use std::future::Future;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use super::model::{Failure, call_model, transcript};
use super::{MAX_ERROR_LEN, SUMMARY_KEY, SummaryJob, SummaryOptions, SummaryReason, SummaryStatus};
use crate::chat::{ChatMessage, SenderType};
use crate::error::{Error, Result};
use crate::ids::ClientId;
use crate::names::stored;
use crate::store::rows::row_struct;
use crate::store::{Store, dispatch};

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

row_struct! {
    pub(crate) struct JobRow, columns JOB_COLS {
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
    let status = stored("summary status", &r.status)?;
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
        reason: stored("summary reason", &r.reason)?,
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
