#!/usr/bin/env bash
# The cost of metrics on chat POST throughput, for BENCHMARKS.md: `POST /api/v1/chat/stream/`
# of one build with metrics off (neither RIVO_METRICS_TOKEN nor RIVO_METRICS_BIND) and on
# (RIVO_METRICS_TOKEN set, /metrics scraped once a second during the run, 15x Prometheus's
# default rate), and with TRACES=1 also with metrics and OTLP trace export on (every request
# sampled, to a local receiver that accepts and drops). Rounds are interleaved (off, on,
# [traces,] off, on, …) on a fresh database each, so the machine's noise falls on every
# contender alike; medians and the on/off ratio are printed.
#
#   bench/metrics_overhead.sh   # env: BIN, ROUNDS (5), SECONDS_PER_RUN (10), CONCURRENCY ("64"),
#                               #      BACKENDS ("postgres sqlite"), TRACES (unset),
#                               #      LOADGEN (oha when installed, else wrk: bench/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CONCURRENCY=${CONCURRENCY:-64}
PORT=${PORT:-5083}
OTLP_PORT=${OTLP_PORT:-5084}
# shellcheck source=bench/lib.sh
source bench/lib.sh
TOKEN=bench-metrics-token-0123456789abcdef
bench_init rivo_bench_metrics

chat_bodies "$OUT/bodies.jsonl"

if [ -n "${TRACES:-}" ]; then
  # An OTLP/HTTP receiver that answers 200 to every POST and keeps nothing.
  python3 - "$OTLP_PORT" > /dev/null 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
fi

# One POST run on database `url` at concurrency `c` with mode off|on|traces: prints requests/s.
post_run() {
  local url=$1 c=$2 mode=$3 pid rps scraper=""
  local -a env=(DATABASE_URL="$url" PORT="$PORT" BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16)
  if [ "$mode" != off ]; then env+=(RIVO_METRICS_TOKEN="$TOKEN"); fi
  if [ "$mode" = traces ]; then
    env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT")
  fi
  env "${env[@]}" "$BIN" serve > "$OUT/server.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT"
  post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$c" 2 "$OUT/bodies.jsonl" > /dev/null
  if [ "$mode" != off ]; then
    ( while sleep 1; do
        curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" > "$OUT/scrape.txt"
      done ) &
    scraper=$!
  fi
  rps=$(post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$c" "$SECS" "$OUT/bodies.jsonl")
  if [ -n "$scraper" ]; then
    kill "$scraper"; wait "$scraper" 2>/dev/null || true
    grep -q '^rivo_http_requests_total{operation="chat_send",status="2xx"}' "$OUT/scrape.txt"
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}

MODES="off on"
if [ -n "${TRACES:-}" ]; then MODES="off on traces"; fi
round() { # backend c: every mode once
  local mode
  for mode in $MODES; do
    R[$1-c$2-$mode]+="$(post_run "$(fresh_db "$1" rivo_bench_metrics)" "$2" "$mode") "
  done
}
each_round round
report_runs 24
for backend in $BACKENDS; do
  for c in $CONCURRENCY; do
    off=$(runs_median "$backend-c$c-off")
    for mode in $MODES; do
      [ "$mode" = off ] && continue
      m=$(runs_median "$backend-c$c-$mode")
      printf '%s c=%s: %s/off = %s\n' "$backend" "$c" "$mode" "$(python3 -c "print(f'{$m/$off:.3f}')")"
    done
  done
done
