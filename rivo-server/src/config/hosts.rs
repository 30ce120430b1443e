//! The `ALLOWED_HOSTS` check: Django's Host syntax and patterns.

use super::Config;

impl Config {
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

/// A host without its `:port` (an IPv6 address keeps its brackets).
pub(super) fn strip_port(host: &str) -> &str {
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
