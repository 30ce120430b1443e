//! Reading a [`Config`] from environment variables (and `.env`).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use rivo_core::auth::LoginPolicy;
use rivo_core::leads::{AssignmentRule, LeadCaptureOptions};
use rivo_core::summaries::SummaryOptions;
use rivo_core::webhooks::{Network, WebhookOptions};

use super::{ChatCompat, Config, ConfigError, EventStreamLimits};

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
        let vars = Vars { var: &var };
        let debug = vars.flag("DEBUG", defaults.debug)?;
        let ip: IpAddr = vars.parse("BIND_ADDRESS", defaults.bind.ip())?;
        let port: u16 = vars.parse("PORT", defaults.bind.port())?;
        Ok(Self {
            database_url: vars.get("DATABASE_URL").unwrap_or(defaults.database_url),
            secret_key: vars.non_empty("SECRET_KEY").unwrap_or(defaults.secret_key),
            debug,
            allowed_hosts: vars.get("ALLOWED_HOSTS").map(|v| split_list(&v)),
            bind: SocketAddr::new(ip, port),
            cors_allowed_origins: vars
                .get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    split_list(&v)
                        .into_iter()
                        .map(|o| o.trim_end_matches('/').to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: vars.parse("RIVO_MAX_BODY_BYTES", defaults.max_body_bytes)?,
            db_timeout: vars.secs("RIVO_DB_TIMEOUT_SECS", defaults.db_timeout)?,
            db_max_connections: vars
                .parse("RIVO_DB_MAX_CONNECTIONS", defaults.db_max_connections)?,
            append_batch_max: vars
                .parse::<usize>("RIVO_APPEND_BATCH_MAX", defaults.append_batch_max)?
                .max(1),
            append_writers: vars
                .parse::<usize>("RIVO_APPEND_WRITERS", defaults.append_writers)?
                .max(1),
            shutdown_timeout: vars.secs("RIVO_SHUTDOWN_TIMEOUT_SECS", defaults.shutdown_timeout)?,
            request_timeout: vars.secs("RIVO_REQUEST_TIMEOUT_SECS", defaults.request_timeout)?,
            token_ttl: vars.hours("RIVO_TOKEN_TTL_HOURS", defaults.token_ttl)?,
            session_ttl: vars.hours("RIVO_SESSION_TTL_HOURS", defaults.session_ttl)?,
            login_policy: LoginPolicy {
                max_failures_per_email: vars.parse(
                    "RIVO_LOGIN_MAX_FAILURES",
                    defaults.login_policy.max_failures_per_email,
                )?,
                max_failures_per_address: vars.parse(
                    "RIVO_LOGIN_MAX_FAILURES_PER_ADDRESS",
                    defaults.login_policy.max_failures_per_address,
                )?,
                window: vars.secs("RIVO_LOGIN_WINDOW_SECS", defaults.login_policy.window)?,
            },
            purge_interval: vars.secs("RIVO_PURGE_INTERVAL_SECS", defaults.purge_interval)?,
            chat_retention_days: vars
                .parse("RIVO_CHAT_RETENTION_DAYS", defaults.chat_retention_days)?,
            chat_retention_interval: vars
                .secs(
                    "RIVO_CHAT_RETENTION_INTERVAL_SECS",
                    defaults.chat_retention_interval,
                )?
                .max(Duration::from_secs(1)),
            chat_retention_batch: vars
                .parse("RIVO_CHAT_RETENTION_BATCH", defaults.chat_retention_batch)?
                .clamp(1, 10_000),
            limits: rivo_core::Limits {
                max_message_chars: vars
                    .parse("RIVO_MAX_MESSAGE_CHARS", defaults.limits.max_message_chars)?,
                max_context_keys: vars
                    .parse("RIVO_MAX_CONTEXT_KEYS", defaults.limits.max_context_keys)?,
                max_context_bytes: vars
                    .parse("RIVO_MAX_CONTEXT_BYTES", defaults.limits.max_context_bytes)?,
                max_audit_value_chars: vars.parse(
                    "RIVO_AUDIT_MAX_VALUE_CHARS",
                    defaults.limits.max_audit_value_chars,
                )?,
                max_audit_bytes: vars
                    .parse("RIVO_AUDIT_MAX_BYTES", defaults.limits.max_audit_bytes)?,
                max_history_bytes: vars
                    .parse("RIVO_HISTORY_MAX_BYTES", defaults.limits.max_history_bytes)?,
            },
            trusted_proxies: vars
                .read(
                    "RIVO_TRUSTED_PROXIES",
                    "expected comma-separated networks such as 10.0.0.0/8 or ::1",
                    crate::proxy::parse_trusted_proxies,
                )?
                .unwrap_or(defaults.trusted_proxies),
            metrics_token: vars.get("RIVO_METRICS_TOKEN"),
            metrics_bind: vars.read(
                "RIVO_METRICS_BIND",
                "expected an address and port such as 127.0.0.1:9464",
                |value| value.trim().parse().ok(),
            )?,
            db_pooler_transaction: vars.choice(
                "RIVO_DB_POOLER",
                defaults.db_pooler_transaction,
                &[("transaction", true), ("session", false), ("none", false)],
                "expected transaction, session or none",
            )?,
            max_concurrent_hashes: vars
                .parse("RIVO_MAX_CONCURRENT_HASHES", defaults.max_concurrent_hashes)?,
            chat_policy: rivo_core::chat_guard::ChatPolicy {
                max_per_address: vars.parse(
                    "RIVO_CHAT_MAX_PER_ADDRESS",
                    defaults.chat_policy.max_per_address,
                )?,
                max_per_session: vars.parse(
                    "RIVO_CHAT_MAX_PER_SESSION",
                    defaults.chat_policy.max_per_session,
                )?,
                window: vars.secs("RIVO_CHAT_RATE_WINDOW_SECS", defaults.chat_policy.window)?,
                bot_key: vars.non_empty("RIVO_BOT_KEY"),
            },
            header_read_timeout: vars
                .secs(
                    "RIVO_HEADER_READ_TIMEOUT_SECS",
                    defaults.header_read_timeout,
                )?
                .max(Duration::from_secs(1)),
            max_connections: vars.parse("RIVO_MAX_CONNECTIONS", defaults.max_connections)?,
            event_streams: EventStreamLimits {
                max_streams: vars
                    .parse("RIVO_MAX_EVENT_STREAMS", defaults.event_streams.max_streams)?,
                max_duration: vars
                    .secs(
                        "RIVO_EVENT_STREAM_MAX_SECS",
                        defaults.event_streams.max_duration,
                    )?
                    .max(Duration::from_secs(1)),
                heartbeat: vars
                    .secs(
                        "RIVO_EVENT_STREAM_HEARTBEAT_SECS",
                        defaults.event_streams.heartbeat,
                    )?
                    .max(Duration::from_secs(1)),
            },
            webhooks: webhook_options(&vars, defaults.webhooks)?,
            summaries: summary_options(&vars, defaults.summaries)?,
            chat_compat: vars.choice(
                "RIVO_CHAT_COMPAT",
                defaults.chat_compat,
                &[
                    ("original", ChatCompat::Original),
                    ("lead-capture", ChatCompat::LeadCapture),
                    ("lead_capture", ChatCompat::LeadCapture),
                ],
                "expected original or lead-capture",
            )?,
            lead_capture: lead_capture_options(&vars)?,
        })
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

/// The variables, by name, and how one is read: a value of only white space counts as unset
/// (except where [`Vars::non_empty`] says otherwise), and a value that cannot be read is a
/// [`ConfigError::Invalid`] naming the variable.
struct Vars<'a> {
    var: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    /// The value, unless unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value, trimmed, unless unset or blank.
    fn trimmed(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.trim().to_owned())
    }

    /// The value as given, unless unset or empty (a secret may be all spaces).
    fn non_empty(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }

    /// The value read by `parse` (`None` when unset); a value it refuses is invalid: `reason`.
    fn read<T>(
        &self,
        name: &'static str,
        reason: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match parse(&value) {
            Some(parsed) => Ok(Some(parsed)),
            None => Err(ConfigError::Invalid {
                name,
                value,
                reason,
            }),
        }
    }

    /// The value parsed as a `T` (trimmed), or `default` when unset.
    fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        Ok(self
            .read(name, "not a valid value of the expected type", |value| {
                value.trim().parse().ok()
            })?
            .unwrap_or(default))
    }

    /// `True` or `False` (also `1`/`0`, `yes`/`no`, `on`/`off`), or `default` when unset.
    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        Ok(self
            .read(name, "expected True or False", parse_bool)?
            .unwrap_or(default))
    }

    /// One of `choices` by spelling (trimmed, any case), or `default` when unset.
    fn choice<T: Copy>(
        &self,
        name: &'static str,
        default: T,
        choices: &[(&str, T)],
        reason: &'static str,
    ) -> Result<T, ConfigError> {
        let chosen = self.read(name, reason, |value| {
            let value = value.trim().to_ascii_lowercase();
            choices
                .iter()
                .find(|(spelling, _)| *spelling == value)
                .map(|(_, choice)| *choice)
        })?;
        Ok(chosen.unwrap_or(default))
    }

    /// A whole number of `unit`s, or `default` (rounded down to whole units) when unset.
    fn duration(
        &self,
        name: &'static str,
        default: Duration,
        unit: Duration,
    ) -> Result<Duration, ConfigError> {
        let unit_secs = unit.as_secs();
        let units: u64 = self.parse(name, default.as_secs() / unit_secs)?;
        Ok(Duration::from_secs(units.saturating_mul(unit_secs)))
    }

    /// Whole seconds.
    fn secs(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        self.duration(name, default, Duration::from_secs(1))
    }

    /// Whole hours.
    fn hours(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        self.duration(name, default, Duration::from_secs(3600))
    }

    /// Whole days.
    fn days(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        self.duration(name, default, Duration::from_secs(86_400))
    }

    /// Whole milliseconds.
    fn millis(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        Ok(Duration::from_millis(self.parse(name, default)?))
    }
}

