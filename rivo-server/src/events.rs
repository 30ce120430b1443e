//! Live event streams (server-sent events) over rivo-core's subscriptions
//! ([`rivo_core::streams`]):
//!
//! - `GET /api/v1/chat/events/?session_id=` (public like the history, CORS like the chat
//!   routes): a session's new messages, `event: message.created`, `id:` the message id, `data:`
//!   the message exactly as the history returns it. A reconnect with `Last-Event-ID` (or
//!   `?after=<id>`) resumes right after that message.
//! - `GET /api/v1/admin/events/` (`chat.view_chathistory`): activity on every session (new
//!   messages, `client.created`, `client.stage_changed`, `client.assigned`), `id:` an opaque
//!   cursor to resume from.
//!
//! Each stream sends a comment line (`:`) as heartbeat every `RIVO_EVENT_STREAM_HEARTBEAT_SECS`
//! and ends after `RIVO_EVENT_STREAM_MAX_SECS` (the client reconnects with `Last-Event-ID`).
//! At most `RIVO_MAX_EVENT_STREAMS` are open at once per server; one more is answered `503`.
//! A stream holds at most one page of rows and a place in a shared, bounded wake-up ring: a slow
//! reader falls behind and re-reads from the database, it never queues memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use poem::{http::StatusCode, web::Data, web::sse::Event as SseEvent};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Query},
    payload::EventStream,
    registry::MetaSchemaRef,
    types::{Example, ToJSON, Type},
};
use rivo_core::accounts::{Action, Model};
use rivo_core::events::Event;
use rivo_core::streams::ActivityCursor;
use rivo_core::{MessageId, SessionId, Store};
use serde::Serialize;
use serde_json::Value;

use crate::admin::AdminTag;
use crate::admin::ctx::AdminCtx;
use crate::chat::{ChatMessageBody, ChatTag};
use crate::config::{Config, EventStreamLimits};
use crate::error::{ApiError, ErrorDetail, ErrorMessage, ErrorSet, FieldErrors, OpError, one_of};
use crate::render::to_drf_json;
use rivo_core::access::Access;

/// Event streams open now in this process (every app), for the `rivo_event_streams_open` gauge:
/// counted once a stream has read its starting point, so a client that waits for the gauge
/// knows that every message stored from then on reaches its streams.
static OPEN_IN_PROCESS: AtomicUsize = AtomicUsize::new(0);

/// Event streams open now in this process.
pub fn open_streams() -> usize {
    OPEN_IN_PROCESS.load(Relaxed)
}

/// Set once the server shuts down: every open stream ends (clients reconnect elsewhere), so an
/// open stream never holds a graceful shutdown for its whole timeout.
fn ending() -> &'static tokio::sync::watch::Sender<bool> {
    static ENDING: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> =
        std::sync::OnceLock::new();
    ENDING.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// Ends every open event stream of this process (called when the server starts shutting down).
pub fn end_all_streams() {
    ending().send_replace(true);
}

/// The open streams of one app and their limits (request data).
#[derive(Clone)]
pub struct EventStreams {
    open: Arc<AtomicUsize>,
    limits: EventStreamLimits,
}

impl EventStreams {
    /// No stream open yet.
    pub fn new(limits: EventStreamLimits) -> Self {
        Self {
            open: Arc::default(),
            limits,
        }
    }

