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

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rivo_core::StoreOptions;
use rivo_core::auth::LoginPolicy;

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
    /// Reads the process environment (after loading `.env` if present, without overriding
    /// variables that are already set).
    pub fn from_env() -> Result<Self, ConfigError> {
        load_dotenv();
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `var` (a variable's value by name), for tests and embedding.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let debug = match get("DEBUG") {
            None => defaults.debug,
            Some(value) => parse_bool(&value).ok_or(ConfigError::Invalid {
                name: "DEBUG",
                value,
                reason: "expected True or False",
            })?,
        };
        let ip: IpAddr = parse_or("BIND_ADDRESS", get("BIND_ADDRESS"), defaults.bind.ip())?;
        let port: u16 = parse_or("PORT", get("PORT"), defaults.bind.port())?;
        Ok(Self {
            database_url: get("DATABASE_URL").unwrap_or(defaults.database_url),
            secret_key: var("SECRET_KEY")
                .filter(|v| !v.is_empty())
                .unwrap_or(defaults.secret_key),
            debug,
            allowed_hosts: get("ALLOWED_HOSTS").map(|v| split_list(&v)),
            bind: SocketAddr::new(ip, port),
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    split_list(&v)
                        .into_iter()
                        .map(|o| o.trim_end_matches('/').to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: parse_or(
                "RIVO_MAX_BODY_BYTES",
                get("RIVO_MAX_BODY_BYTES"),
                defaults.max_body_bytes,
            )?,
            db_timeout: Duration::from_secs(parse_or(
                "RIVO_DB_TIMEOUT_SECS",
                get("RIVO_DB_TIMEOUT_SECS"),
                defaults.db_timeout.as_secs(),
            )?),
            db_max_connections: parse_or(
                "RIVO_DB_MAX_CONNECTIONS",
                get("RIVO_DB_MAX_CONNECTIONS"),
                defaults.db_max_connections,
            )?,
            append_batch_max: parse_or::<usize>(
                "RIVO_APPEND_BATCH_MAX",
                get("RIVO_APPEND_BATCH_MAX"),
                defaults.append_batch_max,
            )?
            .max(1),
            append_writers: parse_or::<usize>(
                "RIVO_APPEND_WRITERS",
                get("RIVO_APPEND_WRITERS"),
                defaults.append_writers,
            )?
            .max(1),
            shutdown_timeout: Duration::from_secs(parse_or(
                "RIVO_SHUTDOWN_TIMEOUT_SECS",
                get("RIVO_SHUTDOWN_TIMEOUT_SECS"),
                defaults.shutdown_timeout.as_secs(),
            )?),
            request_timeout: Duration::from_secs(parse_or(
                "RIVO_REQUEST_TIMEOUT_SECS",
                get("RIVO_REQUEST_TIMEOUT_SECS"),
                defaults.request_timeout.as_secs(),
            )?),
            token_ttl: Duration::from_secs(
                parse_or::<u64>(
                    "RIVO_TOKEN_TTL_HOURS",
                    get("RIVO_TOKEN_TTL_HOURS"),
                    defaults.token_ttl.as_secs() / 3600,
                )?
                .saturating_mul(3600),
            ),
            session_ttl: Duration::from_secs(
                parse_or::<u64>(
                    "RIVO_SESSION_TTL_HOURS",
                    get("RIVO_SESSION_TTL_HOURS"),
                    defaults.session_ttl.as_secs() / 3600,
                )?
                .saturating_mul(3600),
            ),
            login_policy: LoginPolicy {
                max_failures_per_email: parse_or(
                    "RIVO_LOGIN_MAX_FAILURES",
                    get("RIVO_LOGIN_MAX_FAILURES"),
                    defaults.login_policy.max_failures_per_email,
                )?,
                max_failures_per_address: parse_or(
                    "RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS",
                    get("RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS"),
                    defaults.login_policy.max_failures_per_address,
                )?,
                window: Duration::from_secs(parse_or(
                    "RIVO_LOGIN_WINDOW_SECS",
                    get("RIVO_LOGIN_WINDOW_SECS"),
                    defaults.login_policy.window.as_secs(),
                )?),
            },
            purge_interval: Duration::from_secs(parse_or(
                "RIVO_PURGE_INTERVAL_SECS",
                get("RIVO_PURGE_INTERVAL_SECS"),
                defaults.purge_interval.as_secs(),
            )?),
            chat_retention_days: parse_or(
                "RIVO_CHAT_RETENTION_DAYS",
                get("RIVO_CHAT_RETENTION_DAYS"),
                defaults.chat_retention_days,
            )?,
            chat_retention_interval: Duration::from_secs(
                parse_or(
                    "RIVO_CHAT_RETENTION_INTERVAL_SECS",
                    get("RIVO_CHAT_RETENTION_INTERVAL_SECS"),
                    defaults.chat_retention_interval.as_secs(),
                )?
                .max(1),
            ),
            chat_retention_batch: parse_or(
                "RIVO_CHAT_RETENTION_BATCH",
                get("RIVO_CHAT_RETENTION_BATCH"),
                defaults.chat_retention_batch,
            )?
            .clamp(1, 10_000),
            limits: rivo_core::Limits {
                max_message_chars: parse_or(
                    "RIVO_MAX_MESSAGE_CHARS",
                    get("RIVO_MAX_MESSAGE_CHARS"),
                    defaults.limits.max_message_chars,
                )?,
                max_context_keys: parse_or(
                    "RIVO_MAX_CONTEXT_KEYS",
                    get("RIVO_MAX_CONTEXT_KEYS"),
                    defaults.limits.max_context_keys,
                )?,
                max_context_bytes: parse_or(
                    "RIVO_MAX_CONTEXT_BYTES",
                    get("RIVO_MAX_CONTEXT_BYTES"),
                    defaults.limits.max_context_bytes,
                )?,
                max_audit_value_chars: parse_or(
                    "RIVO_AUDIT_MAX_VALUE_CHARS",
                    get("RIVO_AUDIT_MAX_VALUE_CHARS"),
                    defaults.limits.max_audit_value_chars,
                )?,
                max_audit_bytes: parse_or(
                    "RIVO_AUDIT_MAX_BYTES",
                    get("RIVO_AUDIT_MAX_BYTES"),
                    defaults.limits.max_audit_bytes,
                )?,
                max_history_bytes: parse_or(
                    "RIVO_HISTORY_MAX_BYTES",
                    get("RIVO_HISTORY_MAX_BYTES"),
                    defaults.limits.max_history_bytes,
                )?,
            },
            trusted_proxies: match get("RIVO_TRUSTED_PROXIES") {
                None => defaults.trusted_proxies,
                Some(value) => {
                    crate::proxy::parse_trusted_proxies(&value).ok_or(ConfigError::Invalid {
                        name: "RIVO_TRUSTED_PROXIES",
                        value,
                        reason: "expected comma-separated networks such as 10.0.0.0/8 or ::1",
                    })?
                }
            },
            metrics_token: var("RIVO_METRICS_TOKEN").filter(|v| !v.trim().is_empty()),
            metrics_bind: match get("RIVO_METRICS_BIND") {
                None => None,
                Some(value) => Some(value.trim().parse().map_err(|_| ConfigError::Invalid {
                    name: "RIVO_METRICS_BIND",
                    value,
                    reason: "expected an address and port such as 127.0.0.1:9464",
                })?),
            },
            db_pooler_transaction: match get("RIVO_DB_POOLER") {
                None => defaults.db_pooler_transaction,
                Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                    "transaction" => true,
                    "session" | "none" => false,
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "RIVO_DB_POOLER",
                            value,
                            reason: "expected transaction, session or none",
                        });
                    }
                },
            },
            max_concurrent_hashes: parse_or(
                "RIVO_MAX_CONCURRENT_HASHES",
                get("RIVO_MAX_CONCURRENT_HASHES"),
                defaults.max_concurrent_hashes,
            )?,
            chat_policy: rivo_core::chat_guard::ChatPolicy {
                max_per_address: parse_or(
                    "RIVO_CHAT_MAX_PER_ADDRESS",
                    get("RIVO_CHAT_MAX_PER_ADDRESS"),
                    defaults.chat_policy.max_per_address,
                )?,
                max_per_session: parse_or(
                    "RIVO_CHAT_MAX_PER_SESSION",
                    get("RIVO_CHAT_MAX_PER_SESSION"),
                    defaults.chat_policy.max_per_session,
                )?,
                window: Duration::from_secs(parse_or(
                    "RIVO_CHAT_RATE_WINDOW_SECS",
                    get("RIVO_CHAT_RATE_WINDOW_SECS"),
                    defaults.chat_policy.window.as_secs(),
                )?),
                bot_key: var("RIVO_BOT_KEY").filter(|v| !v.is_empty()),
            },
            header_read_timeout: Duration::from_secs(
                parse_or(
                    "RIVO_HEADER_READ_TIMEOUT_SECS",
                    get("RIVO_HEADER_READ_TIMEOUT_SECS"),
                    defaults.header_read_timeout.as_secs(),
                )?
                .max(1),
            ),
            max_connections: parse_or(
                "RIVO_MAX_CONNECTIONS",
                get("RIVO_MAX_CONNECTIONS"),
                defaults.max_connections,
            )?,
            event_streams: EventStreamLimits {
                max_streams: parse_or(
                    "RIVO_MAX_EVENT_STREAMS",
                    get("RIVO_MAX_EVENT_STREAMS"),
                    defaults.event_streams.max_streams,
                )?,
                max_duration: Duration::from_secs(
                    parse_or(
                        "RIVO_EVENT_STREAM_MAX_SECS",
                        get("RIVO_EVENT_STREAM_MAX_SECS"),
                        defaults.event_streams.max_duration.as_secs(),
                    )?
                    .max(1),
                ),
                heartbeat: Duration::from_secs(
                    parse_or(
                        "RIVO_EVENT_STREAM_HEARTBEAT_SECS",
                        get("RIVO_EVENT_STREAM_HEARTBEAT_SECS"),
                        defaults.event_streams.heartbeat.as_secs(),
                    )?
                    .max(1),
                ),
            },
            webhooks: webhook_options(&get, defaults.webhooks)?,
            summaries: summary_options(&get, defaults.summaries)?,
            chat_compat: match get("RIVO_CHAT_COMPAT") {
                None => defaults.chat_compat,
                Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                    "original" => ChatCompat::Original,
                    "lead-capture" | "lead_capture" => ChatCompat::LeadCapture,
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "RIVO_CHAT_COMPAT",
                            value,
                            reason: "expected original or lead-capture",
                        });
                    }
                },
            },
            lead_capture: lead_capture_options(&get)?,
        })
    }

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

    /// Whether a request's `Host` header value is allowed, as Django's `get_host` decides:
    /// first the syntax (Django's `host_validation_re`: a name of `a-z 0-9 . -` or a
    /// bracketed IPv6 address, then an optional `:port`; anything holding `/ ? # @ \`, spaces
    /// or other characters is refused, so `evil.com/.example.org` never matches
    /// `.example.org`), then the patterns: the port is ignored, `*` allows any host,
    /// `.example.com` allows the domain and its subdomains. With `ALLOWED_HOSTS` unset (only
    /// possible with `DEBUG=True`) the patterns are Django's DEBUG defaults: `localhost`,
    /// `.localhost`, `127.0.0.1` and `[::1]`. A request without a Host header (HTTP/1.0, or an
    /// in-process call) is checked as `localhost`, the name the admin's links then use.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = if host.is_empty() { "localhost" } else { host };
        let Some(domain) = host_domain(host) else {
            return false;
        };
        let patterns: Vec<String> = match &self.allowed_hosts {
            Some(patterns) => patterns.clone(),
            None => DEBUG_ALLOWED_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
        };
        patterns.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            pattern == "*"
                || pattern == domain
                || (pattern.starts_with('.')
                    && (domain.ends_with(&pattern) || domain == pattern[1..]))
        })
    }

    /// Whether metrics are collected and served: `RIVO_METRICS_TOKEN` or `RIVO_METRICS_BIND`
    /// is set.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_token.is_some() || self.metrics_bind.is_some()
    }

    /// The database URL with its password replaced by `***`, safe for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// One insecure setting found by [`Config::deploy_checklist`] (`rivo-server check --deploy`),
