//! Signed webhooks: endpoints, the outbox, and the delivery worker.
//!
//! - **Endpoints** ([`Store::create_webhook`], …) are an `http(s)` URL, a signing secret, the
//!   [`EventKind`]s wanted and an active flag. URLs are checked against the SSRF rules of the
//!   store's [`WebhookOptions`] when registered and again, against the addresses the name
//!   resolves to, at every delivery (the connection goes to the address that was checked, so a
//!   DNS answer that changes in between cannot redirect it).
//! - **The outbox.** Every [`Event`] is written as one delivery row per subscribed active
//!   endpoint in the same transaction as the change it reports (nothing when no endpoint
//!   subscribes): client events when they are emitted, `message.created` by the group-commit
//!   batch that stores the messages. A reported event always happened; a committed change is
//!   always reported.
//! - **The worker** ([`Store::run_webhook_worker`]) claims due deliveries (PostgreSQL:
//!   `FOR UPDATE SKIP LOCKED` and a lease, so several servers each attempt a due delivery once,
//!   and a killed server's claims expire and are retried), POSTs them signed, records every
//!   attempt (status, latency, error) and retries failures with exponential backoff and full
//!   jitter until the give-up age. Delivery is at least once: a receiver deduplicates by the
//!   event id.
//!
//! ## The request
//!
//! `POST <url>` with `Content-Type: application/json` and the body
//! `{"id": "<event id>", "type": "message.created", "created_at": "<RFC 3339>", "data": {…}}`
//! (`type`/`data` are the serialised [`Event`]). Headers:
//!
//! - `Rivo-Event-Id`: the event id (the same on every retry; per event, not per endpoint);
//! - `Rivo-Event-Type`: the event's kind;
//! - `Rivo-Delivery-Id`: this endpoint's delivery of the event;
//! - `Rivo-Timestamp`: Unix seconds when this attempt was signed;
//! - `Rivo-Signature: t=<timestamp>,v1=<hex>`, where `<hex>` is the lowercase hex
//!   HMAC-SHA256, keyed with the endpoint's secret, of `"{timestamp}.{body}"` (the raw body
//!   bytes).
//!
//! A receiver recomputes the HMAC over the raw body, compares it in constant time, and refuses
//! timestamps too far from its clock (replays): [`verify_signature`] does all three.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::error::{Error, Result, Rule, ValidationErrors};
use crate::events::{Event, EventKind};
use crate::query::{Page, PageRequest};
use crate::store::{Store, dispatch};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Longest endpoint URL, in characters.
pub const MAX_URL_LEN: usize = 2048;
/// Shortest and longest secret a caller may give, in characters.
pub const SECRET_LEN: (usize, usize) = (16, 256);
/// Longest error text kept per attempt, in characters.
pub const MAX_ERROR_LEN: usize = 500;
/// Most bytes of a receiver's answer that are read (and discarded).
pub const MAX_RESPONSE_READ: usize = 64 * 1024;

// ----- settings -----

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
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
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

