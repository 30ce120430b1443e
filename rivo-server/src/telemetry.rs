//! Logs, and the optional OpenTelemetry trace export.
//!
//! Traces are exported only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, over OTLP/HTTP with protobuf bodies, and
//! not when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. The SDK reads its other
//! standard variables itself: `OTEL_SERVICE_NAME` (default here: `rivo-server`),
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`(`_ARG`),
//! `OTEL_BSP_*` (batching). An incoming W3C `traceparent` header continues the caller's trace.
//!
//! Exported are the spans only, never log events: the `request` span of every request (its
//! method, route template, operation id and status) and the `db` spans of rivo-core (operation
//! name and database system). None carries a path, query, header, body, session id, email or
//! token. With traces on, the request id (`X-Request-Id` and the `id` of every log line) is the
//! trace id.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Keeps the trace exporter running; dropping it flushes the spans not yet sent and stops it.
/// Drop it outside the async runtime (the exporter's HTTP client blocks).
#[must_use = "dropping it stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {err}");
        }
    }
}

/// Whether traces are exported (after [`init`]).
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the environment asks for the trace export.
pub fn requested() -> bool {
    (env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
        && !std::env::var("OTEL_TRACES_EXPORTER")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("none"))
}

fn tracer_provider() -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|err| format!("cannot set up the OTLP trace exporter: {err}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = env_set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    if !named {
        resource = resource.with_service_name("rivo-server");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// `RUST_LOG`, and never the `db` spans of store operations (they are for traces: in log lines
/// they would only repeat the operation name on every line of sqlx's own events).
fn log_filter<S: tracing::Subscriber>() -> impl tracing_subscriber::layer::Filter<S> {
    use tracing_subscriber::filter::FilterExt;
    let env = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,poem=warn"));
    env.and(tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.is_span() && meta.target() == "rivo_core::store::observe")
    }))
}

/// Installs the global `tracing` subscriber: log lines on stderr filtered by `RUST_LOG`
/// (`RIVO_LOG_FORMAT=json` for JSON lines), plus the OTLP trace export when
/// [`requested`]. Call it once, before the async runtime starts, and keep the guard until the
/// runtime has stopped.
pub fn init() -> Telemetry {
    let json = std::env::var("RIVO_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::stderr().is_terminal();
    let plain = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .with_filter(log_filter())
    });
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(log_filter())
    });
    let mut failure = None;
    let provider = if requested() {
        match tracer_provider() {
            Ok(provider) => Some(provider),
            Err(err) => {
                failure = Some(err);
                None
            }
        }
    } else {
        None
    };
    // Spans of Rivo's own crates only, and no events: log lines may name a path or an
    // address, spans never do.
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("rivo-server"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("rivo_")
            }))
    });
    tracing_subscriber::registry()
        .with(otel)
        .with(plain)
        .with(json)
        .init();
    if let Some(err) = failure {
        tracing::error!("{err}; traces are not exported");
    }
    if provider.is_some() {
        ENABLED.store(true, Relaxed);
        tracing::info!("exporting traces over OTLP/HTTP");
    }
    Telemetry { provider }
}

/// Reads the W3C trace context of a request's headers.
struct HeaderExtractor<'a>(&'a poem::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// With traces on: makes `span` continue the trace of an incoming `traceparent` header, if
/// any, and returns its trace id (32 hex digits), the request id. `None` when traces are off.
pub fn adopt_trace(span: &tracing::Span, headers: &poem::http::HeaderMap) -> Option<String> {
    if !enabled() {
        return None;
    }
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