/// in the manner of Django's deployment checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployIssue {
    /// A stable identifier, e.g. `rivo.W001`.
    pub id: &'static str,
    /// The setting concerned, e.g. `DEBUG`.
    pub setting: &'static str,
    /// What is wrong and what to do, for the operator. Never contains a secret.
    pub message: String,
}

impl fmt::Display for DeployIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.id, self.setting, self.message)
    }
}

/// Shortest `RIVO_METRICS_TOKEN` accepted by the deployment checklist.
pub const METRICS_TOKEN_MIN_LENGTH: usize = 32;

/// Shortest `SECRET_KEY` accepted by the deployment checklist (Django's is 50 characters).
pub const SECRET_KEY_MIN_LENGTH: usize = 50;

impl Config {
    /// Every insecure setting of this configuration (empty when none). `rivo-server check
    /// --deploy` prints them and fails when any is found with `DEBUG=False`.
    pub fn deploy_checklist(&self) -> Vec<DeployIssue> {
        let mut issues = Vec::new();
        let mut issue = |id, setting, message: String| {
            issues.push(DeployIssue {
                id,
                setting,
                message,
            })
        };
        if self.debug {
            issue(
                "rivo.W001",
                "DEBUG",
                "DEBUG is True: set DEBUG=False in production (with DEBUG, cookies are sent \
                 without Secure and, when ALLOWED_HOSTS is unset, localhost names are accepted)"
                    .into(),
            );
            issue(
                "rivo.W002",
                "DEBUG",
                "the session and CSRF cookies are sent without the Secure flag because DEBUG is \
                 True: browsers would send them over plain HTTP"
                    .into(),
            );
        }
        if self.secret_key == DEVELOPMENT_SECRET_KEY {
            issue(
                "rivo.W003",
                "SECRET_KEY",
                "SECRET_KEY is the built-in development key, known to everyone: generate a \
                 long random one (e.g. `openssl rand -base64 48`)"
                    .into(),
            );
        } else {
            let unique: std::collections::BTreeSet<char> = self.secret_key.chars().collect();
            if self.secret_key.chars().count() < SECRET_KEY_MIN_LENGTH || unique.len() < 5 {
                issue(
                    "rivo.W004",
                    "SECRET_KEY",
                    format!(
                        "SECRET_KEY is weak: use at least {SECRET_KEY_MIN_LENGTH} random \
                         characters with at least 5 different ones"
                    ),
                );
            }
        }
        match &self.allowed_hosts {
            None => issue(
                "rivo.W005",
                "ALLOWED_HOSTS",
                "ALLOWED_HOSTS is unset: list the host names the server answers to".into(),
            ),
            Some(hosts) if hosts.is_empty() => issue(
                "rivo.W005",
                "ALLOWED_HOSTS",
                "ALLOWED_HOSTS is empty: list the host names the server answers to".into(),
            ),
            Some(hosts) if hosts.iter().any(|h| h == "*") => issue(
                "rivo.W006",
                "ALLOWED_HOSTS",
                "ALLOWED_HOSTS contains `*`: any Host header is accepted (host header \
                 poisoning of absolute links); list the real host names"
                    .into(),
            ),
            Some(_) => {}
        }
        if self.cors_allowed_origins.iter().any(|o| o == "*") {
            issue(
                "rivo.W007",
                "CORS_ALLOWED_ORIGINS",
                "CORS_ALLOWED_ORIGINS contains `*`: any web site may call the chat API from its \
                 visitors' browsers; list the front ends' origins"
                    .into(),
            );
        }
        let plain: Vec<&str> = self
            .cors_allowed_origins
            .iter()
            .map(String::as_str)
            .filter(|o| o.starts_with("http://") && !is_local_origin(o))
            .collect();
        if !plain.is_empty() {
            issue(
                "rivo.W008",
                "CORS_ALLOWED_ORIGINS",
                format!(
                    "CORS_ALLOWED_ORIGINS allows plain-HTTP origins ({}): use https://",
                    plain.join(", ")
                ),
            );
        }
        if let Some(rest) = self
            .database_url
            .strip_prefix("postgres://")
            .or_else(|| self.database_url.strip_prefix("postgresql://"))
        {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            let host = strip_port(host);
            let local = matches!(host, "" | "localhost" | "127.0.0.1" | "[::1]" | "::1")
                || host.starts_with("%2F")
                || host.starts_with('/');
            let tls = [
                "sslmode=require",
                "sslmode=verify-ca",
                "sslmode=verify-full",
            ]
            .iter()
            .any(|m| self.database_url.contains(m));
            if !local && !tls {
                issue(
                    "rivo.W009",
                    "DATABASE_URL",
                    "DATABASE_URL reaches a remote PostgreSQL server without \
                     `sslmode=require` (or verify-full): the password and data may cross the \
                     network unencrypted"
                        .into(),
                );
            }
        }
        let policy = &self.login_policy;
        if policy.max_failures_per_email == 0
            || policy.max_failures_per_email > 100
            || policy.max_failures_per_address == 0
            || policy.max_failures_per_address > 1000
            || policy.window < Duration::from_secs(60)
        {
            issue(
                "rivo.W010",
                "RIVO_LOGIN_MAX_FAILURES",
                format!(
                    "the login throttle is too lax to slow down password guessing \
                     ({} per email, {} per address, within {} s): keep the defaults (5, 20, 900)",
                    policy.max_failures_per_email,
                    policy.max_failures_per_address,
                    policy.window.as_secs()
                ),
            );
        }
        if self.max_body_bytes > 64 * 1024 * 1024 {
            issue(
                "rivo.W011",
                "RIVO_MAX_BODY_BYTES",
                format!(
                    "RIVO_MAX_BODY_BYTES is {} bytes: bodies that large let a client exhaust \
                     memory; the default is 8 MiB",
                    self.max_body_bytes
                ),
            );
        }
        if self.token_ttl > Duration::from_secs(90 * 24 * 3600)
            || self.session_ttl > Duration::from_secs(90 * 24 * 3600)
        {
            issue(
                "rivo.W012",
                "RIVO_TOKEN_TTL_HOURS",
                "API tokens or sessions live longer than 90 days: a stolen one stays usable; \
                 keep RIVO_TOKEN_TTL_HOURS and RIVO_SESSION_TTL_HOURS short"
                    .into(),
            );
        }
        if self.db_timeout.is_zero() || self.db_timeout > Duration::from_secs(60) {
            issue(
                "rivo.W013",
                "RIVO_DB_TIMEOUT_SECS",
                "RIVO_DB_TIMEOUT_SECS should be between 1 and 60 seconds: requests pile up \
                 while the database is down"
                    .into(),
            );
        }
        if let Some(token) = &self.metrics_token
            && token.chars().count() < METRICS_TOKEN_MIN_LENGTH
        {
            issue(
                "rivo.W020",
                "RIVO_METRICS_TOKEN",
                format!(
                    "RIVO_METRICS_TOKEN is shorter than {METRICS_TOKEN_MIN_LENGTH} characters: \
                     use a long random one (e.g. `openssl rand -hex 32`)"
                ),
            );
        }
        if let Some(bind) = self.metrics_bind
            && self.metrics_token.is_none()
            && !bind.ip().is_loopback()
        {
            issue(
                "rivo.W021",
                "RIVO_METRICS_BIND",
                format!(
                    "RIVO_METRICS_BIND={bind} serves /metrics without a token on a \
                     non-loopback address: keep that port on a private network or firewall it, \
                     or set RIVO_METRICS_TOKEN too"
                ),
            );
        }
        if self.request_timeout.is_zero() {
            issue(
                "rivo.W014",
                "RIVO_REQUEST_TIMEOUT_SECS",
                "RIVO_REQUEST_TIMEOUT_SECS is 0: a request whose database stops answering \
                 waits forever; keep a limit (default 30 s)"
                    .into(),
            );
        }
        issues
    }
}

