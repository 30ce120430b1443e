-- Issue 13, live streams: client events (`client.created`, `client.stage_changed`,
-- `client.assigned`) as the activity stream reports them, written in the change's transaction.
-- SQLite has one writer, so ids are taken in commit order and an id cursor is exact.
-- AUTOINCREMENT: an id is never reused, even after the newest rows are deleted.
CREATE TABLE activity_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    client_id   INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    session_id  BLOB,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX activity_events_client_idx ON activity_events (client_id);
CREATE INDEX activity_events_session_idx ON activity_events (session_id)
    WHERE session_id IS NOT NULL;
