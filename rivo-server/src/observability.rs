//! Prometheus metrics: the recorder, request instrumentation and `GET /metrics`.
//!
//! Metrics are on when `RIVO_METRICS_TOKEN` or `RIVO_METRICS_BIND` is set
//! ([`Config::metrics_enabled`]); then the `metrics-exporter-prometheus` recorder is installed
//! as the process's `metrics` recorder (rivo-core emits through the same facade, see
//! [`rivo_core::observability`]). Gauges that are cheap to read (pool connections, operations
//! and requests in flight, the append queue, process RSS and open fds) are read when scraped,
//! not kept up to date on the hot path.
//!
//! Every label value is from a closed set: operation ids of the OpenAPI spec (or a fixed name
//! for the few routes outside it), status classes, pool names and error kinds. No path,
//! session id, email or token is ever a label.
//!
//! **Adding a metric.** Name it here (or in [`rivo_core::observability::names`] when rivo-core
//! emits it), describe it in `describe()`, add it to the README's table and check it in
//! `tests/metrics.rs`. A level (a queue's length, the age of its oldest item, connections
//! open) is read when scraped, in `record_queues` or `record_pools`; an event is counted
//! where it happens. Open event streams and webhook queue depth and age (issue 17) go into
//! `record_queues` once those features exist, next to the group-commit queue.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{Request, Response};
use rivo_core::Store;
use rivo_core::observability::names as core;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ApiError;

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// Counter, labels `operation` and `status` (`2xx`…`5xx`): requests answered.
pub const HTTP_REQUESTS: &str = "rivo_http_requests_total";
/// Histogram, seconds, label `operation`: time to answer a request (to the response head;
/// streaming bodies are not included).
pub const HTTP_REQUEST_DURATION: &str = "rivo_http_request_duration_seconds";
/// Gauge: requests being answered now.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "rivo_http_requests_in_flight";
/// Gauge, labels `pool` and `state` (`idle`, `in_use`): open database connections.
pub const DB_POOL_CONNECTIONS: &str = "rivo_db_pool_connections";
/// Gauge, label `pool`: the most connections the pool opens.
pub const DB_POOL_MAX_CONNECTIONS: &str = "rivo_db_pool_max_connections";
/// Gauge: store operations running now (holding or waiting for a connection).
pub const DB_OPERATIONS_IN_FLIGHT: &str = "rivo_db_operations_in_flight";
/// Gauge: store operations in flight beyond the connections in use, i.e. waiting for one.
pub const DB_POOL_WAITERS: &str = "rivo_db_pool_waiters";
/// Gauge: chat appends waiting for the group commit.
pub const APPEND_QUEUE_LENGTH: &str = "rivo_append_queue_length";
/// Counter: group-commit batches committed.
pub const APPEND_BATCHES: &str = "rivo_append_batches_total";
/// Counter: chat messages committed by the group commit.
pub const APPEND_MESSAGES: &str = "rivo_append_messages_total";
/// Gauge: live event streams (server-sent events) open now.
pub const EVENT_STREAMS_OPEN: &str = "rivo_event_streams_open";
/// Gauge, seconds: time since the server started.
pub const UPTIME: &str = "rivo_uptime_seconds";
/// Gauge, label `version`: always 1.
pub const BUILD_INFO: &str = "rivo_build_info";

/// Buckets of every `_seconds` histogram: 0.5 ms to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of the group-commit batch size (messages).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static REQUESTS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

struct Installed {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
    started: Instant,
}

static RECORDER: OnceLock<Option<Installed>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's `metrics` recorder (once; later calls
/// return the same). `None` when another recorder was installed first (an embedding app's):
/// then `/metrics` answers `503` and the app's recorder receives everything.
fn recorder() -> Option<&'static Installed> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(core::APPEND_BATCH_MESSAGES.into()),
                        BATCH_BUCKETS,
                    )
                });
            let handle = match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => handle,
                Err(err) => {
                    tracing::warn!(%err, "cannot install the Prometheus recorder: /metrics is off");
                    return None;
                }
            };
            let process = metrics_process::Collector::default();
            process.describe();
            describe();
            Some(Installed {
                handle,
                process,
                started: Instant::now(),
            })
        })
        .as_ref()
}