/// `http://localhost:…` and `http://127.0.0.1:…` (development front ends).
fn is_local_origin(origin: &str) -> bool {
    let host = origin.trim_start_matches("http://");
    let host = strip_port(host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.database_url_redacted())
            .field("secret_key", &"***")
            .field("debug", &self.debug)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("bind", &self.bind)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("db_timeout", &self.db_timeout)
            .field("db_max_connections", &self.db_max_connections)
            .field("append_batch_max", &self.append_batch_max)
            .field("append_writers", &self.append_writers)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("token_ttl", &self.token_ttl)
            .field("session_ttl", &self.session_ttl)
            .field("login_policy", &self.login_policy)
            .field("purge_interval", &self.purge_interval)
            .field("chat_retention_days", &self.chat_retention_days)
            .field("chat_retention_interval", &self.chat_retention_interval)
            .field("chat_retention_batch", &self.chat_retention_batch)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_bind", &self.metrics_bind)
            .field("db_pooler_transaction", &self.db_pooler_transaction)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("chat_policy", &self.chat_policy)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("event_streams", &self.event_streams)
            .field("webhooks", &self.webhooks)
            .field("summaries", &self.summaries)
            .field("chat_compat", &self.chat_compat)
            .field("lead_capture", &self.lead_capture)
            .finish()
    }
}