/// The `RIVO_WEBHOOK_*` variables over `defaults`.
fn webhook_options(vars: &Vars, defaults: WebhookOptions) -> Result<WebhookOptions, ConfigError> {
    let allow_private = vars.flag("RIVO_WEBHOOK_ALLOW_PRIVATE", defaults.allow_private)?;
    let allow_networks = vars.read(
        "RIVO_WEBHOOK_ALLOW_NETWORKS",
        "expected comma-separated networks such as 10.0.0.0/8 or fd00::/8",
        |value| {
            value
                .split(',')
                .filter(|n| !n.trim().is_empty())
                .map(str::parse)
                .collect::<Result<Vec<Network>, String>>()
                .ok()
        },
    )?;
    Ok(WebhookOptions {
        allow_private,
        allow_networks: allow_networks.unwrap_or(defaults.allow_networks),
        timeout: vars
            .secs("RIVO_WEBHOOK_TIMEOUT_SECS", defaults.timeout)?
            .max(Duration::from_secs(1)),
        max_age: vars.secs("RIVO_WEBHOOK_MAX_AGE_SECS", defaults.max_age)?,
        backoff_base: vars.millis("RIVO_WEBHOOK_BACKOFF_BASE_MS", defaults.backoff_base)?,
        backoff_cap: vars.secs("RIVO_WEBHOOK_BACKOFF_CAP_SECS", defaults.backoff_cap)?,
        concurrency: vars
            .parse("RIVO_WEBHOOK_CONCURRENCY", defaults.concurrency)?
            .min(1024),
        delivered_retention: vars
            .days("RIVO_WEBHOOK_RETENTION_DAYS", defaults.delivered_retention)?,
        ..defaults
    })
}

