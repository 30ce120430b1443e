//! Configuration from the environment, with the original server's variable names.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `DATABASE_URL` | `sqlite://rivo.sqlite3?mode=rwc` | `sqlite:` or `postgres://` URL |
//! | `SECRET_KEY` | a built-in development key | signing key; required when `DEBUG=False` |
//! | `DEBUG` | `True` | `False` in production |
//! | `ALLOWED_HOSTS` | with `DEBUG`: `localhost`, `.localhost`, `127.0.0.1`, `[::1]` (Django's rule) | comma-separated Host names (`.example.com` = domain and subdomains, `*` = any); required when `DEBUG=False`. Host values with invalid syntax (`/ ? # @ \`…) and requests with two Host headers are refused first |
//! | `BIND_ADDRESS` | `0.0.0.0` | IP address to listen on |
//! | `PORT` | `5000` | TCP port |
//! | `CORS_ALLOWED_ORIGINS` | none | comma-separated origins (`https://shop.example`) allowed to call the chat API from a browser |
//! | `RIVO_MAX_BODY_BYTES` | `8388608` (8 MiB) | largest request body accepted |
//! | `RIVO_DB_TIMEOUT_SECS` | `5` | how long a request waits for a database connection before a 503 |
//! | `RIVO_DB_MAX_CONNECTIONS` | `16` | database pool size |
//! | `RIVO_SHUTDOWN_TIMEOUT_SECS` | `30` | how long a graceful shutdown waits for requests in flight |
//! | `RIVO_REQUEST_TIMEOUT_SECS` | `30` | longest a request may take (gunicorn's default worker timeout) before a `503`, e.g. when the database stops answering (`0`: no limit) |
//! | `RIVO_TOKEN_TTL_HOURS` | `168` (7 days) | lifetime of API tokens from `POST /api/v1/account/login/` |
//! | `RIVO_SESSION_TTL_HOURS` | `336` (14 days, Django's default) | lifetime of admin browser sessions |
//! | `RIVO_LOGIN_MAX_FAILURES` | `5` | failed logins per email within the window before `429` |
//! | `RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS` | `20` | failed logins per client address within the window |
//! | `RIVO_LOGIN_WINDOW_SECS` | `900` | how long failed logins count |
//! | `RIVO_MAX_MESSAGE_CHARS` | `4194304` (4 Mi) | longest chat message in characters (`400` beyond, DRF-shaped) |
//! | `RIVO_MAX_CONTEXT_KEYS` | `1000` | most keys of a client's context (`400` beyond) |
//! | `RIVO_MAX_CONTEXT_BYTES` | `1048576` (1 MiB) | largest client context as JSON (`400` beyond) |
//! | `RIVO_AUDIT_MAX_VALUE_CHARS` | `1000` | longest string kept in an audit entry (cut with a `…[truncated: N characters]` marker) |
//! | `RIVO_AUDIT_MAX_BYTES` | `65536` | largest audit entry's changes (replaced by a summary beyond) |
//! | `RIVO_HISTORY_MAX_BYTES` | `16777216` (16 MiB) | most message bytes in one unpaginated history answer (cut at a message, with `next`) |
//! | `RIVO_PURGE_INTERVAL_SECS` | `3600` | how often `serve` deletes expired tokens, sessions and login failures (`0`: never; safe with several servers) |
//! | `RIVO_CHAT_RETENTION_DAYS` | `0` (off) | `serve` deletes chat sessions whose last message is older than this many days, with their messages (clients are kept; see README, Retention) |
//! | `RIVO_CHAT_RETENTION_INTERVAL_SECS` | `3600` | how often retention runs; once per interval across every server on the database |
//! | `RIVO_CHAT_RETENTION_BATCH` | `500` | most sessions one retention batch (one short transaction) deletes |
//! | `RIVO_TRUSTED_PROXIES` | `127.0.0.0/8,::1/128` | comma-separated networks (CIDRs) of reverse proxies whose `X-Forwarded-For` hops are believed; the client address is the right-most hop that is not one of them |
//! | `RIVO_DB_POOLER` | unset | `transaction` when `DATABASE_URL` points at a transaction-mode pooler (PgBouncer `pool_mode = transaction`, Supabase port 6543): unnamed statements only, no session state (same as the URL parameter `pooler=transaction`) |
//! | `RIVO_MAX_CONCURRENT_HASHES` | `0` (one per core) | password hashes (argon2, 19 MiB each) running at once; further logins wait their turn |
//! | `RIVO_CHAT_MAX_PER_ADDRESS` | `0` (off) | chat messages one client address may post per window, then `429` |
//! | `RIVO_CHAT_MAX_PER_SESSION` | `0` (off) | chat messages one session may receive per window, then `429` |
//! | `RIVO_CHAT_RATE_WINDOW_SECS` | `60` | the chat rate-limit window (counted in the database, shared by every server) |
//! | `RIVO_BOT_KEY` | unset (off) | when set, posting `sender_type=bot` needs the header `X-Rivo-Bot-Key` with this value, else `403` |
//! | `RIVO_HEADER_READ_TIMEOUT_SECS` | `15` | a connection must send a complete request head within this time of connecting or of its previous response (bounds slow clients and idle keep-alive connections) |
//! | `RIVO_MAX_CONNECTIONS` | `10000` (capped to the open-files limit minus 128) | connections served at once; one more gets a quick `503` and is closed |
//! | `RIVO_METRICS_TOKEN` | unset | when set, `GET /metrics` (Prometheus) is served on the main listener to requests with `Authorization: Bearer <token>` (`401` otherwise) |
//! | `RIVO_METRICS_BIND` | unset | an `address:port` (e.g. `127.0.0.1:9464`) where a second listener serves only `GET /metrics`, for a private network; with `RIVO_METRICS_TOKEN` also set, it asks for the token too. With neither variable set, metrics are off and `/metrics` answers `404` |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset (off) | OTLP/HTTP (protobuf) collector URL, e.g. `http://127.0.0.1:4318`: request and database spans are exported there (the other `OTEL_*` variables of the OpenTelemetry SDK apply, e.g. `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`) |
//! | `RIVO_WEBHOOK_ALLOW_PRIVATE` | `False` | `True` lets webhook URLs target private, loopback and link-local addresses (SSRF protection off; e.g. a bot backend on the same host) |
//! | `RIVO_WEBHOOK_ALLOW_NETWORKS` | none | comma-separated networks (CIDRs) webhook URLs may target despite the SSRF rules, e.g. `10.1.0.0/16` |
//! | `RIVO_WEBHOOK_TIMEOUT_SECS` | `10` | per-request timeout of a webhook delivery attempt |
//! | `RIVO_WEBHOOK_MAX_AGE_SECS` | `259200` (3 days) | a delivery not accepted within this long (since the event, or its last re-send) is marked failed |
//! | `RIVO_WEBHOOK_BACKOFF_BASE_MS` | `10000` | the first retry waits a random time up to this; each further bound doubles (full jitter) |
//! | `RIVO_WEBHOOK_BACKOFF_CAP_SECS` | `3600` | the retry bound stops doubling here |
//! | `RIVO_WEBHOOK_CONCURRENCY` | `16` | delivery attempts one server runs at once; `0`: this server delivers nothing (it still writes the outbox; other servers deliver) |
//! | `AI_INTEGRATIONS_OPENAI_API_KEY` | none | the AI summaries' API key (the original's variable), sent as `Authorization: Bearer`; never logged |
//! | `AI_INTEGRATIONS_OPENAI_BASE_URL` | none (OpenAI's with a key) | the OpenAI-compatible API root, e.g. `http://localhost:11434/v1` (Ollama); neither this nor a key: summaries are disabled |
//! | `RIVO_AI_MODEL` | `gpt-4o-mini` | the model the summaries ask for |
//! | `RIVO_AI_TIMEOUT_SECS` | `60` | one summary attempt's limit (connect, request and answer) |
//! | `RIVO_AI_MAX_ATTEMPTS` | `4` | attempts before a summary job fails (exponential backoff from `RIVO_AI_BACKOFF_BASE_MS`, default `10000`) |
//! | `RIVO_AI_PROMPT_FILE` | built in | a file whose text replaces the summaries' instructions (the system message) |
//! | `RIVO_AI_MAX_TRANSCRIPT_CHARS` | `24000` | most characters of conversation sent (the latest kept) |
//! | `RIVO_WEBHOOK_RETENTION_DAYS` | `7` | delivered webhook deliveries older than this are deleted by the purge task |
//! | `RIVO_CHAT_COMPAT` | `original` | the chat wire contract: `original` (898bd7e, byte for byte) or `lead-capture` (the later original's: `data_type` on messages, its validation texts, `name`/`email`/`phone` messages create and update the session's client; see README, Chat contracts) |
//! | `RIVO_LEAD_ANY_SENDER` | `False` | `lead-capture`: `True` lets `sender_type=bot` messages set contact details too (the later original did); by default only `client` messages do |
//! | `RIVO_LEAD_ASSIGN_ROLE` | unset | `lead-capture`: the role name (e.g. `CSM`) whose active users get completed leads round-robin; unset: completed leads are "awaiting assignment" |
//! | `RIVO_LEAD_ASSIGN_CAP` | `50` | most open leads (active assignments of clients not lost, closed or rejected) per person under `RIVO_LEAD_ASSIGN_ROLE`; everyone at the cap: awaiting assignment |
//! | `RUST_LOG` | `info` | log filter; `RIVO_LOG_FORMAT=json` for JSON lines |

