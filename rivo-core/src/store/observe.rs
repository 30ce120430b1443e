//! Metrics and spans around every store operation (the `dispatch!` macro calls [`run`]).
//!
//! Kept cheap: one relaxed atomic for the operations in flight, and one `metrics` lookup per
//! operation (a duration histogram) plus one per failure (a counter). Without a recorder
//! installed the `metrics` calls do nothing; without a subscriber interested in `debug` spans of
//! `rivo_core`, the span is not built.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use tracing::Instrument;

use crate::error::Error;
use crate::observability::names;

/// The outcome of a store operation, as far as metrics care.
pub(crate) trait Observed {
    /// [`Error::kind`] of a failure, `None` on success.
    fn error_kind(&self) -> Option<&'static str>;
}

impl<T> Observed for Result<T, Error> {
    fn error_kind(&self) -> Option<&'static str> {
        self.as_ref().err().map(Error::kind)
    }
}

impl Observed for () {
    fn error_kind(&self) -> Option<&'static str> {
        None
    }
}

/// Counts `fut` as one operation in flight, runs it in a `db` span (named after the operation,
/// with only the operation and the database system as attributes: never an argument), records
/// its duration and, when it fails, its error kind.
pub(crate) async fn run<T: Observed>(
    in_flight: &AtomicUsize,
    operation: &'static str,
    system: &'static str,
    fut: impl Future<Output = T>,
) -> T {
    let span = tracing::debug_span!(
        "db",
        otel.name = operation,
        otel.kind = "client",
        db.system.name = system,
        db.operation.name = operation,
        "error.type" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    in_flight.fetch_add(1, Relaxed);
    let _guard = InFlight(in_flight);
    let started = Instant::now();
    let out = fut.instrument(span.clone()).await;
    metrics::histogram!(names::DB_OPERATION_DURATION, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if let Some(kind) = out.error_kind() {
        metrics::counter!(names::DB_ERRORS, "operation" => operation, "kind" => kind).increment(1);
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
    }
    out
}

/// Takes the operation back off the in-flight count, also when its future is dropped
/// (a cancelled request).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}
