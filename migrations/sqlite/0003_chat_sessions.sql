-- Conversations as rows: one `chat_sessions` row per session with its size, time span, last
-- message and linked client, kept right by triggers in the transaction of every change to its
-- messages, so the admin's session list never scans the messages. FTS5 trigram indexes serve
-- substring search (the store still applies LIKE to the candidates, so matching is unchanged).

CREATE TABLE chat_sessions (
    session_id           BLOB PRIMARY KEY,
    client_id            BIGINT REFERENCES clients (id) ON DELETE SET NULL,
    message_count        INTEGER NOT NULL,
    first_message_at     TEXT NOT NULL,
    last_message_at      TEXT NOT NULL,
    last_message_preview TEXT NOT NULL,
    last_sender_type     TEXT NOT NULL,
    CONSTRAINT chat_sessions_count_check CHECK (message_count > 0)
);
CREATE INDEX chat_sessions_last_idx ON chat_sessions (last_message_at DESC, session_id);
CREATE INDEX chat_sessions_client_idx ON chat_sessions (client_id);

INSERT INTO chat_sessions (session_id, message_count, first_message_at, last_message_at,
                           last_message_preview, last_sender_type)
SELECT a.session_id, a.n, a.first_at,
       (SELECT m.sent_at FROM chat_messages m WHERE m.session_id = a.session_id
        ORDER BY m.sent_at DESC, m.id DESC LIMIT 1),
       (SELECT substr(m.message, 1, 100) FROM chat_messages m WHERE m.session_id = a.session_id
        ORDER BY m.sent_at DESC, m.id DESC LIMIT 1),
       (SELECT m.sender_type FROM chat_messages m WHERE m.session_id = a.session_id
        ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)
FROM (SELECT session_id, count(*) AS n, min(sent_at) AS first_at
      FROM chat_messages GROUP BY session_id) AS a;

UPDATE chat_sessions SET client_id = (
    SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = chat_sessions.session_id
    ORDER BY c.id LIMIT 1);

-- Every stored message updates its session (the single writer keeps times in id order).
CREATE TRIGGER chat_sessions_after_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_sessions (session_id, client_id, message_count, first_message_at,
                               last_message_at, last_message_preview, last_sender_type)
    VALUES (new.session_id,
            (SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = new.session_id
             ORDER BY c.id LIMIT 1),
            1, new.sent_at, new.sent_at, substr(new.message, 1, 100), new.sender_type)
    ON CONFLICT (session_id) DO UPDATE SET
        message_count = message_count + 1,
        first_message_at = min(first_message_at, excluded.first_message_at),
        last_message_at = CASE WHEN excluded.last_message_at >= last_message_at
                               THEN excluded.last_message_at ELSE last_message_at END,
        last_message_preview = CASE WHEN excluded.last_message_at >= last_message_at
                               THEN excluded.last_message_preview ELSE last_message_preview END,
        last_sender_type = CASE WHEN excluded.last_message_at >= last_message_at
                               THEN excluded.last_sender_type ELSE last_sender_type END;
END;

CREATE TRIGGER chat_sessions_after_delete AFTER DELETE ON chat_messages BEGIN
    DELETE FROM chat_sessions WHERE session_id = old.session_id AND message_count <= 1;
    UPDATE chat_sessions SET
        message_count = message_count - 1,
        first_message_at = (SELECT m.sent_at FROM chat_messages m
                            WHERE m.session_id = old.session_id ORDER BY m.sent_at, m.id LIMIT 1),
        last_message_at = (SELECT m.sent_at FROM chat_messages m WHERE m.session_id = old.session_id
                           ORDER BY m.sent_at DESC, m.id DESC LIMIT 1),
        last_message_preview = (SELECT substr(m.message, 1, 100) FROM chat_messages m
                                WHERE m.session_id = old.session_id
                                ORDER BY m.sent_at DESC, m.id DESC LIMIT 1),
        last_sender_type = (SELECT m.sender_type FROM chat_messages m
                            WHERE m.session_id = old.session_id
                            ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)
    WHERE session_id = old.session_id;
END;

-- The linked client follows the contexts' `chat_session_id` (the oldest context wins).
CREATE TRIGGER chat_sessions_relink_insert AFTER INSERT ON client_contexts
WHEN new.chat_session_id IS NOT NULL BEGIN
    UPDATE chat_sessions SET client_id = (
        SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = new.chat_session_id
        ORDER BY c.id LIMIT 1)
    WHERE session_id = new.chat_session_id;
END;
CREATE TRIGGER chat_sessions_relink_update AFTER UPDATE OF chat_session_id ON client_contexts BEGIN
    UPDATE chat_sessions SET client_id = (
        SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = chat_sessions.session_id
        ORDER BY c.id LIMIT 1)
    WHERE session_id IN (old.chat_session_id, new.chat_session_id);
END;
CREATE TRIGGER chat_sessions_relink_delete AFTER DELETE ON client_contexts
WHEN old.chat_session_id IS NOT NULL BEGIN
    UPDATE chat_sessions SET client_id = (
        SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = old.chat_session_id
        ORDER BY c.id LIMIT 1)
    WHERE session_id = old.chat_session_id;
END;

-- Trigram full-text indexes (external content: they hold only the index).
CREATE VIRTUAL TABLE chat_messages_fts USING fts5(
    message, content='chat_messages', content_rowid='id', tokenize='trigram');
INSERT INTO chat_messages_fts (chat_messages_fts) VALUES ('rebuild');
CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message);
END;
CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
END;
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF message ON chat_messages BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
    INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message);
END;

CREATE VIRTUAL TABLE clients_fts USING fts5(
    name, email, phone, content='clients', content_rowid='id', tokenize='trigram');
INSERT INTO clients_fts (clients_fts) VALUES ('rebuild');
CREATE TRIGGER clients_fts_insert AFTER INSERT ON clients BEGIN
    INSERT INTO clients_fts (rowid, name, email, phone)
    VALUES (new.id, new.name, new.email, new.phone);
END;
CREATE TRIGGER clients_fts_delete AFTER DELETE ON clients BEGIN
    INSERT INTO clients_fts (clients_fts, rowid, name, email, phone)
    VALUES ('delete', old.id, old.name, old.email, old.phone);
END;
CREATE TRIGGER clients_fts_update AFTER UPDATE OF name, email, phone ON clients BEGIN
    INSERT INTO clients_fts (clients_fts, rowid, name, email, phone)
    VALUES ('delete', old.id, old.name, old.email, old.phone);
    INSERT INTO clients_fts (rowid, name, email, phone)
    VALUES (new.id, new.name, new.email, new.phone);
END;

CREATE VIRTUAL TABLE users_fts USING fts5(
    email, username, first_name, last_name, content='users', content_rowid='id',
    tokenize='trigram');
INSERT INTO users_fts (users_fts) VALUES ('rebuild');
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_fts (rowid, email, username, first_name, last_name)
    VALUES (new.id, new.email, new.username, new.first_name, new.last_name);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, email, username, first_name, last_name)
    VALUES ('delete', old.id, old.email, old.username, old.first_name, old.last_name);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF email, username, first_name, last_name ON users
BEGIN
    INSERT INTO users_fts (users_fts, rowid, email, username, first_name, last_name)
    VALUES ('delete', old.id, old.email, old.username, old.first_name, old.last_name);
    INSERT INTO users_fts (rowid, email, username, first_name, last_name)
    VALUES (new.id, new.email, new.username, new.first_name, new.last_name);
END;
