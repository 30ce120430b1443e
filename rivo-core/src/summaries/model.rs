//! One call to an OpenAI-compatible chat-completions endpoint, and reading its answer: the
//! transcript sent, the HTTP(S) request, the bounded answer and the summary object in it.

use serde_json::{Map, Value as Json, json};

use super::SummaryOptions;
use crate::chat::SenderType;

/// Why an attempt failed, and whether another attempt may do better.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) retryable: bool,
}

impl Failure {
    pub(super) fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
    pub(super) fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// The conversation as `Client: …` / `Bot: …` lines, the latest ones kept within `max_chars`.
pub(super) fn transcript(messages: &[(SenderType, &str)], max_chars: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut used = 0usize;
    for (sender, text) in messages.iter().rev() {
        let who = match sender {
            SenderType::Client => "Client",
            SenderType::Bot => "Bot",
        };
        let line = format!("{who}: {text}");
        let len = line.chars().count() + 1;
        if used + len > max_chars {
            if lines.is_empty() {
                // One message longer than the whole budget: its start.
                lines.push(line.chars().take(max_chars).collect());
            }
            lines.push("[earlier messages omitted]".into());
            break;
        }
        used += len;
        lines.push(line);
    }
    lines.reverse();
    lines.join("\n")
}

/// The model's text as a JSON object: a ```` ```json ```` (or ```` ``` ````) fence around it is
/// stripped; anything but an object is an error.
pub fn parse_summary(content: &str) -> std::result::Result<Map<String, Json>, String> {
    let mut text = content.trim();
    if let Some(rest) = text.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        text = rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the model answered JSON that is not an object (a {})",
            match other {
                Json::Null => "null",
                Json::Bool(_) => "boolean",
                Json::Number(_) => "number",
                Json::String(_) => "string",
                Json::Array(_) => "list",
                Json::Object(_) => "object",
            }
        )),
        Err(e) => Err(format!("the model's answer is not valid JSON: {e}")),
    }
}

/// One chat-completions call: the summary object and the model that wrote it.
pub(super) async fn call_model(
    options: &SummaryOptions,
    transcript: &str,
) -> std::result::Result<(Map<String, Json>, String), Failure> {
    let body = json!({
        "model": options.model,
        "messages": [
            {"role": "system", "content": options.prompt},
            {"role": "user", "content": format!("The conversation:\n\n{transcript}")},
        ],
        "temperature": 0.3,
        "max_tokens": options.max_tokens,
    });
    let body = serde_json::to_vec(&body).map_err(|e| Failure::fatal(e.to_string()))?;
    let (status, answer) = post_json(options, body).await?;
    if !(200..300).contains(&status) {
        let retryable = matches!(status, 408 | 409 | 425 | 429) || status >= 500;
        let text = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
        return Err(Failure {
            message: format!("the provider answered HTTP {status}: {text}"),
            retryable,
        });
    }
    let envelope: Json = serde_json::from_slice(&answer).map_err(|e| {
        Failure::retry(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let content = envelope
        .pointer("/choices/0/message/content")
        .and_then(Json::as_str)
        .ok_or_else(|| Failure::retry("the provider's answer has no choices[0].message.content"))?;
    let model = envelope
        .get("model")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(options.model.as_str())
        .chars()
        .take(200)
        .collect::<String>();
    let summary = parse_summary(content).map_err(Failure::retry)?;
    Ok((summary, model))
}

/// POSTs `body` to the endpoint; the status and at most `max_response_bytes` of the answer
/// (more is an error).
async fn post_json(
    options: &SummaryOptions,
    body: Vec<u8>,
) -> std::result::Result<(u16, Vec<u8>), Failure> {
    let raw = options.endpoint();
    let url = url::Url::parse(&raw)
        .map_err(|e| Failure::fatal(format!("the base URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::fatal("the base URL must be http:// or https://"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Failure::fatal("the base URL has no host"))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let stream = tokio::net::TcpStream::connect((connect_host.as_str(), port))
        .await
        .map_err(|e| Failure::retry(format!("connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::USER_AGENT, "Rivo-Summaries/1");
    if let Some(key) = options.api_key.as_deref().filter(|k| !k.is_empty()) {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        if host.ends_with(".azure.com") {
            request = request.header("api-key", key);
        }
    }
    let request = request
        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
        .map_err(|e| Failure::fatal(format!("request: {e}")))?;
    if url.scheme() == "https" {
        let name = match url.host() {
            Some(url::Host::Ipv4(ip)) => {
                rustls::pki_types::ServerName::from(std::net::IpAddr::V4(ip))
            }
            Some(url::Host::Ipv6(ip)) => {
                rustls::pki_types::ServerName::from(std::net::IpAddr::V6(ip))
            }
            _ => rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| Failure::fatal(format!("TLS server name: {e}")))?,
        };
        let tls = tokio_rustls::TlsConnector::from(crate::webhooks::tls_config())
            .connect(name, stream)
            .await
            .map_err(|e| Failure::retry(format!("TLS: {e}")))?;
        send(tls, request, options.max_response_bytes).await
    } else {
        send(stream, request, options.max_response_bytes).await
    }
}

async fn send<S>(
    io: S,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
    max: usize,
) -> std::result::Result<(u16, Vec<u8>), Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| Failure::retry(format!("HTTP: {e}")))?;
    let conn = tokio::spawn(conn);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::retry(format!("HTTP: {e}")))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::retry(format!("reading the answer: {e}")))?;
            if let Some(data) = frame.data_ref() {
                if read.len() + data.len() > max {
                    return Err(Failure::retry(format!(
                        "the provider's answer is larger than {max} bytes"
                    )));
                }
                read.extend_from_slice(data);
            }
        }
        Ok((status, read))
    }
    .await;
    conn.abort();
    result
}
