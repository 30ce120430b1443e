-- Issue 12: the message search index (FTS5 trigram) is kept off the append path. A writer's
-- batch only inserts rows; a background task of the store indexes the new rows in bulk, in id
-- order, and records how far it got in `chat_messages_fts_state.indexed_upto`. A search matches
-- the index for rows up to that id and scans the (small) tail above it with LIKE, so results
-- stay exact while the index catches up. Rows inserted with an id at or below the mark (an
-- import of old ids) are still indexed as they are inserted, and deletes and edits touch the
-- index only for indexed rows.
--
-- (Live streams, issue 13, need nothing here: on SQLite a session's mark is the id of its
-- newest message. PostgreSQL's migration of the same number adds `chat_sessions.append_seq`.)
CREATE TABLE chat_messages_fts_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO chat_messages_fts_state (id, indexed_upto)
    VALUES (1, (SELECT coalesce(max(id), 0) FROM chat_messages));

DROP TRIGGER chat_messages_fts_insert;
CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages
WHEN new.id <= (SELECT indexed_upto FROM chat_messages_fts_state) BEGIN
    INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message);
END;
DROP TRIGGER chat_messages_fts_delete;
CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages
WHEN old.id <= (SELECT indexed_upto FROM chat_messages_fts_state) BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
END;
DROP TRIGGER chat_messages_fts_update;
CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF message ON chat_messages
WHEN old.id <= (SELECT indexed_upto FROM chat_messages_fts_state) BEGIN
    INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message)
    VALUES ('delete', old.id, old.message);
    INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message);
END;
