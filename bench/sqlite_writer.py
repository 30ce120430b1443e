#!/usr/bin/env python3
"""The SQLite writer's own CPU per chat message, without HTTP or sqlx: a fixed workload of
batches (1000 random sessions, the POST benchmark's message text) written the way
`rivo-core/src/store/sqlite.rs` writes them, one `BEGIN IMMEDIATE … COMMIT` per batch, on a
WAL file with `synchronous=NORMAL`. Reports process CPU time (user + system) per message, so
other programs on the machine do not inflate it; for BENCHMARKS.md (issue 12).

Modes (interleaved, ROUNDS each, medians):
  trig     schema 0006: the multi-row INSERT, session rows and FTS5 by per-row triggers
  trig16   schema 0007: the same with FTS5 automerge 16 / crisismerge 64 (what ships)
  batch    the insert triggers replaced by set-based statements once per batch (one FTS5
           INSERT … SELECT over the batch's id range, one multi-row session upsert); tried
           for issue 12, not kept
  nofts    as batch, without any search index (what FTS5 costs)

  bench/sqlite_writer.py                # env: BATCH_SIZES ("16 32 64"), MESSAGES (48000), ROUNDS (3)
"""
import glob, os, random, sqlite3, statistics, sys, tempfile, time, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = sorted(glob.glob(os.path.join(HERE, "..", "migrations", "sqlite", "000[1-6]_*.sql")))
SIZES = [int(x) for x in os.environ.get("BATCH_SIZES", "16 32 64").split()]
MESSAGES = int(os.environ.get("MESSAGES", "48000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
UPSERT = """ ON CONFLICT (session_id) DO UPDATE SET
 message_count = message_count + excluded.message_count,
 first_message_at = min(first_message_at, excluded.first_message_at),
 last_message_at = CASE WHEN excluded.last_message_at >= last_message_at
     THEN excluded.last_message_at ELSE last_message_at END,
 last_message_preview = CASE WHEN excluded.last_message_at >= last_message_at
     THEN excluded.last_message_preview ELSE last_message_preview END,
 last_sender_type = CASE WHEN excluded.last_message_at >= last_message_at
     THEN excluded.last_sender_type ELSE last_sender_type END"""
SESSION_ROW = ("(?, (SELECT c.client_id FROM client_contexts c WHERE c.chat_session_id = ? "
               "ORDER BY c.id LIMIT 1), ?, ?, ?, substr(?, 1, 100), ?)")


def fresh(path, mode):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "journal_size_limit=4194304", "temp_store=memory"):
        con.execute("PRAGMA " + pragma)
    for m in MIGRATIONS:
        con.executescript(open(m).read())
    if mode in ("batch", "nofts"):
        con.execute("DROP TRIGGER chat_sessions_after_insert")
        con.execute("DROP TRIGGER chat_messages_fts_insert")
    if mode == "trig16":
        con.execute("INSERT INTO chat_messages_fts (chat_messages_fts, rank) VALUES ('automerge', 16)")
        con.execute("INSERT INTO chat_messages_fts (chat_messages_fts, rank) VALUES ('crisismerge', 64)")
    return con


def run(mode, size, path, sessions):
    con = fresh(path, mode)
    rnd = random.Random(1)
    batches = MESSAGES // size
    started = time.process_time()
    for b in range(batches):
        at = "2026-12-06T16:%02d:%02d.%06d+00:00" % (b // 60000 % 60, b // 1000 % 60, b % 1000 * 1000)
        rows = [(rnd.choice(sessions), "Hello, I would like to know more", "client", at)
                for _ in range(size)]
        con.execute("BEGIN IMMEDIATE")
        last = con.execute(
            "INSERT INTO chat_messages (session_id, message, sender_type, sent_at) VALUES "
            + ",".join(["(?,?,?,?)"] * size), [x for r in rows for x in r]).lastrowid
        if mode in ("batch", "nofts"):
            if mode == "batch":
                con.execute("INSERT INTO chat_messages_fts (rowid, message) SELECT id, message "
                            "FROM chat_messages WHERE id BETWEEN ? AND ?", (last - size + 1, last))
            per = {}
            for r in rows:
                n, _ = per.get(r[0], (0, None))
                per[r[0]] = (n + 1, r)
            args = []
            for s, (n, r) in per.items():
                args += [s, s, n, r[3], r[3], r[1], r[2]]
            con.execute("INSERT INTO chat_sessions (session_id, client_id, message_count, "
                        "first_message_at, last_message_at, last_message_preview, "
                        "last_sender_type) VALUES " + ",".join([SESSION_ROW] * len(per)) + UPSERT,
                        args)
        con.execute("COMMIT")
    cpu = time.process_time() - started
    con.close()
    return cpu / (batches * size) * 1e6


def main():
    sessions = [uuid.uuid4().bytes for _ in range(1000)]
    modes = ["trig", "trig16", "batch", "nofts"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w.sqlite3")
        print(f"SQLite {sqlite3.sqlite_version}, {MESSAGES} messages per run, CPU µs per message, "
              f"median of {ROUNDS}")
        print("batch " + "".join(f"{m:>10}" for m in modes))
        for size in SIZES:
            got = {m: [] for m in modes}
            for _ in range(ROUNDS):
                for m in modes:
                    got[m].append(run(m, size, path, sessions))
            print(f"{size:5d} " + "".join(f"{statistics.median(got[m]):10.1f}" for m in modes),
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
