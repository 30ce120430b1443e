-- Issue 13, live streams handed over in memory: `chat_sessions.append_seq` changes with every
-- batch that appends to the session (raised by the batch's message count under the row's
-- lock). A group-commit writer returns it before and after its rows, so a stream of this
-- process whose own mark equals the "before" takes the rows without reading the database; any
-- other value (a write from another server in between) sends it to the database. New rows
-- start from a time-derived value, so a session erased and written again never repeats an
-- old mark. Existing rows start at 0 (added with a default: no table rewrite).
ALTER TABLE chat_sessions ADD COLUMN append_seq BIGINT NOT NULL DEFAULT 0;

-- (The SQLite migration of the same number moves its message search index off the append path;
-- PostgreSQL's trigram GIN index stays as it is.)
