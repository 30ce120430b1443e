//! Metrics and traces of the real binary, on SQLite and PostgreSQL: `/metrics` parses with a
//! Prometheus text parser, counters rise with traffic, no label carries a session id, email or
//! path, a scrape without the token is refused, the separate metrics listener works, and spans
//! reach an OTLP/HTTP receiver run by the test, with the trace id as request id and no personal
//! data in attributes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure should panic.

mod common;

use rivo_testkit::free_port;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestDb;
use common::process;
use prost::Message;

const TOKEN: &str = "metrics-test-token-0123456789";
const EMAIL: &str = "nobody.metrics@example.com";

struct Server {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// SIGTERM, wait for the exit (spans are flushed then), and return the log.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        process::wait_for(
            Duration::from_secs(20),
            Duration::from_millis(50),
            "server did not stop",
            || self.child.try_wait().unwrap(),
        );
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `db`'s database with `env` (a clean environment otherwise).
fn start(db: &TestDb, env: &[(&str, String)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let mut command = common::process::command(port, &db.url);
    command
        .arg("serve")
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("RIVO_LOGIN_MAX_FAILURES", "2")
        .env("RIVO_PURGE_INTERVAL_SECS", "0");
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        _dir: dir,
    };
    process::wait_for(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "server did not become healthy",
        || (get(server.addr, "/healthz", &[]).0 == 200).then_some(()),
    );
    server
}

/// One HTTP/1.1 request: `(status, headers (lowercase names), body)`.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HashMap<String, String>, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, HashMap::new(), String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, HashMap::new(), String::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    if !raw.contains("\r\n\r\n") {
        return (0, HashMap::new(), String::new());
    }
    let resp = common::process::parse(&raw);
    let headers: HashMap<String, String> = resp.lowercase_headers();
    assert!(
        !headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked")),
        "chunked bodies are not decoded by this helper"
    );
    (resp.status, headers, resp.body)
}

fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, String) {
    http(addr, "GET", path, headers, "")
}

fn post_message(addr: SocketAddr, session: &str, text: &str) {
    let body = format!(r#"{{"session_id":"{session}","message":"{text}","sender_type":"client"}}"#);
    let (status, _, body) = http(addr, "POST", "/api/v1/chat/stream/", &[], &body);
    assert_eq!(status, 201, "{body}");
}

fn failed_login(addr: SocketAddr) -> u16 {
    let body = format!(r#"{{"email":"{EMAIL}","password":"wrong password"}}"#);
    http(addr, "POST", "/api/v1/account/login/", &[], &body).0
}

/// Scrapes and parses with `prometheus-parse`: the samples.
fn scrape(addr: SocketAddr, path: &str, token: Option<&str>) -> Vec<prometheus_parse::Sample> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let (status, headers, body) = get(addr, path, &headers);
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{headers:?}"
    );
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    assert!(!scrape.samples.is_empty());
    scrape.samples
}

