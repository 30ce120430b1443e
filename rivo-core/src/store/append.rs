//! Group commit for chat appends.
//!
//! Every [`Store::append`](crate::Store::append) joins a queue. A writer task takes whatever
//! queued while the previous batch was committing (at most
//! [`StoreOptions::append_batch_max`](super::StoreOptions) rows), writes it as one INSERT in one
//! transaction, and only then answers each caller with its own row. So an idle store commits a
//! lone message at once (no timer, no added latency) and a busy one pays one commit for many.
//!
//! - A failed batch fails every caller in it, and none is acknowledged: the transaction rolled
//!   back, so none of its rows exists. Input is validated before it joins the queue, so one
//!   caller's bad input can never fail a batch.
//! - [`Appender::close`] stops new appends and waits until the queue is drained and the last
//!   batch committed (or failed) and was answered.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Backend;
use crate::chat::{ChatMessage, DataType, SenderType};
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::observability::names;

/// One message waiting to be written (already validated).
#[derive(Debug, Clone)]
pub(crate) struct NewMessage {
    pub session_id: SessionId,
    pub message: String,
    pub sender_type: SenderType,
    pub data_type: DataType,
}

/// Some caller's rows and where to send their stored versions.
struct Job {
    rows: Vec<NewMessage>,
    /// When the caller queued it (for the queue-wait histogram).
    queued_at: std::time::Instant,
    reply: oneshot::Sender<Result<Vec<ChatMessage>>>,
}

/// What the writers have committed so far (cumulative), for metrics and tests.
#[derive(Debug, Default)]
pub(crate) struct AppendStats {
    batches: std::sync::atomic::AtomicU64,
    rows: std::sync::atomic::AtomicU64,
    largest: std::sync::atomic::AtomicU64,
    /// Store operations in flight (every `dispatch!` and every batch being written), shared by
    /// the store's clones: [`Store::operations_in_flight`](crate::Store::operations_in_flight).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
}

impl AppendStats {
    fn record(&self, rows: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.batches.fetch_add(1, Relaxed);
        self.rows.fetch_add(rows as u64, Relaxed);
        self.largest.fetch_max(rows as u64, Relaxed);
    }

    /// `(batches, rows, largest batch)` committed so far.
    pub(crate) fn snapshot(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.batches.load(Relaxed),
            self.rows.load(Relaxed),
            self.largest.load(Relaxed),
        )
    }
}

/// The queue in front of the writer tasks of one store (shared by its clones).
pub(crate) struct Appender {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
    /// SQLite: the background indexer of message search (see [`index_loop`]).
    indexer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) stats: Arc<AppendStats>,
}

impl Appender {
    /// Starts `writers` writer tasks (at least one) on the current tokio runtime.
    /// `hub`: where each committed batch's rows go to this process's live streams (on
    /// PostgreSQL the batch's statement also sends a NOTIFY, for other servers).
    pub(crate) fn start(
        backend: Backend,
        writers: usize,
        batch_max: usize,
        hub: Arc<crate::streams::Hub>,
        webhooks: Arc<crate::webhooks::Shared>,
    ) -> Self {
        // The queue bound only smooths bursts: callers beyond it wait to enqueue.
        let (tx, rx) = mpsc::channel::<Job>(batch_max.max(1) * 4);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let stats = Arc::new(AppendStats::default());
        let handles = (0..writers.max(1))
            .map(|_| {
                tokio::spawn(write_loop(
                    backend.clone(),
                    rx.clone(),
                    batch_max.max(1),
                    stats.clone(),
                    hub.clone(),
                    webhooks.clone(),
                ))
            })
            .collect();
        let indexer = match &backend {
            Backend::Sqlite(b) => Some(tokio::spawn(index_loop(b.clone()))),
            Backend::Postgres(_) => None,
        };
        Self {
            queue: Mutex::new(Some(tx)),
            writers: Mutex::new(handles),
            indexer: Mutex::new(indexer),
            stats,
        }
    }

    /// Appends waiting in the queue now.
    pub(crate) fn queued(&self) -> usize {
        match self.queue.lock() {
            Ok(queue) => queue
                .as_ref()
                .map_or(0, |tx| tx.max_capacity().saturating_sub(tx.capacity())),
            Err(_) => 0,
        }
    }

