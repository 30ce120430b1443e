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
VARIANTS=${VARIANTS:-plain outbox webhook}
PORT=${PORT:-5092}
RPORT=${RECEIVER_PORT:-5093}
# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/webhook_lib.sh
source bench/webhook_lib.sh
bench_init rivo_callgrind_bench
start_receiver

run() { # backend variant -> total instructions of the server process
  local backend=$1 variant=$2 url pid workers=16
  url=$(fresh_db "$backend" rivo_callgrind_bench)
  [ "$variant" = outbox ] && workers=0
  [ "$variant" != plain ] && add_endpoint "$url"
  rm -f "$OUT"/callgrind.out
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16 \
    RIVO_WEBHOOK_CONCURRENCY=$workers RIVO_WEBHOOK_ALLOW_PRIVATE=True \
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" serve \
    > "$OUT/server.log" 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT" 600
  python3 bench/post_n.py "$PORT" "$N" "$C"
  if [ "$variant" = webhook ]; then
    for _ in $(seq 1200); do
      [ "$(sql "$url" "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")" -ge "$N" ] && break
      sleep 0.25
    done
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
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
