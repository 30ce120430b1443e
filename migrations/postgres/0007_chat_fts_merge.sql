-- Nothing changes on PostgreSQL: the SQLite migration of the same number tunes FTS5 merges of
-- its message search index, which PostgreSQL (a trigram GIN index) does not have. This file
-- keeps the two folders' versions in step.
SELECT 1;
