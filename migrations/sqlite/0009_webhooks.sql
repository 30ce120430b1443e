-- Signed webhooks (issue 13): endpoints, the outbox of deliveries (one row per event and
-- subscribed endpoint, written in the transaction of the change it reports) and the attempts
-- of each delivery. Times are Unix microseconds (compared and leased like maintenance_leases).
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    url         VARCHAR(2048) NOT NULL,
    -- The signing key: kept because HMAC needs it; shown to admins only when set.
    secret      VARCHAR(256) NOT NULL,
    -- Bit i set: subscribed to EventKind::ALL[i] (message.created = 1).
    event_mask  INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    description VARCHAR(255) NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        VARCHAR(64) NOT NULL,
    event_type      VARCHAR(32) NOT NULL,
    -- The event as JSON; NULL for message.created, whose message is read at delivery time.
    payload         TEXT,
    message_id      BIGINT,
    -- Whose data the event carries (erasure deletes the rows).
    session_id      BLOB,
    client_id       BIGINT,
    created_at      BIGINT NOT NULL,
    -- pending | delivered | failed
    status          VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- Start of the current retry series (creation, or the last re-send): the give-up age
    -- counts from here.
    retry_since     BIGINT NOT NULL,
    -- A worker's claim: other workers skip the row until then (a killed worker's claim expires).
    locked_until    BIGINT,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_session_idx ON webhook_deliveries (session_id)
    WHERE session_id IS NOT NULL;
CREATE INDEX webhook_deliveries_client_idx ON webhook_deliveries (client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at)
    WHERE status = 'delivered';

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    status_code  INTEGER,
    latency_ms   BIGINT NOT NULL,
    error        VARCHAR(512)
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
