#!/usr/bin/env bash
# Chat POST throughput, in one run, for BENCHMARKS.md: pgbench's one-row INSERT into
# chat_messages (rivo's own schema and indexes, prepared, RETURNING, like the POST) next to
# `POST /api/v1/chat/stream/` of this build (group commit) and, when OLD_BIN is set, of the
# previous release (one transaction per message), on PostgreSQL and SQLite, at 16 and 64
# connections. Rounds are interleaved (pgbench, new, old, pgbench, …) so that the machine's
# noise falls on every contender alike; medians are printed.
#
#   bench/chat_post.sh                    # env: BIN, OLD_BIN, ROUNDS (3), SECONDS_PER_RUN (10),
#                                         #      CONCURRENCY ("16 64"), BACKENDS ("postgres sqlite"),
#                                         #      LOCKS=1 also runs rivo's append statement under
#                                         #      pgbench: ordered by the row lock vs an advisory lock
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_BIN=${OLD_BIN:-}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-16 64}
PORT=${PORT:-5081}
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init rivo_post_pgbench rivo_post_new rivo_post_old

chat_bodies "$OUT/bodies.jsonl"

# One POST run of `binary` on database `url` at concurrency `c`: prints requests/s.
post_run() {
  local binary=$1 url=$2 c=$3 pid rps
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16 "$binary" serve \
    > "$OUT/server.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT"
  post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$c" 2 "$OUT/bodies.jsonl" >/dev/null
  rps=$(post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$c" "$SECS" "$OUT/bodies.jsonl")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}

# pgbench scripts: the plain one-row INSERT (the database's own rate), and rivo's append
# statement for one message ordered two ways: by the session row's lock (the upsert, kept) and
# by a per-session advisory lock in front of it (the previous release's mechanism).
cat > "$OUT/insert.sql" <<'SQL'
\set n random(0, 999)
INSERT INTO chat_messages (session_id, message, sender_type, sent_at) VALUES ((SELECT md5(:n::text)::uuid), 'Hello, I would like to know more', 'client', clock_timestamp()) RETURNING id, sent_at;
SQL
# The statement as rivo-core runs it (its `--` comments dropped: the lines are joined into one).
APPEND_SQL=$(sed -n '/^const APPEND_BATCH/,/^CROSS JOIN wake ORDER BY n.id/p' \
  rivo-core/src/store/postgres/append.rs | sed '1d; s/--.*$//; s/";$//; s/\$5::text/$$bench$$/' | tr '\n' ' ')
{ echo '\set n random(0, 999)'
  echo "$APPEND_SQL;" | sed 's/\$1::uuid\[\]/ARRAY[md5(:n::text)::uuid]/; s/\$2::text\[\]/ARRAY[$$Hello, I would like to know more$$]/; s/\$3::text\[\]/ARRAY[$$client$$]/; s/\$4::text\[\]/ARRAY[$$message$$]/'
} > "$OUT/append_rowlock.sql"
{ echo '\set n random(0, 999)'
  echo "$APPEND_SQL;" | sed 's/\$1::uuid\[\]/ARRAY[md5(:n::text)::uuid]/; s/\$2::text\[\]/ARRAY[$$Hello, I would like to know more$$]/; s/\$3::text\[\]/ARRAY[$$client$$]/; s/\$4::text\[\]/ARRAY[$$message$$]/' \
    | sed 's/^WITH input AS (/WITH lock AS (SELECT pg_advisory_xact_lock(hashtext(md5(:n::text)))), input AS (/; s/FROM per_session) AS p/FROM per_session, lock) AS p/'
} > "$OUT/append_advisory.sql"

pgbench_run() {
  local c=$1 script=${2:-insert}
  pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$c" -j 2 -T "$SECS" -f "$OUT/$script.sql" \
    rivo_post_pgbench 2>/dev/null | awk '/^tps/ {print int($3)}'
}

round() { # backend c: pgbench (PostgreSQL), then this build, then the previous release
  local backend=$1 c=$2 script
  if [ "$backend" = postgres ]; then
    for script in insert ${LOCKS:+append_rowlock append_advisory}; do
      fresh_db postgres rivo_post_pgbench >/dev/null
      R[pgbench-${script/_/-}-$c]+="$(pgbench_run "$c" "$script") "
    done
  fi
  R[$backend-new-$c]+="$(post_run "$BIN" "$(fresh_db "$backend" rivo_post_new)" "$c") "
  if [ -n "$OLD_BIN" ]; then
    R[$backend-old-$c]+="$(post_run "$OLD_BIN" "$(fresh_db "$backend" rivo_post_old "$OLD_BIN")" "$c") "
  fi
}
each_round round
report_runs 20