/// The `AI_INTEGRATIONS_OPENAI_*` and `RIVO_AI_*` variables over `defaults`.
fn summary_options(vars: &Vars, defaults: SummaryOptions) -> Result<SummaryOptions, ConfigError> {
    let base_url = match vars.trimmed("AI_INTEGRATIONS_OPENAI_BASE_URL") {
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
    let prompt = match vars.trimmed("RIVO_AI_PROMPT_FILE") {
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
    Ok(SummaryOptions {
        api_key: vars
            .trimmed("AI_INTEGRATIONS_OPENAI_API_KEY")
            .or(defaults.api_key),
        base_url,
        model: vars.trimmed("RIVO_AI_MODEL").unwrap_or(defaults.model),
        prompt,
        timeout: vars
            .secs("RIVO_AI_TIMEOUT_SECS", defaults.timeout)?
            .clamp(Duration::from_secs(1), Duration::from_secs(3600)),
        max_attempts: vars
            .parse("RIVO_AI_MAX_ATTEMPTS", defaults.max_attempts)?
            .clamp(1, 100),
        backoff_base: vars.millis("RIVO_AI_BACKOFF_BASE_MS", defaults.backoff_base)?,
        max_transcript_chars: vars
            .parse(
                "RIVO_AI_MAX_TRANSCRIPT_CHARS",
                defaults.max_transcript_chars,
            )?
            .clamp(100, 1_000_000),
        ..defaults
    })
}

/// `RIVO_LEAD_ANY_SENDER`, `RIVO_LEAD_ASSIGN_ROLE`, `RIVO_LEAD_ASSIGN_CAP`.
fn lead_capture_options(vars: &Vars) -> Result<LeadCaptureOptions, ConfigError> {
    let any_sender = vars.flag("RIVO_LEAD_ANY_SENDER", false)?;
    let cap: u32 = vars.parse("RIVO_LEAD_ASSIGN_CAP", 50)?;
    if cap == 0 {
        return Err(ConfigError::Invalid {
            name: "RIVO_LEAD_ASSIGN_CAP",
            value: vars.get("RIVO_LEAD_ASSIGN_CAP").unwrap_or_default(),
            reason: "expected a whole number of at least 1",
        });
    }
    let assignment = match vars.trimmed("RIVO_LEAD_ASSIGN_ROLE") {
        None => AssignmentRule::Awaiting,
        Some(role) => AssignmentRule::RoundRobin { role, cap },
    };
    Ok(LeadCaptureOptions {
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

/// A comma-separated list, blanks dropped.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}
