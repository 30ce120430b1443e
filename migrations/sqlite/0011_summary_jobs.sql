-- AI summaries (issue 16): one job row per client, the durable queue of the summary worker.
-- A request (on demand, or a lead completing) makes the row pending again and bumps its
-- generation; a worker claims due rows with a lease (the single writer serialises claims), and writes its
-- outcome only if the generation is still the one it claimed (a newer request runs again).
-- Errors stay here (status + last_error): they are never written into the client's context.
-- Times are Unix microseconds (compared and leased like webhook_deliveries).
CREATE TABLE summary_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- on_demand | lead_completed
    reason          VARCHAR(32) NOT NULL,
    -- pending | running | done | failed
    status          VARCHAR(16) NOT NULL DEFAULT 'pending',
    generation      BIGINT NOT NULL DEFAULT 1,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    last_error      VARCHAR(512),
    model           VARCHAR(200),
    requested_at    BIGINT NOT NULL,
    finished_at     BIGINT,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT summary_jobs_client_key UNIQUE (client_id),
    CONSTRAINT summary_jobs_status_check CHECK (status IN ('pending', 'running', 'done', 'failed'))
);
CREATE INDEX summary_jobs_due_idx ON summary_jobs (next_attempt_at) WHERE status = 'pending';