use std::net::SocketAddr;
use std::time::Duration;

use rivo_core::StoreOptions;
use rivo_core::auth::LoginPolicy;

mod deploy;
mod env;
mod hosts;
mod redact;
#[cfg(test)]
mod tests;

pub use deploy::{DeployIssue, METRICS_TOKEN_MIN_LENGTH, SECRET_KEY_MIN_LENGTH};
pub use env::load_dotenv;
pub use hosts::{DEBUG_ALLOWED_HOSTS, host_domain};
pub use redact::redact_url;

/// The development key used when `SECRET_KEY` is unset. Refused when `DEBUG=False`.
pub const DEVELOPMENT_SECRET_KEY: &str = "rivo-insecure-development-key-do-not-use-in-production";

/// The default `DATABASE_URL`: an SQLite file in the working directory, created on start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://rivo.sqlite3?mode=rwc";

/// Server configuration. `Debug` never shows the secret key or the database password.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `SECRET_KEY`.
    pub secret_key: String,
    /// `DEBUG`.
    pub debug: bool,
    /// `ALLOWED_HOSTS`; `None` when unset.
    pub allowed_hosts: Option<Vec<String>>,
    /// `BIND_ADDRESS` and `PORT`.
    pub bind: SocketAddr,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: Vec<String>,
    /// `RIVO_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `RIVO_DB_TIMEOUT_SECS`.
    pub db_timeout: Duration,
    /// `RIVO_DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `RIVO_APPEND_BATCH_MAX`: most chat messages one group commit writes.
    pub append_batch_max: usize,
    /// `RIVO_APPEND_WRITERS`: group-commit batches in flight at once (PostgreSQL; SQLite has
    /// one writer).
    pub append_writers: usize,
    /// `RIVO_SHUTDOWN_TIMEOUT_SECS`.
    pub shutdown_timeout: Duration,
    /// `RIVO_REQUEST_TIMEOUT_SECS`: a request still unanswered after this gets a `503` (zero:
    /// no limit).
    pub request_timeout: Duration,
    /// `RIVO_TOKEN_TTL_HOURS`.
    pub token_ttl: Duration,
    /// `RIVO_SESSION_TTL_HOURS`.
    pub session_ttl: Duration,
    /// `RIVO_LOGIN_MAX_FAILURES`, `RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS`, `RIVO_LOGIN_WINDOW_SECS`.
    pub login_policy: LoginPolicy,
    /// `RIVO_PURGE_INTERVAL_SECS`: how often expired rows are purged (zero: never).
    pub purge_interval: Duration,
    /// `RIVO_CHAT_RETENTION_DAYS`: sessions idle longer than this many days are deleted (zero:
    /// never, the default).
    pub chat_retention_days: u32,
    /// `RIVO_CHAT_RETENTION_INTERVAL_SECS`: how often retention runs (across all servers).
    pub chat_retention_interval: Duration,
    /// `RIVO_CHAT_RETENTION_BATCH`: most sessions per retention batch.
    pub chat_retention_batch: u32,
    /// `RIVO_MAX_MESSAGE_CHARS`, `RIVO_MAX_CONTEXT_KEYS`, `RIVO_MAX_CONTEXT_BYTES`,
    /// `RIVO_AUDIT_MAX_VALUE_CHARS`, `RIVO_AUDIT_MAX_BYTES`, `RIVO_HISTORY_MAX_BYTES`.
    pub limits: rivo_core::Limits,
    /// `RIVO_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` hops are believed.
    pub trusted_proxies: Vec<crate::proxy::IpNet>,
    /// `RIVO_METRICS_TOKEN`: the bearer token `GET /metrics` asks for (on the main listener,
    /// `/metrics` exists only when it is set).
    pub metrics_token: Option<String>,
    /// `RIVO_METRICS_BIND`: the address of a second listener that serves only `/metrics`.
    pub metrics_bind: Option<SocketAddr>,
    /// `RIVO_DB_POOLER=transaction`: PostgreSQL is reached through a transaction-mode pooler.
    pub db_pooler_transaction: bool,
    /// `RIVO_MAX_CONCURRENT_HASHES`: password hashes running at once (`0`: one per core).
    pub max_concurrent_hashes: usize,
    /// `RIVO_CHAT_MAX_PER_ADDRESS`, `RIVO_CHAT_MAX_PER_SESSION`, `RIVO_CHAT_RATE_WINDOW_SECS`,
    /// `RIVO_BOT_KEY`: the optional protections of the public chat POST (all off by default).
    pub chat_policy: rivo_core::chat_guard::ChatPolicy,
    /// `RIVO_HEADER_READ_TIMEOUT_SECS`: longest wait for a request head (also the keep-alive
    /// idle limit).
    pub header_read_timeout: Duration,
    /// `RIVO_MAX_CONNECTIONS`: connections served at once.
    pub max_connections: usize,
    /// `RIVO_MAX_EVENT_STREAMS`, `RIVO_EVENT_STREAM_MAX_SECS`, `RIVO_EVENT_STREAM_HEARTBEAT_SECS`:
    /// the live event streams (server-sent events).
    pub event_streams: EventStreamLimits,
    /// `RIVO_WEBHOOK_*`: SSRF rules, timeouts, retries and retention of webhooks.
    pub webhooks: rivo_core::webhooks::WebhookOptions,
    /// `AI_INTEGRATIONS_OPENAI_*` and `RIVO_AI_*`: how AI summaries are made.
    pub summaries: rivo_core::summaries::SummaryOptions,
    /// `RIVO_CHAT_COMPAT`: which chat wire contract the server speaks.
    pub chat_compat: ChatCompat,
    /// `RIVO_LEAD_ANY_SENDER`, `RIVO_LEAD_ASSIGN_ROLE`, `RIVO_LEAD_ASSIGN_CAP`: lead capture
    /// (used in the `lead-capture` contract only).
    pub lead_capture: rivo_core::leads::LeadCaptureOptions,
}