fn labels_match(sample: &prometheus_parse::Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// The sum of the values of `metric` whose labels include `labels` (a counter, a gauge or a
/// histogram's `_count`/`_sum`).
fn value(samples: &[prometheus_parse::Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric && labels_match(s, labels))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

fn has(samples: &[prometheus_parse::Sample], metric: &str) -> bool {
    samples.iter().any(|s| s.metric == metric)
}

async fn metrics_count_traffic_and_need_the_token(db: &TestDb) {
    let server = start(db, &[("RIVO_METRICS_TOKEN", TOKEN.into())]);
    let addr = server.addr;
    // Refused without the token, or with a wrong one, or with the token in another scheme.
    let (status, headers, _) = get(addr, "/metrics", &[]);
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(
        get(addr, "/metrics", &[("Authorization", "Bearer wrong")]).0,
        401
    );
    assert_eq!(
        get(
            addr,
            "/metrics",
            &[("Authorization", &format!("Basic {TOKEN}"))]
        )
        .0,
        401
    );
    // Off the public chat's CORS: no CORS header even for an allowed-looking origin.
    let (_, headers, _) = get(addr, "/metrics", &[("Origin", "https://shop.example")]);
    assert!(!headers.contains_key("access-control-allow-origin"));

    let before = scrape(addr, "/metrics", Some(TOKEN));
    let session = uuid::Uuid::new_v4().to_string();
    for i in 0..3 {
        post_message(addr, &session, &format!("hello {i}"));
    }
    let (status, _, _) = get(
        addr,
        &format!("/api/v1/chat/history/?session_id={session}"),
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(get(addr, "/no/such/path", &[]).0, 404);
    // Two failures, then the throttle (RIVO_LOGIN_MAX_FAILURES=2).
    assert_eq!(failed_login(addr), 401);
    assert_eq!(failed_login(addr), 401);
    assert_eq!(failed_login(addr), 429);
    let after = scrape(addr, "/metrics", Some(TOKEN));

    let rose = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let sent = [("operation", "chat_send"), ("status", "2xx")];
    assert_eq!(rose("rivo_http_requests_total", &sent), 3.0);
    let history = [("operation", "chat_history"), ("status", "2xx")];
    assert_eq!(rose("rivo_http_requests_total", &history), 1.0);
    let unmatched = [("operation", "unmatched"), ("status", "4xx")];
    assert_eq!(rose("rivo_http_requests_total", &unmatched), 1.0);
    let refused = [("operation", "account_login"), ("status", "4xx")];
    assert_eq!(rose("rivo_http_requests_total", &refused), 3.0);
    assert!(
        rose(
            "rivo_http_request_duration_seconds_count",
            &[("operation", "chat_send")]
        ) >= 3.0
    );
    assert_eq!(
        rose("rivo_login_failures_total", &[("reason", "unknown_email")]),
        2.0
    );
    assert_eq!(rose("rivo_login_throttled_total", &[]), 1.0);
    // Group commit: three messages in at least one batch, and their waits.
    assert_eq!(rose("rivo_append_messages_total", &[]), 3.0);
    assert!(rose("rivo_append_batches_total", &[]) >= 1.0);
    assert!(rose("rivo_append_batch_messages_count", &[]) >= 1.0);
    assert!(rose("rivo_append_batch_messages_sum", &[]) >= 3.0);
    assert!(rose("rivo_append_queue_wait_seconds_count", &[]) >= 1.0);
    assert!(rose("rivo_append_commit_duration_seconds_count", &[]) >= 1.0);
    // Store operations by name.
    assert!(
        rose(
            "rivo_db_operation_duration_seconds_count",
            &[("operation", "history_page")]
        ) + rose(
            "rivo_db_operation_duration_seconds_count",
            &[("operation", "history")]
        ) >= 1.0,
        "a history store operation was timed"
    );
    assert!(
        rose(
            "rivo_db_operation_duration_seconds_count",
            &[("operation", "reserve_attempt")]
        ) >= 3.0
    );
    // Pool gauges, by pool.
    let pools: Vec<&str> = after
        .iter()
        .filter(|s| s.metric == "rivo_db_pool_max_connections")
        .filter_map(|s| s.labels.get("pool"))
        .collect();
    match db.store.kind() {
        rivo_core::BackendKind::Postgres => assert_eq!(pools, ["main"]),
        rivo_core::BackendKind::Sqlite => {
            let mut pools = pools.clone();
            pools.sort();
            assert_eq!(pools, ["read", "write"]);
        }
    }
    assert!(value(&after, "rivo_db_pool_connections", &[("state", "idle")]) >= 1.0);
    assert!(has(&after, "rivo_db_pool_waiters"));
    assert!(has(&after, "rivo_db_operations_in_flight"));
    assert!(has(&after, "rivo_append_queue_length"));
    // The process.
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(value(&after, "process_open_fds", &[]) >= 3.0);
    assert!(value(&after, "rivo_uptime_seconds", &[]) > 0.0);
    assert!(value(&after, "process_start_time_seconds", &[]) > 1e9);
    // Bounded labels: no session id, email, message, path or token in any label value.
    let personal = [
        session.as_str(),
        EMAIL,
        "example.com",
        "hello",
        TOKEN,
        "/",
        "@",
    ];
    for sample in &after {
        assert_no_value_holds(&sample.metric, sample.labels.iter(), &personal);
    }
    server.stop();
}

/// Asserts that no value of `pairs` (the labels or attributes of `owner`) holds any of
/// `forbidden`.
fn assert_no_value_holds<'a>(
    owner: &str,
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    forbidden: &[&str],
) {
    for (name, value) in pairs {
        for text in forbidden {
            assert!(!value.contains(text), "{owner} has {name}={value:?}");
        }
    }
}

async fn metrics_on_their_own_listener(db: &TestDb) {
    let port = free_port();
    let bind = SocketAddr::from(([127, 0, 0, 1], port));
    let server = start(db, &[("RIVO_METRICS_BIND", bind.to_string())]);
    // Without a token, the main listener has no /metrics at all.
    assert_eq!(get(server.addr, "/metrics", &[]).0, 404);
    post_message(server.addr, &uuid::Uuid::new_v4().to_string(), "hi");
    let samples = scrape(bind, "/metrics", None);
    assert!(
        value(
            &samples,
            "rivo_http_requests_total",
            &[("operation", "chat_send")]
        ) >= 1.0
    );
    // The metrics listener serves nothing else.
    assert_eq!(get(bind, "/healthz", &[]).0, 404);
    assert_eq!(get(bind, "/api/v1/chat/stream/", &[]).0, 404);
    server.stop();

    // Both: the metrics listener asks for the token too.
    let port = free_port();
    let bind = SocketAddr::from(([127, 0, 0, 1], port));
    let server = start(
        db,
        &[
            ("RIVO_METRICS_BIND", bind.to_string()),
            ("RIVO_METRICS_TOKEN", TOKEN.into()),
        ],
    );
    assert_eq!(get(bind, "/metrics", &[]).0, 401);
    scrape(bind, "/metrics", Some(TOKEN));
    scrape(server.addr, "/metrics", Some(TOKEN));
    server.stop();
}

async fn metrics_are_off_by_default(db: &TestDb) {
    let server = start(db, &[]);
    assert_eq!(get(server.addr, "/metrics", &[]).0, 404);
    assert_eq!(
        get(
            server.addr,
            "/metrics",
            &[("Authorization", &format!("Bearer {TOKEN}"))]
        )
        .0,
        404
    );
    server.stop();
}

/// A small OTLP/HTTP receiver: stores the body of every `POST /v1/traces`.
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn otlp_receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let store = bodies.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = store.clone();
            let app = poem::Route::new().at(
                "/v1/traces",
                poem::post(poem::endpoint::make(move |req: poem::Request| {
                    let store = store.clone();
                    async move {
                        assert_eq!(
                            req.content_type(),
                            Some("application/x-protobuf"),
                            "OTLP/HTTP with protobuf bodies"
                        );
                        let body = req.into_body().into_vec().await.unwrap_or_default();
                        store.lock().unwrap().push(body);
                        poem::Response::builder()
                            .content_type("application/x-protobuf")
                            .body(Vec::<u8>::new())
                    }
                })),
            );
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let listener = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            poem::Server::new_with_acceptor(listener)
                .run(app)
                .await
                .unwrap();
        });
    });
    Receiver { addr, bodies }
}

