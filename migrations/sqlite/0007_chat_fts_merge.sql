-- FTS5 merge settings of the message search index (issue 12, SQLite POST throughput). Every
-- append batch commits one small FTS5 segment; with the default `automerge` of 4, FTS5 merges
-- 4 segments of a level into one of the next at every few commits, so each index entry is
-- rewritten about log4(segments) times. Merging 16 at a time rewrites each entry about half as
-- often (log16), which was ~10 % of the single writer's CPU per message in
-- `bench/sqlite_writer.py`; `crisismerge` is raised past it (default 16) so that merges stay
-- incremental instead of one long merge inside some append's commit. Searches read at most a
-- few more segments per level. Both settings are stored in the index (`chat_messages_fts_config`)
-- and change no row.
INSERT INTO chat_messages_fts (chat_messages_fts, rank) VALUES ('automerge', 16);
INSERT INTO chat_messages_fts (chat_messages_fts, rank) VALUES ('crisismerge', 64);