/// Installs the recorder now when `config` turns metrics on, so that metrics emitted before
/// the first scrape are kept. Call it before opening the store. Returns whether metrics are on.
pub fn install(config: &Config) -> bool {
    config.metrics_enabled() && recorder().is_some()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by operation and status class."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by operation."
    );
    describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being answered now.");
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Open database connections by pool and state (idle, in_use)."
    );
    describe_gauge!(DB_POOL_MAX_CONNECTIONS, "Most connections a pool opens.");
    describe_gauge!(
        DB_OPERATIONS_IN_FLIGHT,
        "Store operations running now (holding or waiting for a connection)."
    );
    describe_gauge!(
        DB_POOL_WAITERS,
        "Store operations in flight beyond the connections in use: waiting for a connection."
    );
    describe_histogram!(
        core::DB_OPERATION_DURATION,
        Unit::Seconds,
        "Duration of store operations (connection wait included), by operation."
    );
    describe_counter!(
        core::DB_ERRORS,
        "Failed store operations by operation and error kind."
    );
    describe_histogram!(
        core::APPEND_BATCH_MESSAGES,
        "Messages per group-commit batch."
    );
    describe_histogram!(
        core::APPEND_QUEUE_WAIT,
        Unit::Seconds,
        "How long the oldest message of a group-commit batch waited before the batch started."
    );
    describe_histogram!(
        core::APPEND_COMMIT_DURATION,
        Unit::Seconds,
        "Time to write and commit one group-commit batch."
    );
    describe_counter!(
        core::APPEND_BATCH_FAILURES,
        "Group-commit batches that failed."
    );
    describe_gauge!(
        APPEND_QUEUE_LENGTH,
        "Chat appends waiting for the group commit."
    );
    describe_counter!(APPEND_BATCHES, "Group-commit batches committed.");
    describe_counter!(
        APPEND_MESSAGES,
        "Chat messages committed by the group commit."
    );
    describe_counter!(core::LOGIN_FAILURES, "Failed password logins by reason.");
    describe_counter!(core::LOGIN_THROTTLED, "Logins refused by the throttle.");
    describe_gauge!(
        EVENT_STREAMS_OPEN,
        "Live event streams (server-sent events) open now."
    );
    describe_gauge!(UPTIME, Unit::Seconds, "Time since the server started.");
    describe_gauge!(BUILD_INFO, "The server's version (value 1).");
}

/// Counts one request being answered while alive.
pub struct RequestInFlight(());

impl RequestInFlight {
    /// Counts a request in.
    pub fn enter() -> Self {
        REQUESTS_IN_FLIGHT.fetch_add(1, Relaxed);
        Self(())
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        REQUESTS_IN_FLIGHT.fetch_sub(1, Relaxed);
    }
}

/// Records one answered request.
pub fn record_request(operation: &'static str, status: u16, elapsed: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(HTTP_REQUESTS, "operation" => operation, "status" => class).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "operation" => operation)
        .record(elapsed.as_secs_f64());
}

/// Reads the scrape-time gauges from `store` and the process, then renders every metric in
/// the Prometheus text format (0.0.4).
fn render(installed: &Installed, store: &Store) -> String {
    record_pools(store);
    record_queues(store);
    metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT).set(REQUESTS_IN_FLIGHT.load(Relaxed) as f64);
    metrics::gauge!(UPTIME).set(installed.started.elapsed().as_secs_f64());
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    installed.process.collect();
    installed.handle.run_upkeep();
    installed.handle.render()
}

/// The database pools' connections and the store operations waiting for one, at scrape.
fn record_pools(store: &Store) {
    let pools = store.pool_stats();
    let mut in_use = 0u64;
    for pool in &pools {
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => pool.pool, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => pool.pool, "state" => "in_use")
            .set(f64::from(pool.in_use()));
        metrics::gauge!(DB_POOL_MAX_CONNECTIONS, "pool" => pool.pool).set(f64::from(pool.max));
        in_use += u64::from(pool.in_use());
    }
    let in_flight = store.operations_in_flight() as u64;
    metrics::gauge!(DB_OPERATIONS_IN_FLIGHT).set(in_flight as f64);
    metrics::gauge!(DB_POOL_WAITERS).set(in_flight.saturating_sub(in_use) as f64);
}

/// Queues and long-lived connections, read at scrape: the group-commit queue and its totals.
/// The place for open event streams (SSE) and the webhook queue's depth and the age of its
/// oldest delivery, once they exist: read their levels from the store or server here, as
/// gauges without per-session or per-endpoint labels.
fn record_queues(store: &Store) {
    let commits = store.group_commit_stats();
    metrics::gauge!(APPEND_QUEUE_LENGTH).set(commits.queued as f64);
    metrics::counter!(APPEND_BATCHES).absolute(commits.batches);
    metrics::counter!(APPEND_MESSAGES).absolute(commits.messages);
    metrics::gauge!(EVENT_STREAMS_OPEN).set(crate::events::open_streams() as f64);
}

/// Whether `req` carries `Authorization: Bearer <token>` (compared through SHA-256 digests, so
/// the time taken says nothing about the token).
fn token_matches(req: &Request, token: &str) -> bool {
    let Some(given) = req
        .header(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.as_bytes())
}

/// `GET /metrics`: `404` when metrics are off (`on_main_listener` is false and no token is
/// set), `401` without the right bearer token when `RIVO_METRICS_TOKEN` is set, `503` when
/// another recorder owns the process, else the Prometheus text.
pub fn scrape(req: &Request, store: &Store, config: &Config, dedicated: bool) -> Response {
    if !config.metrics_enabled() || (!dedicated && config.metrics_token.is_none()) {
        return poem::error::ResponseError::as_response(&ApiError::NotFound);
    }
    if let Some(token) = &config.metrics_token
        && !token_matches(req, token)
    {
        return poem::error::ResponseError::as_response(&ApiError::NotAuthenticated);
    }
    let Some(installed) = recorder() else {
        return poem::error::ResponseError::as_response(&ApiError::Unavailable);
    };
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(render(installed, store))
}

/// The endpoint of the dedicated metrics listener (`RIVO_METRICS_BIND`): `/metrics` only.
pub fn dedicated_endpoint(
    store: Store,
    config: std::sync::Arc<Config>,
) -> impl poem::Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |req: Request| {
        if req.uri().path() == METRICS_PATH && req.method() == poem::http::Method::GET {
            scrape(&req, &store, &config, true)
        } else {
            poem::error::ResponseError::as_response(&ApiError::NotFound)
        }
    })
}