#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<(String, String)>,
    service: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(bodies: &[Vec<u8>]) -> Vec<Span> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match v
        .as_ref()
        .and_then(|v| v.value.as_ref())
    {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let mut spans = Vec::new();
    for body in bodies {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Span {
                        name: span.name.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(&a.value)))
                            .collect(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    spans
}

async fn traces_reach_an_otlp_receiver(db: &TestDb) {
    let receiver = otlp_receiver();
    let server = start(
        db,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.addr),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ],
    );
    let addr = server.addr;
    let session = uuid::Uuid::new_v4().to_string();
    post_message(addr, &session, "my secret message");
    let (status, headers, _) = get(
        addr,
        &format!("/api/v1/chat/history/?session_id={session}"),
        &[("X-Request-Id", "upstream-proxy-id")],
    );
    assert_eq!(status, 200);
    // The request id is the trace id: 32 hex digits.
    let history_trace = headers["x-request-id"].clone();
    assert_eq!(history_trace.len(), 32, "{history_trace}");
    assert!(history_trace.bytes().all(|b| b.is_ascii_hexdigit()));
    // An incoming W3C traceparent is continued.
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, headers, _) = get(
        addr,
        &format!("/api/v1/chat/history/?session_id={session}"),
        &[(
            "traceparent",
            &format!("00-{parent_trace}-00f067aa0ba902b7-01"),
        )],
    );
    assert_eq!(status, 200);
    assert_eq!(headers["x-request-id"], parent_trace);
    assert_eq!(failed_login(addr), 401);

    // Wait for the history request's span and its database span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = decode(&receiver.bodies.lock().unwrap());
        let arrived = |trace: &str| {
            spans
                .iter()
                .filter(|s| s.trace_id == trace)
                .any(|s| s.name == "GET chat_history")
                && spans
                    .iter()
                    .filter(|s| s.trace_id == trace)
                    .any(|s| s.attributes.iter().any(|(k, _)| k == "db.system.name"))
        };
        if arrived(&history_trace)
            && arrived(parent_trace)
            && spans.iter().any(|s| s.name == "POST account_login")
        {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans did not arrive: {:#?}",
            spans
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let request = spans
        .iter()
        .find(|s| s.trace_id == history_trace && s.name == "GET chat_history")
        .unwrap();
    assert_eq!(request.service, "rivo-server");
    let attr = |span: &Span, key: &str| {
        span.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        attr(request, "http.route").as_deref(),
        Some("/api/v1/chat/history/")
    );
    assert_eq!(attr(request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        attr(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    // The database span descends from the request span (through rivo-core's own spans).
    let db_span = spans
        .iter()
        .find(|s| s.trace_id == history_trace && attr(s, "db.system.name").is_some())
        .unwrap();
    let mut ancestor = db_span;
    while ancestor.span_id != request.span_id {
        ancestor = spans
            .iter()
            .find(|s| s.span_id == ancestor.parent_span_id)
            .unwrap_or_else(|| panic!("{db_span:?} does not descend from {request:?}"));
    }
    let system = match db.store.kind() {
        rivo_core::BackendKind::Postgres => "postgresql",
        rivo_core::BackendKind::Sqlite => "sqlite",
    };
    assert_eq!(attr(db_span, "db.system.name").as_deref(), Some(system));
    assert!(attr(db_span, "db.operation.name").is_some_and(|op| op.starts_with("history")));
    // The continued trace's request span has the caller's span as parent.
    let continued = spans
        .iter()
        .find(|s| s.trace_id == parent_trace && s.name == "GET chat_history")
        .unwrap();
    assert_eq!(continued.parent_span_id, "00f067aa0ba902b7");
    // No personal data in any span.
    let secrets = [session.as_str(), "secret message", EMAIL, "wrong password"];
    let personal = [&secrets[..], &["session_id", "upstream-proxy-id"]].concat();
    for span in &spans {
        let owner = format!("span {}", span.name);
        assert_no_value_holds(
            &owner,
            span.attributes.iter().map(|(k, v)| (k, v)),
            &personal,
        );
        for secret in secrets {
            assert!(
                !span.name.contains(secret),
                "{owner} is named after {secret:?}"
            );
        }
    }
    // The log line of the request carries the trace id as its id, and the caller's own id.
    let log = server.stop();
    let line = log
        .lines()
        .find(|l| l.contains(&history_trace) && l.contains("status=200"))
        .unwrap_or_else(|| panic!("no log line with id {history_trace}:\n{log}"));
    assert!(line.contains("upstream-proxy-id"), "{line}");
}

on_every_backend!(
    metrics_count_traffic_and_need_the_token,
    metrics_on_their_own_listener,
    metrics_are_off_by_default,
    traces_reach_an_otlp_receiver,
);