/// How webhooks are checked and delivered. Set with [`Store::set_webhook_options`].
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
    /// Delivered rows older than this are deleted by [`Store::purge_expired`]. Default 7 days.
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
    wake: tokio::sync::Notify,
    subscribed: AtomicI64,
    options: RwLock<WebhookOptions>,
    /// Idle keep-alive connections to endpoints.
    connections: Connections,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            wake: tokio::sync::Notify::new(),
            // Unknown until the first refresh: assume everything (a spurious wake is cheap).
            subscribed: AtomicI64::new(-1),
            options: RwLock::new(WebhookOptions::default()),
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

    fn options(&self) -> WebhookOptions {
        match self.options.read() {
            Ok(o) => o.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

// ----- public types -----

/// A registered endpoint (without its secret: see [`CreatedWebhook`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The kinds it receives.
    pub events: Vec<EventKind>,
    /// Whether it receives anything (an inactive endpoint gets no new deliveries, and its
    /// pending ones wait).
    pub active: bool,
    /// A note for admins.
    pub description: String,
    /// The last four characters of the secret (to tell secrets apart).
    pub secret_hint: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An endpoint and its secret, as returned once when created (or when the secret changes).
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    /// The endpoint.
    pub webhook: Webhook,
    /// The signing secret.
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("CreatedWebhook")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// A new endpoint.
#[derive(Clone, Default)]
pub struct NewWebhook {
    /// `http://` or `https://`, at most [`MAX_URL_LEN`] characters, no credentials.
    pub url: String,
    /// The kinds wanted (at least one).
    pub events: Vec<EventKind>,
    /// The signing secret; `None` generates one (`whsec_` and 64 hex digits).
    pub secret: Option<String>,
    /// Active from the start.
    pub active: bool,
    /// A note for admins (at most 255 characters).
    pub description: String,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A change to an endpoint: `None` keeps a field.
#[derive(Clone, Default)]
pub struct WebhookUpdate {
    /// A new URL.
    pub url: Option<String>,
    /// New kinds.
    pub events: Option<Vec<EventKind>>,
    /// Active or not.
    pub active: Option<bool>,
    /// A new note.
    pub description: Option<String>,
    /// A new secret: `Some(None)` generates one, `Some(Some(s))` sets `s`.
    pub secret: Option<Option<String>>,
}

impl std::fmt::Debug for WebhookUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookUpdate")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted (again) at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Given up (the give-up age passed, or the event's data was deleted).
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// What went wrong (at most [`MAX_ERROR_LEN`] characters), `None` on success.
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id (`Rivo-Delivery-Id`).
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event's id (`Rivo-Event-Id`).
    pub event_id: String,
    /// The event's kind.
    pub event_type: EventKind,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// When it is attempted next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last attempts (at most 20), oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// The outbox now, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookQueue {
    /// Pending deliveries.
    pub depth: u64,
    /// How long the most overdue pending delivery has been due (zero when none is).
    pub oldest_due: Duration,
}

// ----- rows (crate) -----

#[derive(sqlx::FromRow)]
pub(crate) struct EndpointRow {
    pub(crate) id: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) event_mask: i32,
    pub(crate) active: bool,
    pub(crate) description: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub(crate) id: i64,
    pub(crate) endpoint_id: i64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) status: String,
    pub(crate) attempts: i32,
    pub(crate) created_at: i64,
    pub(crate) next_attempt_at: i64,
    pub(crate) finished_at: Option<i64>,
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct AttemptRow {
    pub(crate) delivery_id: i64,
    pub(crate) attempted_at: i64,
    pub(crate) status_code: Option<i32>,
    pub(crate) latency_ms: i64,
    pub(crate) error: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    pub(crate) id: i64,
    #[allow(dead_code)]
    pub(crate) endpoint_id: i64,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) payload: Option<String>,
    pub(crate) message_id: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) attempts: i32,
    pub(crate) retry_since: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    #[sqlx(skip)]
    pub(crate) message: Option<ChatMessage>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Delivered,
    Retry { at: i64 },
    Failed,
}

/// Validated endpoint fields, as stored.
pub(crate) struct CleanWebhook {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) event_mask: i32,
    pub(crate) active: bool,
    pub(crate) description: String,
}

// ----- helpers -----

/// Unix microseconds.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// The bit of `kind` in an endpoint's `event_mask`.
pub(crate) fn kind_bit(kind: EventKind) -> i32 {
    let index = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    1 << index
}

fn mask_of(kinds: &[EventKind]) -> i32 {
    kinds.iter().fold(0, |m, k| m | kind_bit(*k))
}

fn kinds_of(mask: i32) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|k| mask & kind_bit(*k) != 0)
        .collect()
}

/// A new event id: `evt_` and 32 hex digits. (`message.created` events use `msg_<message id>`,
/// written by the append batch.)
pub(crate) fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // No randomness is a broken system; a zero jitter still retries.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

fn generate_secret() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", hex(&b)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl From<EndpointRow> for Webhook {
    fn from(r: EndpointRow) -> Self {
        let n = r.secret.chars().count();
        Webhook {
            id: r.id,
            url: r.url,
            events: kinds_of(r.event_mask),
            active: r.active,
            description: r.description,
            secret_hint: r.secret.chars().skip(n.saturating_sub(4)).collect(),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

fn attempt_of(a: &AttemptRow) -> Attempt {
    Attempt {
        attempted_at: from_micros(a.attempted_at),
        status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
        latency_ms: u64::try_from(a.latency_ms).unwrap_or(0),
        error: a.error.clone(),
    }
}

fn delivery_of(r: DeliveryRow, attempts: &[AttemptRow]) -> Result<Delivery> {
    let status = match r.status.as_str() {
        "pending" => DeliveryStatus::Pending,
        "delivered" => DeliveryStatus::Delivered,
        "failed" => DeliveryStatus::Failed,
        other => return Err(Error::Corrupt(format!("unknown delivery status {other:?}"))),
    };
    Ok(Delivery {
        id: r.id,
        endpoint_id: r.endpoint_id,
        event_type: r
            .event_type
            .parse()
            .map_err(|e| Error::Corrupt(format!("{e}")))?,
        event_id: r.event_id,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        created_at: from_micros(r.created_at),
        next_attempt_at: (status == DeliveryStatus::Pending)
            .then(|| from_micros(r.next_attempt_at)),
        finished_at: r.finished_at.map(from_micros),
        status,
        attempt_log: attempts
            .iter()
            .filter(|a| a.delivery_id == r.id)
            .map(attempt_of)
            .collect(),
    })
}

// ----- URL rules (SSRF) -----

/// IPv4-mapped and NAT64/6to4-embedded IPv4 addresses as IPv4, the rest unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) embeds the IPv4 target in the last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(s[6]) << 16) | u32::from(s[7]),
                ));
            }
            // 6to4 (2002::/16) embeds it in bits 16..48.
            if s[0] == 0x2002 {
                return IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(s[1]) << 16) | u32::from(s[2]),
                ));
            }
            ip
        }
        v4 => v4,
    }
}

