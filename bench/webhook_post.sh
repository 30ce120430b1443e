#!/usr/bin/env bash
# Chat POST throughput with one webhook endpoint subscribed to `message.created` (a receiver on
# loopback answering 200) next to plain POST (no endpoint), in one run, for BENCHMARKS.md.
# Rounds are interleaved (plain, webhook, plain, …) on a fresh database each, so the machine's
# noise falls on both alike; medians and the ratio are printed, with how many deliveries were
# still pending when the load stopped (the worker keeping up or not). The `outbox` variant has
# the endpoint subscribed but the server's worker off (RIVO_WEBHOOK_CONCURRENCY=0): the cost of
# writing the outbox rows alone.
#
#   bench/webhook_post.sh     # env: BIN (target/release/rivo-server), ROUNDS (3),
#                             #      SECONDS_PER_RUN (10), CONCURRENCY (16),
#                             #      BACKENDS ("postgres sqlite"), VARIANTS ("plain outbox webhook")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
C=${CONCURRENCY:-16}
PORT=${PORT:-5082}
RPORT=${RECEIVER_PORT:-5083}
# shellcheck source=bench/webhook_lib.sh
source bench/webhook_lib.sh
webhook_bench_init rivo_webhook_bench
chat_bodies "$OUT/bodies.jsonl"

# One run: prints "requests/s pending-at-stop delivered server-cpu-µs/request
# receiver-cpu-µs/request" (CPU over the timed load only).
run() {
  local backend=$1 variant=$2 url pid rps
  url=$(fresh_db "$backend" rivo_webhook_bench)
  serve_variant "$variant" "$url"
  pid=$SERVER_PID
  post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$C" 2 "$OUT/bodies.jsonl" >/dev/null
  local s0 r0 s1 r1
  s0=$(ticks "$pid"); r0=$(ticks "$RECEIVER")
  rps=$(post_load "http://127.0.0.1:$PORT/api/v1/chat/stream/" "$C" "$SECS" "$OUT/bodies.jsonl")
  s1=$(ticks "$pid"); r1=$(ticks "$RECEIVER")
  local pending delivered
  pending=$(sql "$url" "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
  sleep 3
  delivered=$(sql "$url" "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps $pending $delivered $(( (s1 - s0) * 10000 / (rps * SECS) )) $(( (r1 - r0) * 10000 / (rps * SECS) ))"
}

for backend in $BACKENDS; do
  for variant in $VARIANTS; do : > "$OUT/$variant"; done
  for round in $(seq "$ROUNDS"); do
    for variant in $VARIANTS; do
      read -r rps pending delivered scpu rcpu < <(run "$backend" "$variant")
      echo "$backend c=$C round $round $variant: $rps req/s (deliveries pending at stop: $pending, delivered 3 s later: $delivered; CPU per request: server ${scpu} µs, receiver ${rcpu} µs)"
      echo "$rps" >> "$OUT/$variant"
    done
  done
  p=$(median < "$OUT/plain")
  for variant in $VARIANTS; do
    v=$(median < "$OUT/$variant")
    echo "$backend c=$C median: $variant $v req/s, ratio to plain $(python3 -c "print(f'{$v/$p:.2f}')")"
  done
done