/// The chat wire contract (`RIVO_CHAT_COMPAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatCompat {
    /// `original`: the 898bd7e contract byte for byte (no `data_type`; the key is ignored).
    #[default]
    Original,
    /// `lead-capture`: the later original's (1ecf1f0) contract: the optional `data_type`, its
    /// validation texts, `data_type` in every message answered, `"session_id required"`, and
    /// name/email/phone messages captured onto the session's client.
    LeadCapture,
}

impl ChatCompat {
    /// The variable's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatCompat::Original => "original",
            ChatCompat::LeadCapture => "lead-capture",
        }
    }
}

/// Limits of the live event streams (`GET /api/v1/chat/events/`, `GET /api/v1/admin/events/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStreamLimits {
    /// `RIVO_MAX_EVENT_STREAMS`: streams open at once on this server (both kinds together);
    /// one more is answered `503`. Zero refuses every stream.
    pub max_streams: usize,
    /// `RIVO_EVENT_STREAM_MAX_SECS`: a stream ends after this long; the client reconnects with
    /// `Last-Event-ID` and loses nothing (browsers' `EventSource` does it by itself).
    pub max_duration: Duration,
    /// `RIVO_EVENT_STREAM_HEARTBEAT_SECS`: a comment line (`:`) is sent after this long without
    /// an event, so proxies keep the connection and clients notice a dead one.
    pub heartbeat: Duration,
}