/// Why `ip` is not a public unicast address, if it is not: loopback, private, link-local
/// (cloud metadata, 169.254.169.254), unique-local, carrier-grade NAT, multicast, broadcast,
/// unspecified or reserved.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata)")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_broadcast() || o[0] >= 240 {
                Some("reserved")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("carrier-grade NAT (shared address space)")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol assignments")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique-local (private)")
            } else if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
                Some("link-local")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Some("discard-only")
            } else {
                None
            }
        }
    }
}

impl WebhookOptions {
    /// Refuses `ip` unless it is public, private targets are allowed, or it is in an allowed
    /// network.
    pub fn check_ip(&self, ip: IpAddr) -> std::result::Result<(), String> {
        if self.allow_private || self.allow_networks.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            Some(why) => Err(format!(
                "{ip} is a {why} address; webhook targets must be public unless allowed \
                 (RIVO_WEBHOOK_ALLOW_PRIVATE / RIVO_WEBHOOK_ALLOW_NETWORKS)"
            )),
            None => Ok(()),
        }
    }
}

/// Checks an endpoint URL's form: `http`/`https`, a host, no credentials or fragment, bounded.
fn parse_url(raw: &str) -> std::result::Result<url::Url, String> {
    if raw.chars().count() > MAX_URL_LEN {
        return Err(format!(
            "Ensure this field has no more than {MAX_URL_LEN} characters."
        ));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("Enter a valid URL ({e})."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "The URL scheme must be http or https, not {:?}.",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("The URL must have a host.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL may not contain credentials.".into());
    }
    if url.fragment().is_some() {
        return Err("The URL may not contain a fragment (#…).".into());
    }
    Ok(url)
}

/// The addresses a URL's host stands for (an IP literal, or what the name resolves to).
async fn resolve(url: &url::Url) -> std::result::Result<Vec<SocketAddr>, String> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "the URL has no port".to_owned())?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| bounded(&format!("cannot resolve {name}: {e}"), MAX_ERROR_LEN))?
                .collect();
            if addrs.is_empty() {
                return Err(format!("{name} resolves to no address"));
            }
            Ok(addrs)
        }
        None => Err("the URL has no host".into()),
    }
}

/// Every address the URL's host stands for, if all of them are allowed.
async fn allowed_addrs(
    url: &url::Url,
    options: &WebhookOptions,
) -> std::result::Result<Vec<SocketAddr>, String> {
    let addrs = resolve(url).await?;
    for a in &addrs {
        options.check_ip(a.ip())?;
    }
    Ok(addrs)
}

/// The registration check: the form, then the SSRF rules for an IP literal, `localhost`, and
/// (when the name resolves now) every address it resolves to. A name that does not resolve yet
/// is accepted; each delivery checks again.
async fn check_url(raw: &str, options: &WebhookOptions) -> std::result::Result<String, String> {
    let url = parse_url(raw)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if (name == "localhost" || name.ends_with(".localhost"))
            && !options.allow_private
            && options
                .check_ip(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
                .is_err()
        {
            return Err(format!(
                "{name} is a loopback name; webhook targets must be public unless allowed \
                 (RIVO_WEBHOOK_ALLOW_PRIVATE / RIVO_WEBHOOK_ALLOW_NETWORKS)"
            ));
        }
        if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), resolve(&url)).await {
            for a in addrs {
                options.check_ip(a.ip())?;
            }
        }
    } else {
        allowed_addrs(&url, options).await?;
    }
    Ok(url.to_string())
}

// ----- signatures -----