/// Loads `.env` from the working directory (or a parent) into the environment, without
/// overriding variables that are already set. A missing file is normal; a malformed one is
/// reported on stderr and ignored. Call it before starting threads.
pub fn load_dotenv() {
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("warning: ignoring .env: {err}");
    }
}

/// `scheme://user:password@host/…` → `scheme://user:***@host/…`; other URLs unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let without_password = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    redact_query_password(without_password)
}

/// Hides a `password=` query parameter (PostgreSQL URLs accept one).
fn redact_query_password(url: String) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// The hosts allowed with `DEBUG=True` and `ALLOWED_HOSTS` unset: Django's defaults.
pub const DEBUG_ALLOWED_HOSTS: [&str; 4] = ["localhost", ".localhost", "127.0.0.1", "[::1]"];

/// The domain of a Host value (lowercase, without port and trailing dot) if its syntax is
/// valid by Django's `host_validation_re`,
/// `^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9\.:]+\])(:[0-9]+)?$`; `None` otherwise.
pub fn host_domain(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let (domain, rest) = if let Some(inner) = host.strip_prefix('[') {
        let end = inner.find(']')?;
        let address = &inner[..end];
        let (before, after) = address.split_once(':')?;
        let ok = before.bytes().all(|b| b.is_ascii_hexdigit())
            && !after.is_empty()
            && after
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
        if !ok {
            return None;
        }
        (host[..end + 2].to_owned(), &host[end + 2..])
    } else {
        let end = host.find(':').unwrap_or(host.len());
        let name = &host[..end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return None;
        }
        (name.to_owned(), &host[end..])
    };
    if let Some(port) = rest.strip_prefix(':') {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    } else if !rest.is_empty() {
        return None;
    }
    let domain = domain.trim_end_matches('.').to_owned();
    (!domain.is_empty()).then_some(domain)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:5000 → [::1]
        return match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `RIVO_WEBHOOK_*` variables over `defaults`.
fn webhook_options(
    get: &dyn Fn(&str) -> Option<String>,
    defaults: rivo_core::webhooks::WebhookOptions,
) -> Result<rivo_core::webhooks::WebhookOptions, ConfigError> {
    let allow_private = match get("RIVO_WEBHOOK_ALLOW_PRIVATE") {
        None => defaults.allow_private,
        Some(value) => parse_bool(&value).ok_or(ConfigError::Invalid {
            name: "RIVO_WEBHOOK_ALLOW_PRIVATE",
            value,
            reason: "expected True or False",
        })?,
    };
    let allow_networks = match get("RIVO_WEBHOOK_ALLOW_NETWORKS") {
        None => defaults.allow_networks,
        Some(value) => value
            .split(',')
            .filter(|n| !n.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<rivo_core::webhooks::Network>, String>>()
            .map_err(|_| ConfigError::Invalid {
                name: "RIVO_WEBHOOK_ALLOW_NETWORKS",
                value,
                reason: "expected comma-separated networks such as 10.0.0.0/8 or fd00::/8",
            })?,
    };
    let secs = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(parse_or(
            name,
            get(name),
            default.as_secs(),
        )?))
    };
    Ok(rivo_core::webhooks::WebhookOptions {
        allow_private,
        allow_networks,
        timeout: secs("RIVO_WEBHOOK_TIMEOUT_SECS", defaults.timeout)?.max(Duration::from_secs(1)),
        max_age: secs("RIVO_WEBHOOK_MAX_AGE_SECS", defaults.max_age)?,
        backoff_base: Duration::from_millis(parse_or(
            "RIVO_WEBHOOK_BACKOFF_BASE_MS",
            get("RIVO_WEBHOOK_BACKOFF_BASE_MS"),
            u64::try_from(defaults.backoff_base.as_millis()).unwrap_or(u64::MAX),
        )?),
        backoff_cap: secs("RIVO_WEBHOOK_BACKOFF_CAP_SECS", defaults.backoff_cap)?,
        concurrency: parse_or(
            "RIVO_WEBHOOK_CONCURRENCY",
            get("RIVO_WEBHOOK_CONCURRENCY"),
            defaults.concurrency,
        )?
        .min(1024),
        delivered_retention: Duration::from_secs(
            parse_or(
                "RIVO_WEBHOOK_RETENTION_DAYS",
                get("RIVO_WEBHOOK_RETENTION_DAYS"),
                defaults.delivered_retention.as_secs() / 86_400,
            )?
            .saturating_mul(86_400),
        ),
        ..defaults
    })
}

