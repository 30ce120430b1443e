//! Where webhooks may go and how they are delivered: [`WebhookOptions`], [`Network`], and the
//! state a store's clones share.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::http::Connections;
use super::kind_bit;
use super::ssrf::canonical;
use crate::events::EventKind;

/// A network (CIDR) that webhook URLs may target despite the SSRF rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Network {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Both addresses as the low `width` bits of a u128.
        let (net, ip, width) = match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => (u32::from(net).into(), u32::from(ip).into(), 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => (u128::from(net), u128::from(ip), 128),
            _ => return false,
        };
        let bits = u32::from(self.prefix).min(width);
        // The first `bits` of `width` agree (a shift by the whole width would overflow).
        bits == 0 || (net ^ ip) >> (width - bits) == 0
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    /// `10.0.0.0/8`, `fd00::/8`, or a single address (`127.0.0.1`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }
}

/// How webhooks are checked and delivered. Set with [`Store::set_webhook_options`](crate::Store::set_webhook_options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// Allow every target address, private and loopback ones included (SSRF protection off;
    /// e.g. a receiver on the same host). Default `false`.
    pub allow_private: bool,
    /// Networks allowed despite the SSRF rules (e.g. the bot backend's private subnet).
    pub allow_networks: Vec<Network>,
    /// Per-request timeout (connect, TLS, request and response head). Default 10 s.
    pub timeout: Duration,
    /// After this long since an event (or its last re-send) without a successful attempt, the
    /// delivery is marked failed. Default 3 days.
    pub max_age: Duration,
    /// The first retry waits up to this long; each further one up to twice as long as the
    /// previous bound (full jitter: a uniform random delay below the bound). Default 10 s.
    pub backoff_base: Duration,
    /// The bound stops growing here. Default 1 hour.
    pub backoff_cap: Duration,
    /// Deliveries one worker attempts at once. Default 16; 0: the worker delivers nothing
    /// (this process only writes the outbox; other processes on the database deliver).
    pub concurrency: usize,
    /// How often the worker looks for due deliveries without being woken (other servers'
    /// events, retries). Default 1 s.
    pub poll_interval: Duration,
    /// Delivered rows older than this are deleted by [`Store::purge_expired`](crate::Store::purge_expired). Default 7 days.
    pub delivered_retention: Duration,
    /// Most endpoints. Default 100.
    pub max_endpoints: u32,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            allow_private: false,
            allow_networks: Vec::new(),
            timeout: Duration::from_secs(10),
            max_age: Duration::from_secs(3 * 24 * 3600),
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(3600),
            concurrency: 16,
            poll_interval: Duration::from_secs(1),
            delivered_retention: Duration::from_secs(7 * 24 * 3600),
            max_endpoints: 100,
        }
    }
}

impl WebhookOptions {
    /// How long a worker's claim on a delivery lasts: twice the timeout plus 5 s. A worker
    /// that dies mid-attempt leaves the delivery to any worker after this long.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }
}

/// Webhook state shared by a store's clones: the worker's wake-up, which kinds any active
/// endpoint wants (so appends wake the worker only when there is something to deliver) and
/// the options.
pub(crate) struct Shared {
    pub(super) wake: tokio::sync::Notify,
    pub(super) subscribed: AtomicI64,
    pub(super) options: RwLock<Arc<WebhookOptions>>,
    /// Idle keep-alive connections to endpoints.
    pub(super) connections: Connections,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            wake: tokio::sync::Notify::new(),
            // Unknown until the first refresh: assume everything (a spurious wake is cheap).
            subscribed: AtomicI64::new(-1),
            options: RwLock::new(Arc::new(WebhookOptions::default())),
            connections: Connections::default(),
        }
    }
}

impl Shared {
    /// Wakes the worker when an active endpoint may want `kind` (call after the commit).
    pub(crate) fn committed(&self, kind: EventKind) {
        if self.subscribed.load(Ordering::Relaxed) & i64::from(kind_bit(kind)) != 0 {
            self.wake.notify_one();
        }
    }

    /// The current options (shared: the worker reads them on every cycle).
    pub(super) fn options(&self) -> Arc<WebhookOptions> {
        match self.options.read() {
            Ok(o) => Arc::clone(&o),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}