/// The lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The `Rivo-Signature` header value for `body` signed at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Why [`verify_signature`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=…]`.
    #[error("malformed Rivo-Signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from now (a replay, or a wrong clock).
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    /// No `v1` signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a `Rivo-Signature` header against the raw request body: recomputes the HMAC,
/// compares it in constant time with each `v1` value, and refuses a timestamp more than
/// `tolerance_secs` away from `now_secs` (Unix seconds).
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> std::result::Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Expired);
    }
    for sig in signatures {
        let Some(bytes) = unhex(sig) else { continue };
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

// ----- the store API -----

fn clean_events(errors: &mut ValidationErrors, events: &[EventKind]) -> i32 {
    if events.is_empty() {
        errors.add(
            "events",
            Rule::Other("Choose at least one event type.".into()),
        );
    }
    mask_of(events)
}

fn clean_secret(errors: &mut ValidationErrors, secret: Option<&str>) -> Result<String> {
    match secret {
        None => generate_secret(),
        Some(s) => {
            let n = s.chars().count();
            if n < SECRET_LEN.0 {
                errors.add("secret", Rule::TooShort { min: SECRET_LEN.0 });
            } else if n > SECRET_LEN.1 {
                errors.add("secret", Rule::TooLong { max: SECRET_LEN.1 });
            } else if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
                errors.add(
                    "secret",
                    Rule::Other("The secret may not contain spaces or control characters.".into()),
                );
            }
            Ok(s.to_owned())
        }
    }
}

fn clean_description(errors: &mut ValidationErrors, d: &str) -> String {
    if d.chars().count() > 255 {
        errors.add("description", Rule::TooLong { max: 255 });
    }
    if d.contains('\0') {
        errors.add("description", Rule::NullCharacter);
    }
    d.to_owned()
}

impl Store {
    /// Sets how webhooks are checked and delivered (for this store and its clones).
    pub fn set_webhook_options(&self, options: WebhookOptions) {
        match self.webhooks.options.write() {
            Ok(mut o) => *o = options,
            Err(p) => *p.into_inner() = options,
        }
    }

    /// The current [`WebhookOptions`].
    pub fn webhook_options(&self) -> WebhookOptions {
        self.webhooks.options()
    }

    async fn refresh_subscriptions(&self) -> Result<()> {
        let mask = dispatch!(self.webhook_subscriptions())?;
        self.webhooks.subscribed.store(mask, Ordering::Relaxed);
        Ok(())
    }

