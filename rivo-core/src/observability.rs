//! What rivo-core reports about itself: metrics through the [`metrics`] facade and `tracing`
//! spans, both free of personal data.
//!
//! **Metrics.** rivo-core only emits; nothing is recorded until the embedding app installs a
//! `metrics` recorder (rivo-server installs a Prometheus one). Install it before
//! [`Store::open`](crate::Store::open). Every label value comes from a closed set (operation
//! names are method names, kinds are [`Error::kind`](crate::Error::kind)); none is ever a
//! session id, email, token or message. Gauges that are cheaper to read than to keep
//! (pool connections, operations in flight, the append queue) are not emitted: read them with
//! [`Store::pool_stats`](crate::Store::pool_stats),
//! [`Store::operations_in_flight`](crate::Store::operations_in_flight) and
//! [`Store::group_commit_stats`](crate::Store::group_commit_stats) when scraped.
//!
//! **Spans.** Every store operation runs in a `debug` span named `db` (OpenTelemetry name: the
//! operation, kind `client`) with the attributes `db.system.name` (`postgresql` or `sqlite`),
//! `db.operation.name` and, on failure, `error.type`; never an argument. A group commit runs in
//! a `db` span `append_batch` of its own (the writer task serves many requests at once, so it
//! has no request as parent).

/// The metric names rivo-core emits (Prometheus conventions: base units, `_total` counters).
pub mod names {
    /// Histogram, seconds, label `operation`: how long each store operation took (waiting for
    /// a connection included).
    pub const DB_OPERATION_DURATION: &str = "rivo_db_operation_duration_seconds";
    /// Counter, labels `operation` and `kind` ([`Error::kind`](crate::Error::kind)): failed
    /// store operations. `kind="db_pool_timeout"` means no connection was free within the
    /// acquire timeout (the pool is too small or the database too slow).
    pub const DB_ERRORS: &str = "rivo_db_errors_total";
    /// Histogram, messages: the size of each group-commit batch.
    pub const APPEND_BATCH_MESSAGES: &str = "rivo_append_batch_messages";
    /// Histogram, seconds: how long the oldest message of a batch waited in the queue before
    /// its batch started.
    pub const APPEND_QUEUE_WAIT: &str = "rivo_append_queue_wait_seconds";
    /// Histogram, seconds: how long writing and committing one batch took.
    pub const APPEND_COMMIT_DURATION: &str = "rivo_append_commit_duration_seconds";
    /// Counter: group-commit batches that failed (every message in them failed).
    pub const APPEND_BATCH_FAILURES: &str = "rivo_append_batch_failures_total";
    /// Counter, label `reason` ([`AuthFailure::as_str`](crate::AuthFailure::as_str)): failed
    /// password logins (throttled attempts are not counted here).
    pub const LOGIN_FAILURES: &str = "rivo_login_failures_total";
    /// Counter: logins refused by the throttle without checking the password.
    pub const LOGIN_THROTTLED: &str = "rivo_login_throttled_total";
    /// Gauge: pending webhook deliveries (all servers; set by each running webhook worker
    /// every poll interval).
    pub const WEBHOOK_QUEUE_DEPTH: &str = "rivo_webhook_queue_depth";
    /// Gauge, seconds: how long the most overdue pending webhook delivery has been due (0
    /// when none is).
    pub const WEBHOOK_OLDEST_DUE: &str = "rivo_webhook_oldest_due_seconds";
    /// Counter, label `outcome` (`delivered`, `retry`, `failed`): webhook delivery attempts.
    pub const WEBHOOK_ATTEMPTS: &str = "rivo_webhook_attempts_total";
}

/// The connections of one pool of a [`Store`](crate::Store), from
/// [`Store::pool_stats`](crate::Store::pool_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `main` (PostgreSQL's one pool), or `read` / `write` (SQLite's reader pool and its
    /// single writer connection).
    pub pool: &'static str,
    /// Connections open now (idle or in use).
    pub size: u32,
    /// Open connections that nobody uses.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// Connections in use.
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}
