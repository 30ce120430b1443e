#!/usr/bin/env bash
# HTTP throughput of rivo-server on SQLite and PostgreSQL, with oha (`cargo install oha --locked`):
#   post     POST /api/v1/chat/stream/, bodies cycling through 1000 random sessions
#   get20    GET  /api/v1/chat/history/ of a session holding 20 messages (original, unpaginated)
#   get1000  GET  /api/v1/chat/history/ of a session holding 1000 messages (original, unpaginated)
#   page100  GET  /api/v1/chat/history/?limit=100 on that session (first page of the keyset form)
#   admin    GET  /api/v1/admin/clients/?search=smith&current_stage=contacted over 10,000 clients,
#            with a bearer token
#
# Usage: rivo-server/bench/http.sh [sqlite|postgres|all]
# Env:   DURATION (10s per run), RUNS (3), CONCURRENCY ("16 64"), SCENARIOS (all five), PORT (5077),
#        PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432; a fresh database rivo_bench is made),
#        RIVO_DB_MAX_CONNECTIONS, RUST_LOG (warn) passed to the server.
# Output: one oha JSON file per run in $OUT (default a temp dir), with the server's CPU seconds,
#         PostgreSQL's CPU seconds and the machine's busy CPU seconds during the run, the server's
#         peak RSS (VmHWM, reset before each scenario) and a Markdown table of medians on stdout.
set -euo pipefail

cd "$(dirname "$0")/../.."
WHICH=${1:-all}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-16 64}
SCENARIOS=${SCENARIOS:-post get20 get1000 page100 admin}
PORT=${PORT:-5077}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
[ -x "$OHA" ] || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }
export RUST_LOG=${RUST_LOG:-warn}

if [ -z "${BIN:-}" ]; then   # BIN=path/to/rivo-server measures a given binary, no build
  cargo build --release -p rivo-server >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/rivo-server
fi
BASE=http://127.0.0.1:$PORT
S20=6f1c2a8e-0d7e-4d59-9a3b-6c1f0e4b2a10
S1000=7a2d3b9f-1e8f-4a6a-8b4c-7d2f1a5c3b21
PASSWORD='vivid otter harbour 2026 sky'

# 1000 POST bodies, one per line, each with a random session.
BODIES=$OUT/bodies.jsonl
# shellcheck source=bench/lib.sh
source bench/lib.sh
chat_bodies "$BODIES" 1000 "Hello, I would like a quote for my order."
# 10,000 clients: one in ten is a Smith (half of them in stage contacted), stages cycle.
CLIENTS=$OUT/clients.jsonl
python3 - "$CLIENTS" <<'PY'
import sys
stages = ["lead", "contacted", "qualified", "docs_pending"]
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        last = "Smith" if i % 10 == 1 else "Jones"   # odd i: stage contacted or docs_pending
        f.write('{"name":"Client %d %s","email":"c%d@example.com","phone":"+1 555 %07d","current_stage":"%s"}\n'
                % (i, last, i, i, stages[i % 4]))
PY

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT

# CPU seconds (user+system) of one process, of all PostgreSQL backends, of the whole machine.
proc_cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }
pg_cpu() {
  local total=0 pid
  for pid in $(pgrep -x postgres || true); do
    total=$(awk -v t="$total" '{printf "%.2f", t+($14+$15)/100}' "/proc/$pid/stat" 2>/dev/null || echo "$total")
  done
  echo "$total"
}
busy_cpu() { awk '/^cpu / {printf "%.2f", ($2+$3+$4+$7+$8)/100}' /proc/stat; }