    /// Registers an endpoint. The URL must pass the SSRF rules of [`WebhookOptions`]; a
    /// secret is generated unless given. Returns the endpoint with its secret.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<CreatedWebhook> {
        let options = self.webhooks.options();
        let mut errors = ValidationErrors::new();
        let url = match check_url(&new.url, &options).await {
            Ok(u) => u,
            Err(e) => {
                errors.add("url", Rule::Other(e));
                String::new()
            }
        };
        let event_mask = clean_events(&mut errors, &new.events);
        let secret = clean_secret(&mut errors, new.secret.as_deref())?;
        let description = clean_description(&mut errors, &new.description);
        errors.into_result()?;
        let clean = CleanWebhook {
            url,
            secret: secret.clone(),
            event_mask,
            active: new.active,
            description,
        };
        let audit = self.audit(serde_json::json!({
            "url": clean.url, "events": kinds_of(event_mask), "active": clean.active,
        }));
        let row = dispatch!(self.create_webhook(&clean, i64::from(options.max_endpoints), audit))?;
        let _ = self.refresh_subscriptions().await;
        Ok(CreatedWebhook {
            webhook: row.into(),
            secret,
        })
    }

    /// One endpoint.
    pub async fn webhook(&self, id: i64) -> Result<Webhook> {
        Ok(dispatch!(self.webhook(id))?.into())
    }

    /// Every endpoint, oldest first (at most [`WebhookOptions::max_endpoints`]).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        Ok(dispatch!(self.list_webhooks())?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }

    /// Changes an endpoint; returns it, with the secret when the secret changed.
    pub async fn update_webhook(
        &self,
        id: i64,
        update: WebhookUpdate,
    ) -> Result<(Webhook, Option<String>)> {
        let options = self.webhooks.options();
        let current = dispatch!(self.webhook(id))?;
        let mut errors = ValidationErrors::new();
        let url = match &update.url {
            Some(u) => match check_url(u, &options).await {
                Ok(u) => u,
                Err(e) => {
                    errors.add("url", Rule::Other(e));
                    String::new()
                }
            },
            None => current.url.clone(),
        };
        let event_mask = match &update.events {
            Some(e) => clean_events(&mut errors, e),
            None => current.event_mask,
        };
        let new_secret = match &update.secret {
            Some(s) => Some(clean_secret(&mut errors, s.as_deref())?),
            None => None,
        };
        let description = match &update.description {
            Some(d) => clean_description(&mut errors, d),
            None => current.description.clone(),
        };
        errors.into_result()?;
        let clean = CleanWebhook {
            url,
            secret: new_secret.clone().unwrap_or(current.secret),
            event_mask,
            active: update.active.unwrap_or(current.active),
            description,
        };
        let audit = self.audit(serde_json::json!({
            "url": clean.url, "events": kinds_of(event_mask), "active": clean.active,
            "secret_changed": new_secret.is_some(),
        }));
        let row = dispatch!(self.update_webhook(id, &clean, audit))?;
        let _ = self.refresh_subscriptions().await;
        Ok((row.into(), new_secret))
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete_webhook(&self, id: i64) -> Result<()> {
        dispatch!(self.delete_webhook(id, self.audit(serde_json::json!({}))))?;
        let _ = self.refresh_subscriptions().await;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, each with its last attempts.
    pub async fn list_webhook_deliveries(
        &self,
        endpoint_id: i64,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        dispatch!(self.webhook(endpoint_id))?;
        let limit = page.clamped_limit();
        let (rows, attempts, total) =
            dispatch!(self.list_deliveries(endpoint_id, page.clamped_offset(), limit + 1))?;
        let has_next = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|r| delivery_of(r, &attempts))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            estimated: false,
            has_next,
        })
    }

    /// One delivery with its last attempts.
    pub async fn webhook_delivery(&self, id: i64) -> Result<Delivery> {
        let (row, attempts) = dispatch!(self.delivery(id))?;
        delivery_of(row, &attempts)
    }

    /// Sends a delivery again (whatever its status): it becomes pending, due now, and the
    /// give-up age counts from now.
    pub async fn resend_webhook_delivery(&self, id: i64) -> Result<Delivery> {
        let audit = self.audit(serde_json::json!({ "status": "pending", "resent": true }));
        dispatch!(self.resend_delivery(id, audit))?;
        self.webhooks.wake.notify_one();
        self.webhook_delivery(id).await
    }

    /// Pending deliveries and how overdue the oldest is.
    pub async fn webhook_queue(&self) -> Result<WebhookQueue> {
        let (depth, oldest) = dispatch!(self.webhook_queue())?;
        let now = micros(Utc::now());
        Ok(WebhookQueue {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_due: oldest
                .map(|o| Duration::from_micros(u64::try_from(now - o).unwrap_or(0)))
                .unwrap_or_default(),
        })
    }

    /// Runs the delivery worker until `shutdown` completes, then waits for the attempts in
    /// flight to finish (each is bounded by [`WebhookOptions::timeout`]). Run one per process
    /// (`rivo-server serve` does); several processes on one PostgreSQL database share the
    /// work, each due delivery being attempted by one of them.
    pub async fn run_webhook_worker(&self, shutdown: impl Future<Output = ()>) {
        if self.webhooks.options().concurrency == 0 {
            // This server only writes the outbox; others deliver.
            shutdown.await;
            return;
        }
        let mut inflight = tokio::task::JoinSet::new();
        let mut poll = tokio::time::interval(
            self.webhooks
                .options()
                .poll_interval
                .max(Duration::from_millis(10)),
        );
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        // Attempts finished but not yet recorded, and since when the oldest has waited.
        let mut done: Vec<(AttemptRow, Outcome)> = Vec::new();
        let mut waiting_since: Option<tokio::time::Instant> = None;
        // Whether deliveries may be due: set by a wake-up (a new event), the poll tick (retries
        // coming due, other servers' events) and a claim that filled every free slot; cleared
        // by a claim that found fewer. So an idle worker writes nothing.
        let mut may_be_due = true;
        loop {
            while let Some(finished) = inflight.try_join_next() {
                if let Ok(finished) = finished {
                    done.push(finished);
                }
            }
            if !done.is_empty() {
                waiting_since.get_or_insert_with(tokio::time::Instant::now);
            }
            let options = self.webhooks.options();
            let slots = options.concurrency.max(1);
            let free = slots.saturating_sub(inflight.len());
            if cycle_due(
                inflight.len(),
                slots,
                waiting_since.map(|t| t.elapsed()),
                !done.is_empty(),
                may_be_due && free > 0,
            ) {
                let claim = if may_be_due { free } else { 0 };
                let now = Utc::now();
                let lease = chrono::Duration::from_std(options.lease()).unwrap_or_default();
                match dispatch!(self.finish_and_claim(
                    &done,
                    micros(now),
                    micros(now + lease),
                    i64::try_from(claim).unwrap_or(1)
                )) {
                    Ok(claimed) => {
                        if claim > 0 {
                            may_be_due = claimed.len() >= claim;
                        }
                        for row in claimed {
                            let store = self.clone();
                            let options = options.clone();
                            inflight.spawn(async move { store.attempt(row, &options).await });
                        }
                    }
                    // The claims of unrecorded attempts expire and those deliveries are
                    // attempted again (at least once).
                    Err(e) => tracing::warn!(
                        error = %e,
                        attempts = done.len(),
                        "recording and claiming webhook deliveries failed"
                    ),
                }
                done.clear();
                waiting_since = None;
            }
            let record_by = waiting_since.map(|t| t + RECORD_WITHIN);
            tokio::select! {
                () = &mut shutdown => break,
                () = self.webhooks.wake.notified() => may_be_due = true,
                _ = poll.tick() => {
                    may_be_due = true;
                    if let Err(e) = self.refresh_subscriptions().await {
                        tracing::warn!(error = %e, "reading webhook subscriptions failed");
                    }
                    if let Ok(q) = self.webhook_queue().await {
                        metrics::gauge!(crate::observability::names::WEBHOOK_QUEUE_DEPTH)
                            .set(q.depth as f64);
                        metrics::gauge!(crate::observability::names::WEBHOOK_OLDEST_DUE)
                            .set(q.oldest_due.as_secs_f64());
                    }
                }
                Some(finished) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Ok(finished) = finished {
                        done.push(finished);
                    }
                }
                () = sleep_until_some(record_by) => {}
            }
        }
        while let Some(finished) = inflight.join_next().await {
            if let Ok(finished) = finished {
                done.push(finished);
            }
        }
        if let Err(e) = dispatch!(self.finish_and_claim(&done, 0, 0, 0)) {
            tracing::warn!(error = %e, attempts = done.len(), "recording webhook attempts failed");
        }
    }

    /// One attempt of a claimed delivery and its outcome (recorded by the worker).
    async fn attempt(&self, row: ClaimedRow, options: &WebhookOptions) -> (AttemptRow, Outcome) {
        let started = Utc::now();
        let clock = std::time::Instant::now();
        let result = match body_of(&row, started) {
            Some(body) => {
                let timestamp = started.timestamp();
                let headers = [
                    ("rivo-event-id", row.event_id.clone()),
                    ("rivo-event-type", row.event_type.clone()),
                    ("rivo-delivery-id", row.id.to_string()),
                    ("rivo-timestamp", timestamp.to_string()),
                    (
                        "rivo-signature",
                        signature_header(&row.secret, timestamp, &body),
                    ),
                ];
                let pool = &self.webhooks.connections;
                match tokio::time::timeout(
                    options.timeout,
                    post(&row.url, &headers, body, options, pool),
                )
                .await
                {
                    Ok(r) => r.map_err(|e| (e, true)),
                    Err(_) => Err((
                        format!("timed out after {} ms", options.timeout.as_millis()),
                        true,
                    )),
                }
            }
            None => Err(("the event's data was deleted".to_owned(), false)),
        };
        let latency_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now_us = micros(Utc::now());
        let (status_code, error, outcome) = match result {
            Ok(code) if (200..300).contains(&code) => (Some(code), None, Outcome::Delivered),
            Ok(code) => (
                Some(code),
                Some(format!("HTTP {code}")),
                self.retry_or_fail(&row, now_us, options),
            ),
            Err((e, true)) => (None, Some(e), self.retry_or_fail(&row, now_us, options)),
            Err((e, false)) => (None, Some(e), Outcome::Failed),
        };
        let label = match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed => "failed",
        };
        metrics::counter!(crate::observability::names::WEBHOOK_ATTEMPTS, "outcome" => label)
            .increment(1);
        let attempt = AttemptRow {
            delivery_id: row.id,
            attempted_at: micros(started),
            status_code: status_code.map(i32::from),
            latency_ms,
            error: error.map(|e| bounded(&e, MAX_ERROR_LEN)),
        };
        (attempt, outcome)
    }

    fn retry_or_fail(&self, row: &ClaimedRow, now_us: i64, options: &WebhookOptions) -> Outcome {
        let give_up = row
            .retry_since
            .saturating_add(i64::try_from(options.max_age.as_micros()).unwrap_or(i64::MAX));
        if now_us >= give_up {
            return Outcome::Failed;
        }
        let n = u32::try_from(row.attempts).unwrap_or(0).min(40);
        let base = options.backoff_base.as_micros();
        let bound = base
            .saturating_mul(1u128 << n.min(60))
            .min(options.backoff_cap.as_micros())
            .max(1);
        let delay = i64::try_from(u128::from(random_u64()) % (bound + 1)).unwrap_or(0);
        Outcome::Retry {
            at: now_us.saturating_add(delay).min(give_up),
        }
    }
}