/// The `AI_INTEGRATIONS_OPENAI_*` and `RIVO_AI_*` variables over `defaults`.
fn summary_options(
    get: &dyn Fn(&str) -> Option<String>,
    defaults: rivo_core::summaries::SummaryOptions,
) -> Result<rivo_core::summaries::SummaryOptions, ConfigError> {
    let text = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let base_url = match text("AI_INTEGRATIONS_OPENAI_BASE_URL") {
        None => defaults.base_url,
        Some(value) => {
            let rest = value
                .strip_prefix("https://")
                .or_else(|| value.strip_prefix("http://"))
                .unwrap_or_default();
            let ok = !rest.is_empty() && !rest.starts_with('/');
            if !ok {
                return Err(ConfigError::Invalid {
                    name: "AI_INTEGRATIONS_OPENAI_BASE_URL",
                    value,
                    reason: "expected an http:// or https:// URL such as https://api.openai.com/v1",
                });
            }
            Some(value)
        }
    };
    let prompt = match text("RIVO_AI_PROMPT_FILE") {
        None => defaults.prompt,
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(p) if !p.trim().is_empty() => p,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "RIVO_AI_PROMPT_FILE",
                    value: path,
                    reason: "expected a readable, non-empty UTF-8 text file",
                });
            }
        },
    };
    Ok(rivo_core::summaries::SummaryOptions {
        api_key: text("AI_INTEGRATIONS_OPENAI_API_KEY").or(defaults.api_key),
        base_url,
        model: text("RIVO_AI_MODEL").unwrap_or(defaults.model),
        prompt,
        timeout: Duration::from_secs(parse_or(
            "RIVO_AI_TIMEOUT_SECS",
            get("RIVO_AI_TIMEOUT_SECS"),
            defaults.timeout.as_secs(),
        )?)
        .clamp(Duration::from_secs(1), Duration::from_secs(3600)),
        max_attempts: parse_or(
            "RIVO_AI_MAX_ATTEMPTS",
            get("RIVO_AI_MAX_ATTEMPTS"),
            defaults.max_attempts,
        )?
        .clamp(1, 100),
        backoff_base: Duration::from_millis(parse_or(
            "RIVO_AI_BACKOFF_BASE_MS",
            get("RIVO_AI_BACKOFF_BASE_MS"),
            u64::try_from(defaults.backoff_base.as_millis()).unwrap_or(u64::MAX),
        )?),
        max_transcript_chars: parse_or(
            "RIVO_AI_MAX_TRANSCRIPT_CHARS",
            get("RIVO_AI_MAX_TRANSCRIPT_CHARS"),
            defaults.max_transcript_chars,
        )?
        .clamp(100, 1_000_000),
        ..defaults
    })
}

