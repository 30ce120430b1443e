//! The webhook HTTP client: keep-alive HTTP/1.1 (TLS for `https`) to addresses the SSRF rules
//! allow.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::ssrf::{allowed_addrs, parse_url};
use super::{MAX_RESPONSE_READ, WebhookOptions};

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
pub(super) struct Connections {
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
pub(super) async fn post(
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