/// How long a finished attempt may wait to be recorded with others (see [`cycle_due`]).
const RECORD_WITHIN: Duration = Duration::from_millis(50);

/// Whether the worker runs a cycle now: one write transaction that records the attempts that
/// finished and claims deliveries for the free slots.
///
/// The cycles are grouped so that each carries several deliveries: with `inflight` attempts
/// of `slots` running, a cycle waits until half the slots are free (or nothing is in flight,
/// or the oldest unrecorded attempt has waited [`RECORD_WITHIN`]). On SQLite every write
/// transaction takes the one writer away from the chat's appends, so one cycle per finished
/// attempt (two transactions each) would cost the chat half its throughput under load.
fn cycle_due(
    inflight: usize,
    slots: usize,
    oldest_waited: Option<Duration>,
    to_record: bool,
    to_claim: bool,
) -> bool {
    if !to_record && !to_claim {
        return false;
    }
    inflight == 0
        || slots.saturating_sub(inflight) >= slots.div_ceil(2)
        || oldest_waited.is_some_and(|w| w >= RECORD_WITHIN)
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The request body of a claimed delivery: `{id, type, created_at, data}`; `None` when the
/// event's data is gone (a message deleted since).
fn body_of(row: &ClaimedRow, _now: DateTime<Utc>) -> Option<Vec<u8>> {
    let event: serde_json::Value = match (&row.payload, &row.message) {
        (Some(p), _) => serde_json::from_str(p).ok()?,
        (None, Some(m)) => serde_json::to_value(Event::MessageCreated(m.clone())).ok()?,
        (None, None) => return None,
    };
    let serde_json::Value::Object(mut map) = event else {
        return None;
    };
    map.insert("id".into(), row.event_id.clone().into());
    map.insert(
        "created_at".into(),
        from_micros(row.created_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .into(),
    );
    serde_json::to_vec(&map).ok()
}

// ----- the HTTP client -----

pub(crate) fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"));
            Arc::new(config)
        })
        .clone()
}

