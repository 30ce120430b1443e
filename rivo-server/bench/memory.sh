#!/usr/bin/env bash
# Memory under sustained write load: POST /api/v1/chat/stream/ at concurrency 64 for 60 s on
# PostgreSQL (or BACKEND=sqlite), sampling the server's RSS every 5 s.
#
# Usage: rivo-server/bench/memory.sh    Env: BACKEND (postgres), SECONDS_TOTAL (60), PORT (5078)
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKEND=${BACKEND:-postgres}
TOTAL=${SECONDS_TOTAL:-60}
PORT=${PORT:-5078}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
OUT=$(mktemp -d)
if [ -z "${BIN:-}" ]; then   # BIN=path/to/rivo-server measures a given binary, no build
  cargo build --release -p rivo-server >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/rivo-server
fi
if [ "$BACKEND" = postgres ]; then
  psql "$PG_ADMIN_URL/postgres" -qc 'DROP DATABASE IF EXISTS rivo_bench_mem' -c 'CREATE DATABASE rivo_bench_mem'
  DB=$PG_ADMIN_URL/rivo_bench_mem
else
  DB="sqlite://$OUT/m.sqlite3?mode=rwc"
fi
# shellcheck source=bench/lib.sh
source bench/lib.sh
chat_bodies "$OUT/bodies.jsonl" 1000 "Hello, I would like a quote for my order."
DATABASE_URL=$DB PORT=$PORT BIND_ADDRESS=127.0.0.1 RUST_LOG=warn "$BIN" serve > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
wait_ready "http://127.0.0.1:$PORT"
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status"; }
echo "before load: $(rss) MiB"
"$OHA" --no-tui --output-format json -z "${TOTAL}s" -c 64 -m POST -T application/json \
  -Z "$OUT/bodies.jsonl" "http://127.0.0.1:$PORT/api/v1/chat/stream/" > "$OUT/oha.json" &
LOAD=$!
series=()
for t in $(seq 5 5 "$TOTAL"); do
  sleep 5
  series+=("${t}s=$(rss)")
done
wait "$LOAD"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("requests: %d at %.0f/s, status %s" % (sum(d["statusCodeDistribution"].values()), d["summary"]["requestsPerSec"], d["statusCodeDistribution"]))' "$OUT/oha.json"
echo "RSS MiB every 5 s: ${series[*]}"
echo "after load: $(rss) MiB; peak $(awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status") MiB"
