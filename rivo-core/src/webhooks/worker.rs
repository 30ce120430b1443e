//! The delivery worker: claims due deliveries, attempts them and records the outcomes in
//! grouped write transactions.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::http::post;
use super::model::{bounded, from_micros, random_u64};
use super::{
    AttemptRow, ClaimedRow, MAX_ERROR_LEN, Outcome, WebhookOptions, micros, signature_header,
};
use crate::store::{Store, dispatch};

impl Store {
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
        // Claimed deliveries waiting for a free slot. A claim always asks for `slots` rows (a
        // constant LIMIT: SQLite prepares a statement again whenever a bound LIMIT changes) and
        // only when at least half the slots are free, so at most half a claim waits here, for
        // less than one attempt's timeout: well within the lease.
        let mut queued: std::collections::VecDeque<ClaimedRow> = std::collections::VecDeque::new();
        // Whether deliveries may be due: set by a wake-up (a new event), the poll tick (retries
        // coming due, other servers' events) and a claim that filled every slot; cleared
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
            while inflight.len() < slots
                && let Some(row) = queued.pop_front()
            {
                self.spawn_attempt(&mut inflight, row, &options);
            }
            let free = slots.saturating_sub(inflight.len());
            if cycle_due(
                inflight.len(),
                slots,
                waiting_since.map(|t| t.elapsed()),
                !done.is_empty(),
                may_be_due && queued.is_empty() && free > 0,
            ) {
                let claim = if may_be_due && queued.is_empty() && free > 0 {
                    slots
                } else {
                    0
                };
                let now = Utc::now();
                let lease = chrono::Duration::from_std(options.lease()).unwrap_or_default();
                match dispatch!(self.finish_and_claim(
                    &done,
                    &[],
                    micros(now),
                    micros(now + lease),
                    i64::try_from(claim).unwrap_or(1)
                )) {
                    Ok(claimed) => {
                        if claim > 0 {
                            may_be_due = claimed.len() >= claim;
                        }
                        for row in claimed {
                            if inflight.len() < slots {
                                self.spawn_attempt(&mut inflight, row, &options);
                            } else {
                                queued.push_back(row);
                            }
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
        // Claims never attempted go back to the queue at once (not after their lease).
        let release: Vec<i64> = queued.iter().map(|row| row.id).collect();
        if let Err(e) = dispatch!(self.finish_and_claim(&done, &release, 0, 0, 0)) {
            tracing::warn!(error = %e, attempts = done.len(), "recording webhook attempts failed");
        }
    }

    /// Starts one attempt of a claimed delivery in `inflight`.
    fn spawn_attempt(
        &self,
        inflight: &mut tokio::task::JoinSet<(AttemptRow, Outcome)>,
        row: ClaimedRow,
        options: &Arc<WebhookOptions>,
    ) {
        let store = self.clone();
        let options = Arc::clone(options);
        inflight.spawn(async move { store.attempt(row, &options).await });
    }

    /// One attempt of a claimed delivery and its outcome (recorded by the worker).
    async fn attempt(&self, row: ClaimedRow, options: &WebhookOptions) -> (AttemptRow, Outcome) {
        let started = Utc::now();
        let clock = std::time::Instant::now();
        let result = match body_of(&row) {
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

/// The request body of a claimed delivery: `{id, created_at, type, data}`; `None` when the
/// event's data is gone (a message deleted since). Serialised in one pass (no JSON tree for
/// the hot `message.created`).
fn body_of(row: &ClaimedRow) -> Option<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Body<'a, E: serde::Serialize> {
        id: &'a str,
        created_at: String,
        #[serde(flatten)]
        event: E,
    }
    let id = row.event_id.as_str();
    let created_at =
        from_micros(row.created_at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match (&row.payload, &row.message) {
        (Some(p), _) => {
            let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(p).ok()?;
            serde_json::to_vec(&Body {
                id,
                created_at,
                event,
            })
            .ok()
        }
        (None, Some(m)) => serde_json::to_vec(&Body {
            id,
            created_at,
            event: EventRef::MessageCreated(m),
        })
        .ok(),
        (None, None) => None,
    }
}

/// [`Event::MessageCreated`](crate::events::Event::MessageCreated) by reference (the same JSON, without cloning the message).
#[derive(serde::Serialize)]
#[serde(tag = "type", content = "data")]
enum EventRef<'a> {
    #[serde(rename = "message.created")]
    MessageCreated(&'a crate::chat::ChatMessage),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatMessage, DataType, SenderType};
    use crate::events::Event;
    use crate::ids::{MessageId, SessionId};

    fn claimed(payload: Option<String>, message: Option<ChatMessage>) -> ClaimedRow {
        ClaimedRow {
            id: 7,
            endpoint_id: 1,
            event_id: "msg_42".into(),
            event_type: "message.created".into(),
            payload,
            message_id: message.as_ref().map(|m| m.id.0),
            created_at: 1_700_000_000_123_456,
            attempts: 0,
            retry_since: 0,
            url: "http://example.com/hook".into(),
            secret: "whsec_0123456789abcdef".into(),
            message,
        }
    }

    /// The body is the serialised [`Event`] plus the event id and creation time, whether the
    /// outbox row carries the event (client events) or points at a message.
    #[test]
    fn a_delivery_body_is_the_event_with_its_id_and_time() {
        let message = ChatMessage {
            id: MessageId(42),
            session_id: SessionId(uuid::Uuid::from_u128(5)),
            message: "Hello \"there\"".into(),
            sender_type: SenderType::Client,
            data_type: DataType::default(),
            sent_at: from_micros(1_700_000_000_000_001),
        };
        let event = Event::MessageCreated(message.clone());
        let mut expected = serde_json::to_value(&event).unwrap();
        expected["id"] = "msg_42".into();
        expected["created_at"] = "2023-11-14T22:13:20.123456Z".into();
        for row in [
            claimed(None, Some(message)),
            claimed(Some(serde_json::to_string(&event).unwrap()), None),
        ] {
            let body: serde_json::Value = serde_json::from_slice(&body_of(&row).unwrap()).unwrap();
            assert_eq!(body, expected);
        }
        assert_eq!(body_of(&claimed(None, None)), None);
    }

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
}