/// Most idle keep-alive connections kept per endpoint origin, and origins kept.
const IDLE_PER_ORIGIN: usize = 16;
const IDLE_ORIGINS: usize = 128;

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>;

/// Idle HTTP/1.1 connections to endpoints, by origin (`scheme://host:port`), so that deliveries
/// to one endpoint reuse a connection instead of opening one each (bounded: at most
/// [`IDLE_PER_ORIGIN`] per origin and [`IDLE_ORIGINS`] origins; a connection is kept only after
/// a complete answer).
#[derive(Default)]
pub(crate) struct Connections {
    idle: Mutex<std::collections::HashMap<String, Vec<Sender>>>,
}

impl Connections {
    fn take(&self, origin: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(origin)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, origin: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if !idle.contains_key(origin) && idle.len() >= IDLE_ORIGINS {
                idle.clear();
            }
            let list = idle.entry(origin.to_owned()).or_default();
            if list.len() < IDLE_PER_ORIGIN {
                list.push(sender);
            }
        }
    }
}

/// POSTs `body` to `url` and returns the status code. A new connection goes to one of the
/// addresses checked against the SSRF rules (an idle one kept from an earlier delivery to the
/// same origin was checked when it was opened); the answer is read to at most
/// [`MAX_RESPONSE_READ`] bytes. Bounded in time by the caller.
async fn post(
    raw_url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    options: &WebhookOptions,
    pool: &Connections,
) -> std::result::Result<u16, String> {
    let url = parse_url(raw_url)?;
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let origin = format!("{}://{authority}", url.scheme());
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let body = hyper::body::Bytes::from(body);
    let request = || {
        let mut request = hyper::Request::post(path.as_str())
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "Rivo-Webhooks/1");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
            .body(http_body_util::Full::new(body.clone()))
            .map_err(|e| format!("request: {e}"))
    };
    // An idle connection first; if the endpoint closed it meanwhile, a new one.
    if let Some(sender) = pool.take(&origin)
        && let Ok((status, sender)) = send(sender, request()?).await
    {
        if let Some(sender) = sender {
            pool.put(&origin, sender);
        }
        return Ok(status);
    }
    let sender = connect(&url, host, options).await?;
    let (status, sender) = send(sender, request()?).await?;
    if let Some(sender) = sender {
        pool.put(&origin, sender);
    }
    Ok(status)
}