    /// A place for one more stream, or `503` beyond `RIVO_MAX_EVENT_STREAMS`.
    fn acquire(&self) -> Result<Slot, ApiError> {
        let max = self.limits.max_streams;
        self.open
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .map_err(|_| {
                ApiError::Status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Too many open event streams on this server (RIVO_MAX_EVENT_STREAMS={max}); \
                         retry later."
                    ),
                )
            })?;
        Ok(Slot {
            open: self.open.clone(),
            started: false,
        })
    }

    /// Bounds a stream: it ends after the maximum duration (or at the first store error: the
    /// client reconnects and resumes), and holds its slot until it is dropped.
    fn bounded<T: Send + 'static>(
        &self,
        slot: Slot,
        items: impl futures_util::Stream<Item = rivo_core::Result<T>> + Send + 'static,
    ) -> BoxStream<'static, T> {
        items
            .scan(slot, |_slot, item| {
                if let Err(err) = &item {
                    tracing::warn!(%err, "event stream ended by a store error");
                }
                std::future::ready(item.ok())
            })
            .take_until({
                let max = self.limits.max_duration;
                let mut ending = ending().subscribe();
                async move {
                    tokio::select! {
                        () = tokio::time::sleep(max) => {}
                        _ = ending.wait_for(|end| *end) => {}
                    }
                }
            })
            .boxed()
    }
}

/// One open stream; dropping it frees the place.
struct Slot {
    open: Arc<AtomicUsize>,
    /// Counted in [`OPEN_IN_PROCESS`] (its starting point is read).
    started: bool,
}

impl Slot {
    /// The stream has read where it starts: count it as open in the gauge.
    fn started(mut self) -> Self {
        if !self.started {
            self.started = true;
            OPEN_IN_PROCESS.fetch_add(1, Relaxed);
        }
        self
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Relaxed);
        if self.started {
            OPEN_IN_PROCESS.fetch_sub(1, Relaxed);
        }
    }
}

/// One event of the admin activity stream (the `data:` of each server-sent event).
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "ActivityEvent", example)]
pub struct ActivityEventBody {
    /// The cursor after this event (also its `id:`): give it back as `Last-Event-ID` or
    /// `after` to resume right after it. Opaque.
    pub id: String,
    /// `message.created`, `client.created`, `client.stage_changed` or `client.assigned`
    /// (also the `event:` name).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// `message.created`: the message as the chat history returns it (`ChatMessage`).
    /// `client.created`: `{"client": {…}, "chat_session_id": "<uuid>" | null}`.
    /// `client.stage_changed`: the new stage history entry. `client.assigned`: the new active
    /// assignment.
    pub data: Value,
}

impl Example for ActivityEventBody {
    fn example() -> Self {
        Self {
            id: "0.42.0.7".into(),
            kind: "message.created".into(),
            data: serde_json::from_slice(&to_drf_json(&ChatMessageBody::example()))
                .unwrap_or_default(),
        }
    }
}

impl ActivityEventBody {
    fn new(cursor: ActivityCursor, event: Event, compat: crate::config::ChatCompat) -> Self {
        let kind = event.kind().as_str().to_owned();
        let data = match event {
            Event::MessageCreated(m) => {
                serde_json::from_slice(&to_drf_json(&ChatMessageBody::render(m, compat)))
            }
            Event::ClientCreated(c) => serde_json::to_value(c),
            Event::ClientStageChanged(s) => serde_json::to_value(s),
            Event::ClientAssigned(a) => serde_json::to_value(a),
        }
        .unwrap_or_default();
        Self {
            id: cursor.to_string(),
            kind,
            data,
        }
    }
}

/// Errors of `chat_events`.
pub struct ChatEventsErrors;

impl ErrorSet for ChatEventsErrors {
    fn responses() -> Vec<(u16, &'static str, MetaSchemaRef)> {
        vec![
            (
                400,
                "`session_id` missing or empty (`ErrorMessage`), or `session_id` not a UUID, \
                 `after` or `Last-Event-ID` not a message id (`FieldErrors`).",
                one_of(vec![ErrorMessage::schema_ref(), FieldErrors::schema_ref()]),
            ),
            (
                405,
                "Wrong method; the `Allow` header lists the allowed ones.",
                ErrorDetail::schema_ref(),
            ),
            (
                503,
                "Too many open event streams (`RIVO_MAX_EVENT_STREAMS`), or the database is \
                 unavailable.",
                ErrorDetail::schema_ref(),
            ),
        ]
    }
}

