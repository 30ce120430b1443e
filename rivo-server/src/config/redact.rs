//! Keeping secrets out of logs: `Debug` of [`Config`] and database URLs without passwords.

use std::fmt;

use super::Config;

impl Config {
    /// The database URL with its password replaced by `***`, safe for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
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
