#!/usr/bin/env bash
# Chat POST throughput with live event streams open, next to plain POST, in one interleaved run
# (issue 13), for BENCHMARKS.md. Every POST goes to one of 100 sessions; the `streams100` variant
# keeps one open `GET /api/v1/chat/events/` per session (a widget on every conversation), so every
# stored message is pushed to a stream. The 100 streams are held by one client process
# (bench/streams_client.py), which counts the events: each run checks that the events received
# equal the messages stored, with no duplicate and nothing out of order. Rounds interleave the variants (plain, streams100, plain,
# …) on a fresh database each; medians are printed with each variant's ratio to `plain`.
#
#   bench/chat_post_streams.sh   # env: BIN (target/release/rivo-server), ROUNDS (5),
#                                #      SECONDS_PER_RUN (10), CONCURRENCY (16),
#                                #      BACKENDS ("postgres sqlite"), VARIANTS ("plain streams100")
#
# Adding a variant (e.g. "one webhook endpoint subscribed"): write
# bench/chat_post_variants/NAME.sh defining `variant_start BASE_URL DATABASE_URL` (set things up
# once the server is ready; start background work with `&`, its jobs are killed after the run)
# and optionally `variant_stop`, then run with VARIANTS="plain streams100 NAME".
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CONCURRENCY=${CONCURRENCY:-16}
VARIANTS=${VARIANTS:-plain streams100}
PORT=${PORT:-5082}
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init rivo_post_streams

for _ in $(seq 100); do cat /proc/sys/kernel/random/uuid; done > "$OUT/sessions"
while read -r s; do
  for _ in $(seq 10); do
    printf '{"session_id":"%s","message":"Hello, I would like to know more","sender_type":"client"}\n' "$s"
  done
done < "$OUT/sessions" | shuf > "$OUT/bodies.jsonl"

# Built-in variants.
plain_start() { :; }
streams100_start() { # one open stream per session, all held by ONE client process
  local base=$1 url=$2
  python3 bench/streams_client.py "$base" "$OUT/sessions" "$OUT/streams.json" &
  STREAMS_PID=$!
  STREAMS_URL=$url
  local open
  for _ in $(seq 100); do # up to 10 s for the client to open them all
    sleep 0.1
    open=$(curl -s "$base/metrics" -H "Authorization: Bearer $METRICS_TOKEN" |
      awk '/^rivo_event_streams_open / {print int($2)}')
    [ "$open" = 100 ] && break
  done
  [ "$open" = 100 ] || { echo "expected 100 open streams, metrics say ${open:-?}" >&2; exit 1; }
  variant_stop() { # events received must equal messages stored: no gap, no duplicate
    local stored
    kill -TERM "$STREAMS_PID"; wait "$STREAMS_PID" 2>/dev/null || true
    stored=$(sql "$STREAMS_URL" "SELECT count(*) FROM chat_messages")
    python3 - "$OUT/streams.json" "$stored" >> "$OUT/streams-check" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); stored = int(sys.argv[2])
ok = s["events"] == stored == s["distinct"] and s["duplicates"] == 0 and s["out_of_order"] == 0
print(f"messages stored {stored}, events received {s['events']}, distinct {s['distinct']}, "
      f"duplicates {s['duplicates']}, out of order {s['out_of_order']}, "
      f"reconnects {s['reconnects']}: {'OK' if ok else 'MISMATCH'}")
PY
  }
}

# One POST run of variant $1 on database $2: prints requests/s, and appends the server's and
# the stream client's CPU µs per request over the timed load to $OUT/cpu-$variant.
post_run() {
  local variant=$1 url=$2 c=$3 pid rps base=http://127.0.0.1:$PORT
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16 \
    RIVO_METRICS_TOKEN=$METRICS_TOKEN RIVO_WEBHOOK_ALLOW_PRIVATE=True "$BIN" serve > "$OUT/server.log" 2>&1 &
  pid=$!
  wait_ready "$base"
  variant_stop() { :; }
  STREAMS_PID=
  if declare -F "${variant}_start" >/dev/null; then
    "${variant}_start" "$base" "$url"
  else
    # shellcheck disable=SC1090
    source "bench/chat_post_variants/$variant.sh"
    variant_start "$base" "$url"
  fi
  post_load "$base/api/v1/chat/stream/" "$c" 2 "$OUT/bodies.jsonl" >/dev/null
  local s0 c0 s1 c1
  s0=$(ticks "$pid"); c0=$([ -n "$STREAMS_PID" ] && ticks "$STREAMS_PID" || echo 0)
  rps=$(post_load "$base/api/v1/chat/stream/" "$c" "$SECS" "$OUT/bodies.jsonl")
  s1=$(ticks "$pid"); c1=$([ -n "$STREAMS_PID" ] && ticks "$STREAMS_PID" || echo 0)
  echo "$(( (s1 - s0) * 10000 / (rps * SECS) )) $(( (c1 - c0) * 10000 / (rps * SECS) ))" \
    >> "$OUT/cpu-${url%%:*}-$variant"
  variant_stop
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  echo "$rps"
}
METRICS_TOKEN=bench-metrics-token-0123456789abcdef

round() { # backend c: every variant once
  local variant
  for variant in $VARIANTS; do
    R[$1-c$2-$variant]+="$(post_run "$variant" "$(fresh_db "$1" rivo_post_streams)" "$2") "
  done
}
each_round round
for key in $(printf '%s\n' "${!R[@]}" | sort); do
  m=$(runs_median "$key")
  p=$(runs_median "${key%-*}-plain")
  ratio=$([ -n "$p" ] && python3 -c "print(f'{$m/$p:.3f}')" || echo "-")
  printf '%-32s runs: %-40s median: %-6s vs plain: %s\n' "$key" "${R[$key]}" "$m" "$ratio"
done
for f in "$OUT"/cpu-*; do
  printf '%-32s CPU µs per request, median: server %s, stream client %s\n' "${f##*/cpu-}" \
    "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)"
done
[ -f "$OUT/streams-check" ] && cat "$OUT/streams-check"
[ -f "$OUT/webhook-check" ] && cat "$OUT/webhook-check"
true