crate::admin::error_set!(
    /// Errors of `admin_events`.
    AdminEventsErrors {
        400 => "`after` or `Last-Event-ID` is not a cursor of this stream.",
        401 => "No, wrong, expired or revoked credentials.",
        403 => "Not active staff, or missing `chat.view_chathistory`.",
        503 => "Too many open event streams (`RIVO_MAX_EVENT_STREAMS`), or the database is unavailable.",
    }
);

/// `chat_events`' success.
#[derive(ApiResponse)]
pub enum ChatEventsResponse {
    /// A stream of server-sent events, one per new message of the session: `event:
    /// message.created`, `id:` the message id, `data:` the message (`ChatMessage`, as the
    /// history returns it). Comment lines (`:`) are heartbeats. The stream ends after
    /// `RIVO_EVENT_STREAM_MAX_SECS`; reconnect with `Last-Event-ID` to go on without gaps.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, ChatMessageBody>>),
}

/// `admin_events`' success.
#[derive(ApiResponse)]
pub enum AdminEventsResponse {
    /// A stream of server-sent events, one per activity: `event:` its type, `id:` a cursor,
    /// `data:` an `ActivityEvent`. Comment lines (`:`) are heartbeats. The stream ends after
    /// `RIVO_EVENT_STREAM_MAX_SECS`; reconnect with `Last-Event-ID` to go on without gaps.
    #[oai(status = 200)]
    Ok(EventStream<BoxStream<'static, ActivityEventBody>>),
}

/// `Last-Event-ID` (what a reconnecting `EventSource` sends) wins over `after` (what the first
/// connection asked for); empty values count as absent.
fn resume_from(header: Option<String>, query: Option<String>) -> Option<(&'static str, String)> {
    let pick = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    pick(header)
        .map(|v| ("Last-Event-ID", v))
        .or_else(|| pick(query).map(|v| ("after", v)))
}

/// `GET /api/v1/chat/events/`.
#[derive(Default)]
pub struct ChatEventsApi;

#[OpenApi(prefix_path = "/api/v1/chat/events/", tag = "ChatTag::Chat")]
impl ChatEventsApi {
    /// Follow a session live
    ///
    /// Server-sent events (`text/event-stream`): every message stored in the session from now
    /// on (or after `after` / `Last-Event-ID`), across every server on the same database, as
    /// it is stored. Public like the history; CORS like the chat routes. Use the browser's
    /// `EventSource`, which reconnects by itself with `Last-Event-ID`.
    #[oai(path = "/", method = "get", operation_id = "chat_events")]
    async fn events(
        &self,
        store: Data<&Store>,
        streams: Data<&EventStreams>,
        config: Data<&Arc<Config>>,
        /// The session: a UUID in any spelling Python's `uuid.UUID` accepts.
        session_id: Query<Option<String>>,
        /// Start after this message id (e.g. the last one the history returned). Without it
        /// (and without `Last-Event-ID`) the stream starts with the next message stored.
        after: Query<Option<String>>,
        /// Sent by a reconnecting `EventSource`: the `id:` of the last event received. Wins
        /// over `after`.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<ChatEventsResponse, OpError<ChatEventsErrors>> {
        let raw = session_id.0.filter(|s| !s.is_empty());
        let raw = raw.ok_or(ApiError::MissingParameter("session_id"))?;
        let session: SessionId = ApiError::parse_field("session_id", &raw)?;
        let after = match resume_from(last_event_id.0, after.0) {
            None => None,
            Some((field, text)) => match text.trim().parse::<i64>() {
                Ok(id) if id >= 0 => Some(MessageId(id)),
                _ => {
                    return Err(ApiError::field(
                        field,
                        "Ensure this value is a message id (a whole number greater than or \
                         equal to 0).",
                    )
                    .into());
                }
            },
        };
        let slot = streams.acquire()?;
        let messages = store.subscribe_session(session, after).await?;
        // Each message exactly as the history shows it, in the server's chat contract.
        let compat = config.chat_compat;
        let items = streams
            .bounded(slot.started(), messages)
            .map(move |m| ChatMessageBody::render(m, compat))
            .boxed();
        Ok(ChatEventsResponse::Ok(
            EventStream::new(items)
                .keep_alive(streams.limits.heartbeat)
                .to_event(|m: ChatMessageBody| {
                    SseEvent::message(String::from_utf8_lossy(&to_drf_json(&m)))
                        .event_type("message.created")
                        .id(m.id.to_string())
                }),
        ))
    }
}

/// `GET /api/v1/admin/events/`.
#[derive(Default)]
pub struct AdminEventsApi;

#[OpenApi(prefix_path = "/api/v1/admin/events/", tag = "AdminTag::AdminChat")]
impl AdminEventsApi {
    /// Follow all activity live
    ///
    /// Server-sent events (`text/event-stream`) of everything that happens from now on (or
    /// after `after` / `Last-Event-ID`), on every server on the same database: new messages
    /// on all sessions, new clients, stage changes and assignments. Needs
    /// `chat.view_chathistory` (session cookie or token); the check is made when the stream
    /// opens, and a stream lasts at most `RIVO_EVENT_STREAM_MAX_SECS`.
    #[oai(path = "/", method = "get", operation_id = "admin_events")]
    async fn events(
        &self,
        ctx: AdminCtx<'_>,
        streams: Data<&EventStreams>,
        /// Start after this cursor (the `id` of an event). Without it (and without
        /// `Last-Event-ID`) the stream starts now.
        after: Query<Option<String>>,
        /// Sent by a reconnecting `EventSource`: the `id:` of the last event received. Wins
        /// over `after`.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<String>>,
    ) -> Result<AdminEventsResponse, OpError<AdminEventsErrors>> {
        ctx.require(Access::admin(Action::View, Model::ChatHistory))
            .await?;
        let after = match resume_from(last_event_id.0, after.0) {
            None => None,
            Some((field, text)) => {
                Some(ApiError::parse_field::<ActivityCursor>(field, text.trim())?)
            }
        };
        let slot = streams.acquire()?;
        let activity = ctx.store().subscribe_activity(after).await?;
        let compat = ctx.config().chat_compat;
        let items = streams
            .bounded(slot.started(), activity)
            .map(move |a| ActivityEventBody::new(a.cursor, a.event, compat))
            .boxed();
        Ok(AdminEventsResponse::Ok(
            EventStream::new(items)
                .keep_alive(streams.limits.heartbeat)
                .to_event(|e: ActivityEventBody| {
                    let json = e.to_json_string();
                    SseEvent::message(json).event_type(e.kind).id(e.id)
                }),
        ))
    }
}

/// Replaces poem-openapi's description of an SSE response (`type: array, format:
/// event-stream`, which SDK generators and schemathesis reject) by a plain string schema that
/// names the JSON schema of each event's `data:`. Called by [`crate::openapi_json`].
pub fn describe_event_streams(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(media) = op.pointer_mut("/responses/200/content/text~1event-stream") else {
                continue;
            };
            let data = media
                .pointer("/schema/items/$ref")
                .and_then(Value::as_str)
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
                .unwrap_or_else(|| "JSON".to_owned());
            media["schema"] = serde_json::json!({
                "type": "string",
                "description": format!(
                    "A stream of server-sent events (`text/event-stream`): each event has \
                     `id:` (resume with `Last-Event-ID`), `event:` (its type) and `data:` (one \
                     line of JSON, a `{data}`); lines starting with `:` are heartbeats."
                ),
                "example": "id: 42\nevent: message.created\ndata: {\"id\":42,…}\n\n"
            });
            media["x-event-data-schema"] =
                serde_json::json!({ "$ref": format!("#/components/schemas/{data}") });
        }
    }
}
