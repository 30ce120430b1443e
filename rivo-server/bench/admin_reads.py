#!/usr/bin/env python3
"""Admin reads at 10k, 1M (and 10M) messages, for BENCHMARKS.md.

For each size, a fresh database of the previous schema (migrations 0001-0002, as a live site
has it today) is seeded with SQL: N messages over N/10 sessions, N/10 clients whose contexts
link one session each. Then, on the same data in one run:

  1. OLD_BIN (optional: the previous release) serves it, and every read is timed;
  2. BIN starts, which applies 0003 (the chat_sessions backfill and the trigram indexes;
     its time is reported), and every read is timed again.

Each read: one warm-up, then RUNS timed requests on one keep-alive connection per server; the
sizes are served at once and their requests interleaved, so the machine's noise falls on every
size alike. Medians are reported (milliseconds, the whole request as the client sees it).

Usage: rivo-server/bench/admin_reads.py [postgres|sqlite] [SIZES...]
Env:   BIN (target/release/rivo-server), OLD_BIN (required: the previous release's binary, e.g.
       git worktree add /work/old 4eaa11e && (cd /work/old && cargo build --release -p rivo-server)),
       RUNS (5), PORT (5079; one port per size from there), OLD_MAX (1000000: larger sizes are
       not timed on the previous release),
       PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432), OUT (a JSON file of every figure).
"""

import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "postgres"
SIZES = [int(s) for s in sys.argv[2:]] or [10_000, 1_000_000]
BIN = os.environ.get("BIN", "target/release/rivo-server")
# The previous release (migrations 0001-0002 only): it lays out the database of a live site
# today, and its reads are timed on the same data.
OLD_BIN = os.environ["OLD_BIN"]
RUNS = int(os.environ.get("RUNS", "5"))
PORT = int(os.environ.get("PORT", "5079"))
PG_ADMIN = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
PASSWORD = "vivid otter harbour 2026 sky"
DB_NAME = "rivo_admin_bench"

READS = [
    ("sessions list", "/api/v1/admin/chat/sessions/"),
    ("sessions ?search=12345", "/api/v1/admin/chat/sessions/?search=12345"),
    ("sessions page 40", "/api/v1/admin/chat/sessions/?page=40"),
    ("messages list", "/api/v1/admin/chat/messages/"),
    ("messages ?search=12345", "/api/v1/admin/chat/messages/?search=12345"),
    ("clients ?search=c12345", "/api/v1/admin/clients/?search=c12345"),
    ("admin index (counts)", "/api/v1/admin/"),
    ("chat history (one session)", "/api/v1/chat/history/?session_id={session}"),
]


