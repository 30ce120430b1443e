#!/usr/bin/env bash
# Scale-out on one PostgreSQL: POST /api/v1/chat/stream/ against one rivo-server at concurrency
# 64, then against two rivo-server processes side by side (oha at 32 against each, at the same
# time, 64 in total). Prints the combined rate (median of RUNS runs) as a Markdown table.
#
# Usage: rivo-server/bench/two_servers.sh
# Env:   DURATION (10s), RUNS (3), PORT (5077; the second server uses PORT+1),
#        PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432; a fresh database rivo_bench_two is made).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
PORT=${PORT:-5077}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
export RUST_LOG=${RUST_LOG:-warn}

if [ -z "${BIN:-}" ]; then   # BIN=path/to/rivo-server measures a given binary, no build
  cargo build --release -p rivo-server >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/rivo-server
fi
BODIES=$OUT/bodies.jsonl
# shellcheck source=bench/lib.sh
source bench/lib.sh
chat_bodies "$BODIES" 1000 "Hello, I would like a quote for my order."
psql "$PG_ADMIN_URL/postgres" -qc 'DROP DATABASE IF EXISTS rivo_bench_two' -c 'CREATE DATABASE rivo_bench_two'
DB=$PG_ADMIN_URL/rivo_bench_two
DATABASE_URL=$DB "$BIN" migrate >&2

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
for p in "$PORT" "$((PORT + 1))"; do
  DATABASE_URL=$DB PORT=$p BIND_ADDRESS=127.0.0.1 "$BIN" serve > "$OUT/server-$p.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$p"
done
post() { "$OHA" --no-tui --output-format json -z "$DURATION" -c "$2" -m POST -T application/json \
  -Z "$BODIES" "http://127.0.0.1:$1/api/v1/chat/stream/"; }
"$OHA" --no-tui --output-format quiet -z 2s -c 16 -m POST -T application/json -Z "$BODIES" \
  "http://127.0.0.1:$PORT/api/v1/chat/stream/"
"$OHA" --no-tui --output-format quiet -z 2s -c 16 -m POST -T application/json -Z "$BODIES" \
  "http://127.0.0.1:$((PORT + 1))/api/v1/chat/stream/"
for run in $(seq "$RUNS"); do
  post "$PORT" 64 > "$OUT/one-$run.json"
  post "$PORT" 32 > "$OUT/two-a-$run.json" &
  a=$!
  post "$((PORT + 1))" 32 > "$OUT/two-b-$run.json"
  wait "$a"
done
for pid in "${PIDS[@]}"; do grep VmHWM "/proc/$pid/status"; done > "$OUT/hwm.txt"

python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
load = lambda f: json.load(open(f"{out}/{f}"))
bad = lambda d: sum(v for k, v in d.get("statusCodeDistribution", {}).items() if k != "201") \
    + sum(v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline")
one = [load(f"one-{r}.json") for r in range(1, runs + 1)]
two = [(load(f"two-a-{r}.json"), load(f"two-b-{r}.json")) for r in range(1, runs + 1)]
one_rps = statistics.median(d["summary"]["requestsPerSec"] for d in one)
two_rps = statistics.median(a["summary"]["requestsPerSec"] + b["summary"]["requestsPerSec"] for a, b in two)
two_p99 = statistics.median(max(a["latencyPercentiles"]["p99"], b["latencyPercentiles"]["p99"]) for a, b in two)
print(f"Results in {out}\n")
print("| setup | total concurrency | requests/s (combined) | p99 ms | errors | runs |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
print(f"| 1 server | 64 | {one_rps:,.0f} | {statistics.median(d['latencyPercentiles']['p99'] for d in one)*1000:.2f} | {sum(bad(d) for d in one)} | {runs} |")
print(f"| 2 servers, one database | 64 (32 + 32) | {two_rps:,.0f} | {two_p99*1000:.2f} | {sum(bad(a)+bad(b) for a, b in two)} | {runs} |")
print("\nPeak RSS: " + open(f"{out}/hwm.txt").read().replace("\n", "; "))
PY