impl Default for EventStreamLimits {
    fn default() -> Self {
        Self {
            max_streams: 1000,
            max_duration: Duration::from_secs(300),
            heartbeat: Duration::from_secs(15),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value that cannot be used.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value (never a secret).
        value: String,
        /// What is expected.
        reason: &'static str,
    },
    /// `DEBUG=False` with the built-in development key.
    #[error(
        "refusing to start with DEBUG=False and the built-in development SECRET_KEY: \
         set SECRET_KEY to a long random value (e.g. `openssl rand -base64 48`)"
    )]
    InsecureSecretKey,
    /// `DEBUG=False` without `ALLOWED_HOSTS`.
    #[error(
        "refusing to start with DEBUG=False and ALLOWED_HOSTS unset: set ALLOWED_HOSTS to the \
         comma-separated host names this server answers to (e.g. `chat.example.com`)"
    )]
    AllowedHostsUnset,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            secret_key: DEVELOPMENT_SECRET_KEY.to_owned(),
            debug: true,
            allowed_hosts: None,
            bind: SocketAddr::from(([0, 0, 0, 0], 5000)),
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 8 * 1024 * 1024,
            db_timeout: Duration::from_secs(5),
            db_max_connections: 16,
            append_batch_max: StoreOptions::default().append_batch_max,
            append_writers: StoreOptions::default().append_writers,
            shutdown_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            login_policy: LoginPolicy::default(),
            purge_interval: Duration::from_secs(3600),
            chat_retention_days: 0,
            chat_retention_interval: Duration::from_secs(3600),
            chat_retention_batch: 500,
            limits: rivo_core::Limits::default(),
            trusted_proxies: crate::proxy::default_trusted_proxies(),
            metrics_token: None,
            metrics_bind: None,
            db_pooler_transaction: false,
            max_concurrent_hashes: 0,
            chat_policy: rivo_core::chat_guard::ChatPolicy {
                window: Duration::from_secs(60),
                ..Default::default()
            },
            header_read_timeout: Duration::from_secs(15),
            max_connections: 10_000,
            event_streams: EventStreamLimits::default(),
            webhooks: rivo_core::webhooks::WebhookOptions::default(),
            summaries: rivo_core::summaries::SummaryOptions::default(),
            chat_compat: ChatCompat::Original,
            lead_capture: rivo_core::leads::LeadCaptureOptions::default(),
        }
    }
}

impl Config {
    /// Refuses settings that are unsafe in production: with `DEBUG=False`, the development
    /// `SECRET_KEY` and an unset `ALLOWED_HOSTS` are errors.
    pub fn check_secure(&self) -> Result<(), ConfigError> {
        if self.debug {
            return Ok(());
        }
        if self.secret_key == DEVELOPMENT_SECRET_KEY {
            return Err(ConfigError::InsecureSecretKey);
        }
        if self.allowed_hosts.as_ref().is_none_or(|h| h.is_empty()) {
            return Err(ConfigError::AllowedHostsUnset);
        }
        Ok(())
    }

    /// Whether metrics are collected and served: `RIVO_METRICS_TOKEN` or `RIVO_METRICS_BIND`
    /// is set.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_token.is_some() || self.metrics_bind.is_some()
    }
}
