//! `rivo-server check --deploy`: the insecure settings of a configuration, in the manner of
//! Django's deployment checklist.

use std::fmt;
use std::time::Duration;

use super::hosts::strip_port;
use super::{Config, DEVELOPMENT_SECRET_KEY};

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
