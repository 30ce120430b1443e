# Variant of bench/chat_post_streams.sh, SQLite only: message search indexed inside each append
# batch again, as before migration 0012 (the index's mark set past every id makes the insert
# trigger index each row in the batch's transaction, and leaves the background indexer nothing
# to do). `plain` next to it measures what moving the FTS5 index off the commit path saves.
variant_start() {
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("UPDATE chat_messages_fts_state SET indexed_upto = 9223372036854775807")
c.commit()' "$OUT/s.sqlite3"
}