# One measured run: oha JSON plus CPU and machine load next to it.
measure() {
  local file=$1; shift
  local s0 p0 b0
  local t0
  s0=$(proc_cpu "$SERVER_PID"); p0=$(pg_cpu); b0=$(busy_cpu); t0=$(date +%s.%N)
  "$OHA" --no-tui --output-format json "$@" > "$file"
  printf '{"wall_s":%s,"server_cpu_s":%s,"pg_cpu_s":%s,"busy_cpu_s":%s,"load1":%s}\n' \
    "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" \
    "$(awk -v a="$s0" -v b="$(proc_cpu "$SERVER_PID")" 'BEGIN{print b-a}')" \
    "$(awk -v a="$p0" -v b="$(pg_cpu)" 'BEGIN{print b-a}')" \
    "$(awk -v a="$b0" -v b="$(busy_cpu)" 'BEGIN{print b-a}')" \
    "$(cut -d' ' -f1 /proc/loadavg)" > "${file%.json}.cpu"
}

# Sets ARGS to oha's arguments for one scenario.
scenario_args() {
  case $1 in
    post) ARGS=(-m POST -T application/json -Z "$BODIES" "$BASE/api/v1/chat/stream/") ;;
    get20) ARGS=("$BASE/api/v1/chat/history/?session_id=$S20") ;;
    get1000) ARGS=("$BASE/api/v1/chat/history/?session_id=$S1000") ;;
    page100) ARGS=("$BASE/api/v1/chat/history/?session_id=$S1000&limit=100") ;;
    admin) ARGS=(-H "Authorization: Bearer $TOKEN"
                 "$BASE/api/v1/admin/clients/?search=smith&current_stage=contacted") ;;
  esac
}

run_backend() {
  local name=$1 url=$2
  echo "== $name" >&2
  DATABASE_URL=$url "$BIN" migrate >&2
  DATABASE_URL=$url RIVO_SUPERUSER_PASSWORD=$PASSWORD "$BIN" createsuperuser \
    --email ops@example.com --username ops >&2
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 "$BIN" serve > "$OUT/$name-server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "$BASE"
  # Seed: the 20- and 1000-message sessions, 10,000 clients (through the API).
  "$OHA" --no-tui --output-format quiet -n 20 -c 1 -m POST -T application/json \
    -d "{\"session_id\":\"$S20\",\"message\":\"A message of the twenty-message session.\"}" \
    "$BASE/api/v1/chat/stream/"
  "$OHA" --no-tui --output-format quiet -n 1000 -c 1 -m POST -T application/json \
    -d "{\"session_id\":\"$S1000\",\"message\":\"A message of the thousand-message session.\"}" \
    "$BASE/api/v1/chat/stream/"
  TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\":\"ops@example.com\",\"password\":\"$PASSWORD\"}" \
    "$BASE/api/v1/account/login/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # Each line once (oha -Z would pick lines at random and repeat some).
  python3 - "$CLIENTS" "$PORT" "$TOKEN" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[3]}
for line in open(sys.argv[1]):
    conn.request("POST", "/api/v1/admin/clients/", line.strip(), headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 201:
        sys.exit(f"creating a client failed: {resp.status}")
PY
  curl -fsS -o "$OUT/$name-admin-sample.json" -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/admin/clients/?search=smith&current_stage=contacted"
  for scenario in $SCENARIOS; do
    scenario_args "$scenario"
    "$OHA" --no-tui --output-format quiet -z 2s -c 16 "${ARGS[@]}"   # warm-up
    echo 5 > "/proc/$SERVER_PID/clear_refs"                          # reset the peak RSS
    for c in $CONCURRENCY; do
      for run in $(seq "$RUNS"); do
        measure "$OUT/$name-$scenario-c$c-$run.json" -z "$DURATION" -c "$c" "${ARGS[@]}"
      done
    done
    grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}' > "$OUT/$name-$scenario.hwm"
  done
  grep VmRSS "/proc/$SERVER_PID/status" | awk '{print $2}' > "$OUT/$name.rss"
  stop_server
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  run_backend sqlite "sqlite://$OUT/bench.sqlite3?mode=rwc"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  psql "$PG_ADMIN_URL/postgres" -qc 'DROP DATABASE IF EXISTS rivo_bench' -c 'CREATE DATABASE rivo_bench'
  run_backend postgres "$PG_ADMIN_URL/rivo_bench"
fi

python3 "$(dirname "$0")/report.py" "$OUT"
