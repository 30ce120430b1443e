-- Fixed-window request counters shared by every server on the database (issue 15, finding 13):
-- one row per key (e.g. `chat-addr:203.0.113.7`) and window, counted with one atomic upsert.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at);