/// `RIVO_LEAD_ANY_SENDER`, `RIVO_LEAD_ASSIGN_ROLE`, `RIVO_LEAD_ASSIGN_CAP`.
fn lead_capture_options(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<rivo_core::leads::LeadCaptureOptions, ConfigError> {
    let any_sender = match get("RIVO_LEAD_ANY_SENDER") {
        None => false,
        Some(value) => parse_bool(&value).ok_or(ConfigError::Invalid {
            name: "RIVO_LEAD_ANY_SENDER",
            value,
            reason: "expected True or False",
        })?,
    };
    let cap: u32 = parse_or("RIVO_LEAD_ASSIGN_CAP", get("RIVO_LEAD_ASSIGN_CAP"), 50)?;
    if cap == 0 {
        return Err(ConfigError::Invalid {
            name: "RIVO_LEAD_ASSIGN_CAP",
            value: get("RIVO_LEAD_ASSIGN_CAP").unwrap_or_default(),
            reason: "expected a whole number of at least 1",
        });
    }
    let assignment = match get("RIVO_LEAD_ASSIGN_ROLE") {
        None => rivo_core::leads::AssignmentRule::Awaiting,
        Some(role) => rivo_core::leads::AssignmentRule::RoundRobin {
            role: role.trim().to_owned(),
            cap,
        },
    };
    Ok(rivo_core::leads::LeadCaptureOptions {
        any_sender,
        assignment,
    })
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_or<T: std::str::FromStr>(
    name: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            value,
            reason: "not a valid value of the expected type",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://rivo:s3cret@db:5432/rivo?sslmode=require"),
            "postgres://rivo:***@db:5432/rivo?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/rivo?user=x&password=s3cret"),
            "postgres://db/rivo?user=x&password=***"
        );
        assert_eq!(
            redact_url("sqlite://rivo.sqlite3?mode=rwc"),
            "sqlite://rivo.sqlite3?mode=rwc"
        );
    }

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("example.com:5000"), "example.com");
        assert_eq!(strip_port("[::1]:5000"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}