def psql(db, sql):
    subprocess.run(
        ["psql", f"{PG_ADMIN}/{db}", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def seed_postgres(n, db):
    psql("postgres", f"DROP DATABASE IF EXISTS {db}")
    psql("postgres", f"CREATE DATABASE {db}")
    url = f"{PG_ADMIN}/{db}"
    subprocess.run([OLD_BIN, "migrate"], env=env(url), check=True, stdout=subprocess.DEVNULL)
    s = max(n // 10, 1)
    psql(db, f"""
        INSERT INTO clients (name, email, phone, current_stage, created_at, updated_at)
        SELECT 'Client c' || i, 'c' || i || '@example.com', '+1 555 ' || lpad(i::text, 7, '0'),
               'lead', now(), now() FROM generate_series(1, {s}) i;
        INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, updated_at)
        SELECT i, md5('s' || i)::uuid, '{{}}', now(), now() FROM generate_series(1, {s}) i;
        INSERT INTO chat_messages (session_id, message, sender_type, sent_at)
        SELECT md5('s' || (1 + i % {s}))::uuid,
               'Hello, my reference number is ' || i || ', I would like a quote',
               CASE WHEN i % 2 = 0 THEN 'client' ELSE 'bot' END,
               timestamptz '2026-01-01' + i * interval '1 second'
        FROM generate_series(1, {n}) i;
        ANALYZE;""")
    return url


def seed_sqlite(n, path):
    url = f"sqlite://{path}?mode=rwc"
    subprocess.run([OLD_BIN, "migrate"], env=env(url), check=True, stdout=subprocess.DEVNULL)
    con = sqlite3.connect(path)
    s = max(n // 10, 1)
    now = "2026-01-01T00:00:00+00:00"
    con.executemany(
        "INSERT INTO clients (name, email, phone, current_stage, created_at, updated_at) "
        "VALUES (?, ?, ?, 'lead', ?, ?)",
        ((f"Client c{i}", f"c{i}@example.com", f"+1 555 {i:07d}", now, now) for i in range(1, s + 1)))

    def sid(k):
        return k.to_bytes(16, "big")

    con.executemany(
        "INSERT INTO client_contexts (client_id, chat_session_id, context_data, created_at, updated_at) "
        "VALUES (?, ?, '{}', ?, ?)", ((i, sid(i), now, now) for i in range(1, s + 1)))
    base = 1767225600  # 2026-01-01

    def msgs():
        for i in range(1, n + 1):
            t = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(base + i))
            yield (sid(1 + i % s), f"Hello, my reference number is {i}, I would like a quote",
                   "client" if i % 2 == 0 else "bot", t)

    con.executemany("INSERT INTO chat_messages (session_id, message, sender_type, sent_at) "
                    "VALUES (?, ?, ?, ?)", msgs())
    con.commit()
    con.close()
    return url


def env(url, port=PORT, extra=None):
    e = dict(os.environ)
    e.update({"DATABASE_URL": url, "PORT": str(port), "BIND_ADDRESS": "127.0.0.1",
              "RUST_LOG": "warn", "RIVO_SUPERUSER_PASSWORD": PASSWORD, "DEBUG": "True"})
    e.update(extra or {})
    return e


def wait_ready(proc, port):
    for _ in range(6000):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


class Server:
    """A running server on one database, logged in, on one keep-alive connection."""

    def __init__(self, binary, url, port, session):
        self.session = session
        self.proc = subprocess.Popen([binary], env=env(url, port), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_ready(self.proc, port)
        subprocess.run([binary, "createsuperuser", "--email", "bench@example.com"],
                       env=env(url, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.conn.request("POST", "/api/v1/account/login/",
                          json.dumps({"email": "bench@example.com", "password": PASSWORD}),
                          {"Content-Type": "application/json"})
        self.token = json.loads(self.conn.getresponse().read())["token"]

    def get(self, path):
        path = path.format(session=self.session)
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        r = self.conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {body[:200]}")
        data = json.loads(body)
        note = ""
        if isinstance(data, dict) and "count" in data:
            note = f"count={data['count']}{'~' if data.get('count_is_estimate') else ''}"
        return elapsed, note

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def measure_all(binary, dbs):
    """Every read on every size, interleaved (size A, size B, size A, …) so that the machine's
    noise falls on each size alike; medians of RUNS after one warm-up."""
    servers = {n: Server(binary, url, PORT + i, session)
               for i, (n, (url, session)) in enumerate(dbs.items())}
    try:
        out = {n: {} for n in dbs}
        for name, path in READS:
            times = {n: [] for n in dbs}
            notes = {}
            for i in range(RUNS + 1):
                for n, server in servers.items():
                    elapsed, notes[n] = server.get(path)
                    if i:
                        times[n].append(elapsed)
            for n in dbs:
                out[n][name] = (statistics.median(times[n]), notes[n])
        return out
    finally:
        for server in servers.values():
            server.stop()


def main():
    tmp = tempfile.mkdtemp()
    dbs, seeded = {}, {}
    for n in SIZES:
        t0 = time.monotonic()
        if BACKEND == "postgres":
            url = seed_postgres(n, f"{DB_NAME}_{n}")
            session = subprocess.run(["psql", f"{PG_ADMIN}/{DB_NAME}_{n}", "-tAc",
                                      "SELECT md5('s1')::uuid"],
                                     capture_output=True, text=True, check=True).stdout.strip()
        else:
            url = seed_sqlite(n, os.path.join(tmp, f"rivo-{n}.sqlite3"))
            session = "00000000-0000-0000-0000-000000000001"
        seeded[n] = time.monotonic() - t0
        dbs[n] = (url, session)
    # The previous release takes seconds per read beyond 1M messages: time it up to OLD_MAX.
    old_max = int(os.environ.get("OLD_MAX", "1000000"))
    old = measure_all(OLD_BIN, {n: d for n, d in dbs.items() if n <= old_max})
    migrated = {}
    for n, (url, _) in dbs.items():
        t0 = time.monotonic()
        subprocess.run([BIN, "migrate"], env=env(url), check=True, stdout=subprocess.DEVNULL)
        migrated[n] = time.monotonic() - t0
    new = measure_all(BIN, dbs)
    shutil.rmtree(tmp, ignore_errors=True)
    figures = {n: {"seed_s": seeded[n], "migrate_s": migrated[n], "old": old.get(n),
                   "new": new[n]} for n in SIZES}
    for n in SIZES:
        print(f"# {BACKEND} {n:,} messages: seeded in {seeded[n]:.1f} s, 0003 applied in "
              f"{migrated[n]:.1f} s", flush=True)
        for name, _ in READS:
            o, w = old.get(n, {}).get(name), new[n][name]
            print(f"{name:30} " + (f"old {o[0]:9.1f} ms  " if o else "old        –     ")
                  + f"new {w[0]:8.1f} ms  {w[1]}", flush=True)
    if os.environ.get("OUT"):
        with open(os.environ["OUT"], "w") as f:
            json.dump(figures, f, indent=1)
    # The ratios the issue asks for: each read at every larger size against the smallest.
    lo, *rest = SIZES
    for hi in rest:
        print(f"\n| read | {lo:,} | {hi:,} | ratio | previous release |")
        print("|---|---|---|---|---|")
        for name, _ in READS:
            a, b = new[lo][name][0], new[hi][name][0]
            prev = "not timed"
            if hi in old:
                oa, ob = old[lo][name][0], old[hi][name][0]
                prev = f"{oa:.1f} → {ob:.1f} ms (×{ob / oa:.1f})"
            print(f"| {name} | {a:.1f} ms | {b:.1f} ms | ×{b / a:.2f} | {prev} |")


if __name__ == "__main__":
    main()