/// A new HTTP/1.1 connection (TLS for `https`) to an address allowed by the SSRF rules.
async fn connect(
    url: &url::Url,
    host: &str,
    options: &WebhookOptions,
) -> std::result::Result<Sender, String> {
    let addrs = allowed_addrs(url, options).await?;
    let mut last_error = String::from("no address to connect to");
    let mut stream = None;
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = format!("connect to {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(last_error)?;
    let _ = stream.set_nodelay(true);
    if url.scheme() == "https" {
        let name = match url.host() {
            Some(url::Host::Ipv4(ip)) => rustls::pki_types::ServerName::from(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => rustls::pki_types::ServerName::from(IpAddr::V6(ip)),
            _ => rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| format!("TLS server name: {e}"))?,
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        handshake(tls).await
    } else {
        handshake(stream).await
    }
}

async fn handshake<S>(io: S) -> std::result::Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    // Runs until the connection closes: dropping the last sender (or the peer) ends it.
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends `request` and reads the answer; gives the connection back when it can be reused (the
/// whole answer was read and the connection stays open).
async fn send(
    mut sender: Sender,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> std::result::Result<(u16, Option<Sender>), String> {
    use http_body_util::BodyExt;
    sender.ready().await.map_err(|e| format!("HTTP: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = 0usize;
    let mut complete = false;
    while read < MAX_RESPONSE_READ {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            Some(Err(_)) => break,
            None => {
                complete = true;
                break;
            }
        }
    }
    Ok((status, complete.then_some(sender)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_groups_its_writes_until_half_its_slots_are_free() {
        let ms = Duration::from_millis;
        // Nothing to record or claim: no write at all.
        assert!(!cycle_due(0, 16, None, false, false));
        assert!(!cycle_due(3, 16, Some(ms(500)), false, false));
        // Idle worker: a new event is claimed at once.
        assert!(cycle_due(0, 16, None, false, true));
        // Busy worker: one finished attempt waits for others ...
        assert!(!cycle_due(15, 16, Some(ms(1)), true, true));
        assert!(!cycle_due(9, 16, Some(ms(10)), true, true));
        // ... until half the slots are free,
        assert!(cycle_due(8, 16, Some(ms(1)), true, true));
        assert!(!cycle_due(2, 3, Some(ms(1)), true, false));
        assert!(cycle_due(1, 3, Some(ms(1)), true, false));
        // or the oldest has waited long enough (a few slow endpoints hold the rest).
        assert!(cycle_due(15, 16, Some(RECORD_WITHIN), true, false));
        // The last attempts in flight finishing are recorded at once.
        assert!(cycle_due(0, 16, Some(ms(0)), true, false));
        // One slot: every attempt is its own cycle.
        assert!(cycle_due(0, 1, Some(ms(0)), true, true));
    }

    #[test]
    fn signatures_verify_and_refuse() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header("whsec_test", 1_700_000_000, body);
        assert_eq!(
            verify_signature("whsec_test", &header, body, 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature("whsec_other", &header, body, 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_test", &header, b"{}", 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("whsec_test", &header, body, 1_700_001_000, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature("whsec_test", "v1=ab", body, 1_700_000_000, 300),
            Err(SignatureError::Malformed)
        );
        // A known vector: HMAC-SHA256("key", "1.{}").
        assert_eq!(sign("key", 1, b"{}").len(), 64);
    }

    #[test]
    fn ssrf_rules() {
        let deny = WebhookOptions::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(deny.check_ip(ip).is_err(), "{ip} should be refused");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(deny.check_ip(ip).is_ok(), "{ip} should be allowed");
        }
        let allow = WebhookOptions {
            allow_networks: vec!["10.0.0.0/8".parse().expect("net")],
            ..Default::default()
        };
        assert!(allow.check_ip("10.9.9.9".parse().expect("ip")).is_ok());
        assert!(allow.check_ip("192.168.0.1".parse().expect("ip")).is_err());
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
        assert!(parse_url("https://example.com/hook?x=1").is_ok());
    }

    #[test]
    fn masks_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kinds_of(mask_of(&[kind])), vec![kind]);
        }
        assert_eq!(kind_bit(EventKind::MessageCreated), 1);
        assert_eq!(kinds_of(mask_of(&EventKind::ALL)), EventKind::ALL.to_vec());
    }
}
