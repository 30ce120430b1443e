#!/usr/bin/env bash
# The database's own limit on this machine, for BENCHMARKS.md: pgbench running the statements
# rivo-server runs per request, on rivo's own schema, at the concurrency of the HTTP benchmarks.
#
#   bench/pgbench.sh            # 3 runs x 10 s per case; prints the median tps of each case
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and pgbench (postgresql-client).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${RIVO_PGBENCH_DB:-rivo_pgbench}
SECONDS_PER_RUN=${RIVO_PGBENCH_SECONDS:-10}
RUNS=${RIVO_PGBENCH_RUNS:-3}
PSQL="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -q"

$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
for f in migrations/postgres/*.sql; do $PSQL -d "$DB" -f "$f"; done

# A pool of 1000 sessions; session 0 holds 20 messages, like the HTTP history benchmark.
$PSQL -d "$DB" <<'SQL'
CREATE TABLE bench_sessions (n int PRIMARY KEY, session_id uuid NOT NULL);
INSERT INTO bench_sessions SELECT n, gen_random_uuid() FROM generate_series(0, 999) n;
INSERT INTO chat_messages (session_id, message, sender_type, sent_at)
SELECT (SELECT session_id FROM bench_sessions WHERE n = 0), 'message ' || i, 'client', clock_timestamp()
FROM generate_series(1, 20) i;
SQL
S0=$($PSQL -d "$DB" -tAc "SELECT session_id FROM bench_sessions WHERE n = 0")

tmp=$(mktemp -d)
# The INSERT rivo-server's POST runs (prepared, one row, RETURNING).
cat > "$tmp/insert.sql" <<SQL
\set n random(0, 999)
INSERT INTO chat_messages (session_id, message, sender_type, sent_at) VALUES ((SELECT md5(:n::text)::uuid), 'Hello, I would like to know more', 'client', clock_timestamp()) RETURNING id, sent_at;
SQL
# The SELECT rivo-server's history GET runs (20 rows).
cat > "$tmp/select.sql" <<SQL
SELECT id, session_id, message, sender_type, sent_at FROM chat_messages WHERE session_id = '$S0' ORDER BY sent_at, id;
SQL

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for script in insert select; do
  for c in 16 64; do
    results=()
    for _ in $(seq "$RUNS"); do
      tps=$(pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$c" -j 2 -T "$SECONDS_PER_RUN" \
        -f "$tmp/$script.sql" "$DB" 2>/dev/null | awk '/^tps/ {print int($3)}')
      results+=("$tps")
    done
    printf '%s c=%s tps runs: %s median: %s\n' "$script" "$c" "${results[*]}" \
      "$(printf '%s\n' "${results[@]}" | median)"
  done
done
rm -rf "$tmp"
