-- The later original's chat data (issue 16): what a chat message carries (`data_type`: a plain
-- message, or the visitor's name, email or phone, which lead capture copies onto the client),
-- and assignments without an assignee: an active row with a NULL `assigned_to_id` means
-- "awaiting assignment", as in the later original.
ALTER TABLE chat_messages ADD COLUMN data_type VARCHAR(20) NOT NULL DEFAULT 'message'
    CHECK (data_type IN ('message', 'name', 'email', 'phone'));

-- SQLite cannot drop a NOT NULL: rebuild the table (nothing references it), keeping its ids,
-- its AUTOINCREMENT position and its indexes.
CREATE TABLE client_assignments_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id      BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    assigned_to_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    assigned_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    is_active      INTEGER NOT NULL DEFAULT 1,
    remarks        TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
INSERT INTO client_assignments_new (id, client_id, assigned_to_id, assigned_by_id, is_active,
                                    remarks, created_at, updated_at)
SELECT id, client_id, assigned_to_id, assigned_by_id, is_active, remarks, created_at, updated_at
FROM client_assignments;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'client_assignments_new', seq FROM sqlite_sequence WHERE name = 'client_assignments'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'client_assignments_new');
UPDATE sqlite_sequence SET seq = max(seq, coalesce(
    (SELECT s.seq FROM sqlite_sequence s WHERE s.name = 'client_assignments'), 0))
WHERE name = 'client_assignments_new';
DROP TABLE client_assignments;
ALTER TABLE client_assignments_new RENAME TO client_assignments;
CREATE INDEX client_assignments_client_idx ON client_assignments (client_id, created_at DESC);
CREATE INDEX client_assignments_is_active_idx ON client_assignments (is_active);
CREATE INDEX client_assignments_assigned_to_idx ON client_assignments (assigned_to_id);
CREATE INDEX client_assignments_assigned_by_idx ON client_assignments (assigned_by_id);
-- At most one active assignment per client, enforced by the database.
CREATE UNIQUE INDEX client_assignments_one_active ON client_assignments (client_id) WHERE is_active = 1;
