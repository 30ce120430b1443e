#!/usr/bin/env bash
# Import time of a Django-shaped database (the original app's schema) holding N chat messages
# over N/10 sessions and N/10 clients whose contexts link one session each, into a fresh SQLite
# file and a fresh PostgreSQL database, with `rivo-server import-django`. Also checks that the
# session rows came out right (count of sessions, sum of their message counts).
#
#   bench/import_django.sh [N]          # N = 1000000 by default; env: BIN, RUNS (1)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
S=$((N / 10))
BIN=${BIN:-target/release/rivo-server}
RUNS=${RUNS:-1}
PG=postgres://postgres@127.0.0.1:5432
SRC=rivo_django_src
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export RUST_LOG=warn

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $SRC" -c "CREATE DATABASE $SRC" >/dev/null
psql "$PG/$SRC" -q -v ON_ERROR_STOP=1 -f rivo-core/tests/fixtures/django_schema.sql >/dev/null
psql "$PG/$SRC" -q -v ON_ERROR_STOP=1 -f rivo-core/tests/fixtures/django_data.sql >/dev/null
t0=$(date +%s.%N)
psql "$PG/$SRC" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO client_client (id, created_at, updated_at, name, email, phone, current_stage)
SELECT 1000000 + i, now(), now(), 'Client c' || i, 'c' || i || '@example.com',
       '+1 555 ' || lpad(i::text, 7, '0'), 'lead'
FROM generate_series(1, $S) i;
INSERT INTO client_context (created_at, updated_at, client_id, chat_session_id, context_data)
SELECT now(), now(), 1000000 + i, md5('s' || i)::uuid, '{"source": "bench"}'
FROM generate_series(1, $S) i;
INSERT INTO chat_chathistory (id, session_id, message, sender_type, sent_at)
SELECT 10000000 + i, md5('s' || (1 + i % $S))::uuid,
       'Hello, my reference number is ' || i || ', I would like a quote',
       CASE WHEN i % 2 = 0 THEN 'client' ELSE 'bot' END,
       timestamptz '2025-01-01' + i * interval '1 second'
FROM generate_series(1, $N) i;
ANALYZE;
SQL
echo "seeded the Django database ($N messages, $S clients) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for target in sqlite postgres; do
  times=()
  for _ in $(seq "$RUNS"); do
    if [ "$target" = sqlite ]; then
      rm -f "$OUT"/target.sqlite3*
      url="sqlite://$OUT/target.sqlite3?mode=rwc"
    else
      psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS rivo_import_target" \
        -c "CREATE DATABASE rivo_import_target" >/dev/null
      url="$PG/rivo_import_target"
    fi
    DATABASE_URL=$url "$BIN" migrate >/dev/null
    t0=$(date +%s.%N)
    DATABASE_URL=$url "$BIN" import-django --from "$PG/$SRC" > "$OUT/report.txt"
    times+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')")
  done
  if [ "$target" = sqlite ]; then
    check=$(sqlite3 "$OUT/target.sqlite3" "SELECT count(*) || ' sessions, ' || sum(message_count) || ' messages' FROM chat_sessions")
  else
    check=$(psql "$PG/rivo_import_target" -tAc "SELECT count(*) || ' sessions, ' || sum(message_count) || ' messages' FROM chat_sessions")
  fi
  echo "import into $target: runs ${times[*]} s, median $(printf '%s\n' "${times[@]}" | median) s; session rows: $check"
done
