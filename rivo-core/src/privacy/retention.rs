//! Retention: deleting old conversations in bounded batches, once across servers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RETENTION_LEASE;
use crate::error::Result;
use crate::store::{Store, dispatch};

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

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The store's retention operations.
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
}