    /// Queues `rows` and waits until they are committed (or their batch failed).
    pub(crate) async fn append(&self, rows: Vec<NewMessage>) -> Result<Vec<ChatMessage>> {
        let queue = self
            .queue
            .lock()
            .map_err(|_| Error::Internal("append queue poisoned".into()))?
            .clone()
            .ok_or_else(|| Error::from(sqlx::Error::PoolClosed))?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job {
                rows,
                queued_at: std::time::Instant::now(),
                reply,
            })
            .await
            .map_err(|_| Error::from(sqlx::Error::PoolClosed))?;
        drop(queue);
        answer
            .await
            .map_err(|_| Error::Internal("the append writer stopped".into()))?
    }

    /// Refuses new appends, then waits for the queued ones to be written and answered.
    pub(crate) async fn close(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        let handles = match self.writers.lock() {
            Ok(mut writers) => std::mem::take(&mut *writers),
            Err(_) => Vec::new(),
        };
        for handle in handles {
            let _ = handle.await;
        }
        // An indexing pass cut short rolls back; the next start goes on from the mark.
        if let Ok(mut indexer) = self.indexer.lock()
            && let Some(task) = indexer.take()
        {
            task.abort();
        }
    }
}

/// How often the SQLite indexer looks for new messages, and most it indexes per transaction.
const INDEX_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
const INDEX_PASS: i64 = 10_000;

/// SQLite: keeps the message search index (FTS5) off the append path. Every [`INDEX_EVERY`] it
/// indexes the messages above the index's mark in passes of [`INDEX_PASS`], each one write
/// transaction (one FTS5 segment for thousands of rows, where indexing in the append batch
/// cost one per batch). Searches stay exact meanwhile: they scan the rows above the mark.
async fn index_loop(backend: super::sqlite::Backend) {
    loop {
        tokio::time::sleep(INDEX_EVERY).await;
        loop {
            match backend.index_search_tail(INDEX_PASS).await {
                Ok(n) if n >= INDEX_PASS as u64 => continue,
                Ok(_) => break,
                Err(Error::Database(crate::error::DatabaseError(sqlx::Error::PoolClosed))) => {
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "indexing new messages for search failed");
                    break;
                }
            }
        }
    }
}

async fn write_loop(
    backend: Backend,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    batch_max: usize,
    stats: Arc<AppendStats>,
    hub: Arc<crate::streams::Hub>,
    webhooks: Arc<crate::webhooks::Shared>,
) {
    loop {
        // Collect a batch: wait for one job, then take whatever else is already queued.
        let jobs = {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut rows = first.rows.len();
            let mut jobs = vec![first];
            while rows < batch_max {
                match rx.try_recv() {
                    Ok(job) => {
                        rows += job.rows.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let rows: Vec<&NewMessage> = jobs.iter().flat_map(|j| j.rows.iter()).collect();
        // One histogram record each per batch (not per message): the hot path stays cheap.
        let started = std::time::Instant::now();
        if let Some(oldest) = jobs.iter().map(|j| j.queued_at).min() {
            metrics::histogram!(names::APPEND_QUEUE_WAIT)
                .record(started.duration_since(oldest).as_secs_f64());
        }
        metrics::histogram!(names::APPEND_BATCH_MESSAGES).record(rows.len() as f64);
        let written = super::observe::run(
            &stats.in_flight,
            "append_batch",
            backend.kind().system_name(),
            async {
                match &backend {
                    Backend::Postgres(b) => b.append_batch(&rows, hub.origin()).await,
                    Backend::Sqlite(b) => b.append_batch(&rows, hub.origin()).await,
                }
            },
        )
        .await;
        metrics::histogram!(names::APPEND_COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        if !matches!(&written, Ok((stored, _)) if stored.len() == rows.len()) {
            metrics::counter!(names::APPEND_BATCH_FAILURES).increment(1);
        }
        match written {
            Ok((stored, marks)) if stored.len() == rows.len() => {
                stats.record(rows.len());
                // This process's live streams get the committed rows in memory.
                hub.committed(&stored, &marks);
                // The batch wrote its outbox rows: wake the webhook worker (if anyone listens).
                webhooks.committed(crate::events::EventKind::MessageCreated);
                let mut stored = stored.into_iter();
                for job in jobs {
                    let mine: Vec<ChatMessage> = stored.by_ref().take(job.rows.len()).collect();
                    // A caller that gave up (request cancelled) is not waiting: fine.
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Ok((stored, _)) => {
                let e = Error::Internal(format!(
                    "a batch of {} messages returned {} rows",
                    rows.len(),
                    stored.len()
                ));
                fail_all(jobs, &e);
            }
            Err(e) => fail_all(jobs, &e),
        }
    }
}

fn fail_all(jobs: Vec<Job>, e: &Error) {
    tracing::warn!(error = %e, callers = jobs.len(), "chat append batch failed");
    for job in jobs {
        let _ = job.reply.send(Err(shared_error(e)));
    }
}

/// A copy of a batch's error for each of its callers (errors are not `Clone`).
fn shared_error(e: &Error) -> Error {
    match e {
        Error::Database(db) => Error::from(sqlx::Error::Io(std::io::Error::other(format!(
            "the batch holding this message failed: {db}"
        )))),
        other => Error::Internal(other.to_string()),
    }
}
