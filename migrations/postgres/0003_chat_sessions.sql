-- Conversations as rows: one `chat_sessions` row per session with its size, time span, last
-- message and linked client, kept right in the transaction of every change to its messages, so
-- the admin's session list never scans the messages. Trigram indexes serve substring search.

CREATE TABLE chat_sessions (
    session_id           UUID PRIMARY KEY,
    client_id            BIGINT REFERENCES clients (id) ON DELETE SET NULL,
    message_count        BIGINT NOT NULL,
    first_message_at     TIMESTAMPTZ NOT NULL,
    last_message_at      TIMESTAMPTZ NOT NULL,
    last_message_preview TEXT NOT NULL,
    last_sender_type     VARCHAR(10) NOT NULL,
    CONSTRAINT chat_sessions_count_check CHECK (message_count > 0)
);
CREATE INDEX chat_sessions_last_idx ON chat_sessions (last_message_at DESC, session_id);
CREATE INDEX chat_sessions_client_idx ON chat_sessions (client_id);

-- Backfill from the messages already stored.
INSERT INTO chat_sessions (session_id, message_count, first_message_at, last_message_at,
                           last_message_preview, last_sender_type)
SELECT a.session_id, a.n, a.first_at, l.sent_at, left(l.message, 100), l.sender_type
FROM (SELECT session_id, count(*) AS n, min(sent_at) AS first_at
      FROM chat_messages GROUP BY session_id) AS a
CROSS JOIN LATERAL (
    SELECT m.sent_at, m.message, m.sender_type FROM chat_messages m
    WHERE m.session_id = a.session_id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) AS l;

UPDATE chat_sessions s SET client_id = c.client_id
FROM (SELECT DISTINCT ON (chat_session_id) chat_session_id, client_id FROM client_contexts
      WHERE chat_session_id IS NOT NULL ORDER BY chat_session_id, id) AS c
WHERE c.chat_session_id = s.session_id;
-- Statistics now, so that the admin's counts can use the planner's estimate at once.
ANALYZE chat_sessions;

-- Deletes of messages (one, a bulk delete, a whole session) keep the rows right in the same
-- transaction. Session rows are locked in id order first, as appends lock them, so a delete and
-- an append of one session serialise without deadlocks and the recount sees the append's rows.
CREATE FUNCTION rivo_chat_sessions_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM chat_sessions
    WHERE session_id IN (SELECT DISTINCT session_id FROM gone)
    ORDER BY session_id FOR UPDATE;
    DELETE FROM chat_sessions s
    WHERE s.session_id IN (SELECT DISTINCT session_id FROM gone)
      AND NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.session_id = s.session_id);
    UPDATE chat_sessions s SET
        message_count = (SELECT count(*) FROM chat_messages m WHERE m.session_id = s.session_id),
        first_message_at = (SELECT m.sent_at FROM chat_messages m WHERE m.session_id = s.session_id
                            ORDER BY m.sent_at, m.id LIMIT 1),
        (last_message_at, last_message_preview, last_sender_type) = (
            SELECT m.sent_at, left(m.message, 100), m.sender_type FROM chat_messages m
            WHERE m.session_id = s.session_id ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)
    WHERE s.session_id IN (SELECT DISTINCT session_id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER chat_sessions_after_delete AFTER DELETE ON chat_messages
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION rivo_chat_sessions_after_delete();

-- The linked client follows the contexts' `chat_session_id` (the oldest context wins).
CREATE FUNCTION rivo_chat_sessions_relink() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat_sessions s SET client_id = (
        SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = s.session_id
        ORDER BY c.id LIMIT 1)
    WHERE s.session_id IN (
        SELECT (CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.chat_session_id END)
        UNION SELECT (CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.chat_session_id END));
    RETURN NULL;
END $$;
CREATE TRIGGER chat_sessions_relink AFTER INSERT OR DELETE OR UPDATE OF chat_session_id
    ON client_contexts FOR EACH ROW EXECUTE FUNCTION rivo_chat_sessions_relink();

-- Substring search (`ILIKE '%…%'`) on messages, clients and users through pg_trgm GIN indexes,
-- created with the operator class of whichever schema holds the extension.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
DO $$
DECLARE
    ext text;
    target record;
BEGIN
    SELECT n.nspname INTO ext FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    FOR target IN SELECT * FROM (VALUES
        ('chat_messages_message_trgm', 'chat_messages', 'message'),
        ('clients_name_trgm', 'clients', 'name'),
        ('clients_email_trgm', 'clients', 'email'),
        ('clients_phone_trgm', 'clients', 'phone'),
        ('users_email_trgm', 'users', 'email'),
        ('users_username_trgm', 'users', 'username'),
        ('users_first_name_trgm', 'users', 'first_name'),
        ('users_last_name_trgm', 'users', 'last_name')) AS t(name, tbl, col)
    LOOP
        EXECUTE format('CREATE INDEX %I ON %I USING gin (%I %I.gin_trgm_ops)',
                       target.name, target.tbl, target.col, ext);
    END LOOP;
END $$;
