#!/usr/bin/env bash
# Instructions the rivo-server process executes per chat POST, counted by valgrind's callgrind
# (instructions, not seconds: the same on a quiet or a loaded machine), for three variants:
#   plain    no webhook endpoint;
#   outbox   one endpoint subscribed to message.created, the server's worker off
#            (RIVO_WEBHOOK_CONCURRENCY=0): the outbox row written in the POST's transaction;
#   webhook  the same endpoint with the worker on: each POST is also delivered (signed HTTP
#            POST to a local receiver), and the run waits until every delivery is recorded.
# "per delivery" = (webhook − outbox) / N: what delivering one event costs the server.
# A fixed number of requests N (bench/post_n.py), not a fixed time, makes runs comparable.
#
#   bench/webhook_callgrind.sh   # env: BIN (target/release/rivo-server), N (2000), C (8),
#                                #      BACKENDS ("postgres sqlite"), VARIANTS, KEEP (a dir to
#                                #      keep the callgrind.out files in, for callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
C=${C:-8}
PORT=${PORT:-5092}
RPORT=${RECEIVER_PORT:-5093}
# shellcheck source=bench/webhook_lib.sh
source bench/webhook_lib.sh
webhook_bench_init rivo_callgrind_bench

run() { # backend variant -> total instructions of the server process
  local backend=$1 variant=$2 url
  url=$(fresh_db "$backend" rivo_callgrind_bench)
  rm -f "$OUT"/callgrind.out
  serve_variant "$variant" "$url" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out"
  python3 bench/post_n.py "$PORT" "$N" "$C"
  if [ "$variant" = webhook ]; then
    for _ in $(seq 1200); do
      [ "$(sql "$url" "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")" -ge "$N" ] && break
      sleep 0.25
    done
  fi
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$OUT/callgrind.out" "$KEEP/callgrind.$backend.$variant.out"
  grep -E '^(summary|totals):' "$OUT/callgrind.out" | head -1 | awk '{print $2}'
}

for backend in $BACKENDS; do
  declare -A ir=()
  for variant in $VARIANTS; do
    ir[$variant]=$(run "$backend" "$variant")
    echo "$backend $variant: $(( ${ir[$variant]} / N )) instructions per request (N=$N, total ${ir[$variant]})"
  done
  if [ -n "${ir[outbox]:-}" ] && [ -n "${ir[webhook]:-}" ]; then
    echo "$backend: delivery $(( (${ir[webhook]} - ${ir[outbox]}) / N )) instructions per event"
  fi
  if [ -n "${ir[plain]:-}" ] && [ -n "${ir[outbox]:-}" ]; then
    echo "$backend: outbox write $(( (${ir[outbox]} - ${ir[plain]}) / N )) instructions per event"
  fi
  unset ir
done
