-- Leases that let one server among several run a periodic maintenance job (chat retention):
-- a row per job, taken with one atomic upsert that succeeds only when the previous lease has
-- expired. Unlike a session-level advisory lock it survives a transaction-mode pooler, and a
-- job made of many short transactions stays exclusive between them. Times are Unix
-- microseconds.
CREATE TABLE maintenance_leases (
    name        VARCHAR(64) PRIMARY KEY,
    holder      VARCHAR(64) NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
