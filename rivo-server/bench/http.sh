#!/usr/bin/env bash
# HTTP throughput of the chat API (POST /api/v1/chat/stream/ and GET /api/v1/chat/history/)
# on SQLite and PostgreSQL, with oha (`cargo install oha --locked`).
#
# Usage: rivo-server/bench/http.sh [sqlite|postgres|all]
# Env:   DURATION (default 10s per run), RUNS (3), CONCURRENCY ("16 64"), PORT (5077),
#        PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432) — a fresh database rivo_bench is
#        created there. Results: one JSON file per run in $OUT (default a temp dir) and a
#        Markdown table of medians on stdout.
#
# Each backend: release build, fresh database, server on 127.0.0.1 with RUST_LOG=warn;
# POST bodies cycle through 1000 random sessions (oha -Z, one JSON body per line); GET reads
# the history of one session holding 20 messages. One 2 s warm-up per backend and kind.
set -euo pipefail

cd "$(dirname "$0")/../.."
WHICH=${1:-all}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-16 64}
PORT=${PORT:-5077}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-$(mktemp -d)}
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
[ -x "$OHA" ] || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }

cargo build --release -p rivo-server >&2
BIN=${CARGO_TARGET_DIR:-target}/release/rivo-server
BASE=http://127.0.0.1:$PORT
HISTORY_SESSION=6f1c2a8e-0d7e-4d59-9a3b-6c1f0e4b2a10

# 1000 POST bodies, one per line, each with a random session.
BODIES=$OUT/bodies.jsonl
: > "$BODIES"
for _ in $(seq 1000); do
  printf '{"session_id":"%s","message":"Hello, I would like a quote for my order.","sender_type":"client"}\n' \
    "$(cat /proc/sys/kernel/random/uuid)" >> "$BODIES"
done

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT

run_backend() {
  local name=$1 url=$2
  echo "== $name" >&2
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RUST_LOG=warn "$BIN" serve \
    > "$OUT/$name-server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for i in $(seq 20); do
    curl -fsS -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"session_id\":\"$HISTORY_SESSION\",\"message\":\"history message $i\"}" \
      "$BASE/api/v1/chat/stream/"
  done
  "$OHA" --no-tui --output-format quiet -z 2s -c 16 -m POST -T application/json -Z "$BODIES" \
    "$BASE/api/v1/chat/stream/"
  "$OHA" --no-tui --output-format quiet -z 2s -c 16 "$BASE/api/v1/chat/history/?session_id=$HISTORY_SESSION"
  for c in $CONCURRENCY; do
    for run in $(seq "$RUNS"); do
      "$OHA" --no-tui --output-format json -z "$DURATION" -c "$c" -m POST -T application/json \
        -Z "$BODIES" "$BASE/api/v1/chat/stream/" > "$OUT/$name-post-c$c-$run.json"
      "$OHA" --no-tui --output-format json -z "$DURATION" -c "$c" \
        "$BASE/api/v1/chat/history/?session_id=$HISTORY_SESSION" > "$OUT/$name-get-c$c-$run.json"
    done
  done
  stop_server
}

if [ "$WHICH" = sqlite ] || [ "$WHICH" = all ]; then
  run_backend sqlite "sqlite://$OUT/bench.sqlite3?mode=rwc"
fi
if [ "$WHICH" = postgres ] || [ "$WHICH" = all ]; then
  psql "$PG_ADMIN_URL/postgres" -qc 'DROP DATABASE IF EXISTS rivo_bench' -c 'CREATE DATABASE rivo_bench'
  run_backend postgres "$PG_ADMIN_URL/rivo_bench"
fi

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(out, "*-c*-*.json"))):
    name, kind, conc, _run = os.path.basename(path)[:-5].split("-")
    data = json.load(open(path))
    codes = data.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k in ("200", "201"))
    bad = sum(v for k, v in codes.items() if k not in ("200", "201"))
    rows.setdefault((name, kind, conc), []).append((
        data["summary"]["requestsPerSec"],
        data["latencyPercentiles"]["p50"] * 1000,
        data["latencyPercentiles"]["p99"] * 1000,
        ok, bad,
    ))
print(f"Results in {out}\n")
print("| backend | request | concurrency | requests/s | p50 (ms) | p99 (ms) | runs | non-2xx |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
order = {"post": 0, "get": 1}
for (name, kind, conc), runs in sorted(rows.items(), key=lambda r: (r[0][0], order[r[0][1]], int(r[0][2][1:]))):
    med = lambda i: statistics.median(r[i] for r in runs)
    label = "POST stream" if kind == "post" else "GET history (20 msgs)"
    print(f"| {name} | {label} | {conc[1:]} | {med(0):,.0f} | {med(1):.2f} | {med(2):.2f} | {len(runs)} | {sum(r[4] for r in runs)} |")
PY
