#!/usr/bin/env bash
# Chat POST throughput with live event streams open, next to plain POST, in one interleaved run
# (issue 13), for BENCHMARKS.md. Every POST goes to one of 100 sessions; the `streams100` variant
# keeps one open `GET /api/v1/chat/events/` per session (a widget on every conversation), so every
# stored message is pushed to a stream. Rounds interleave the variants (plain, streams100, plain,
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
BIN=${BIN:-target/release/rivo-server}
ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-16}
BACKENDS=${BACKENDS:-postgres sqlite}
VARIANTS=${VARIANTS:-plain streams100}
PORT=${PORT:-5082}
PG=postgres://postgres@127.0.0.1:5432
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
OUT=$(mktemp -d)
export RUST_LOG=warn
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

for _ in $(seq 100); do cat /proc/sys/kernel/random/uuid; done > "$OUT/sessions"
while read -r s; do
  for _ in $(seq 10); do
    printf '{"session_id":"%s","message":"Hello, I would like to know more","sender_type":"client"}\n' "$s"
  done
done < "$OUT/sessions" | shuf > "$OUT/bodies.jsonl"

# Built-in variants.
plain_start() { :; }
streams100_start() { # one open stream per session, read to the end like a browser would
  local base=$1 s
  while read -r s; do
    curl -sN "$base/api/v1/chat/events/?session_id=$s" > /dev/null &
  done < "$OUT/sessions"
  sleep 1
  local open
  open=$(curl -s "$base/metrics" -H "Authorization: Bearer $METRICS_TOKEN" |
    awk '/^rivo_event_streams_open / {print int($2)}')
  [ "$open" = 100 ] || { echo "expected 100 open streams, metrics say ${open:-?}" >&2; exit 1; }
}

# One POST run of variant $1 on database $2: prints requests/s.
post_run() {
  local variant=$1 url=$2 c=$3 pid rps base=http://127.0.0.1:$PORT
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16 \
    RIVO_METRICS_TOKEN=$METRICS_TOKEN "$BIN" serve > "$OUT/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  variant_stop() { :; }
  if declare -F "${variant}_start" >/dev/null; then
    "${variant}_start" "$base" "$url"
  else
    # shellcheck disable=SC1090
    source "bench/chat_post_variants/$variant.sh"
    variant_start "$base" "$url"
  fi
  "$OHA" --no-tui --output-format quiet -z 2s -c "$c" -m POST -T application/json \
    -Z "$OUT/bodies.jsonl" "$base/api/v1/chat/stream/"
  rps=$("$OHA" --no-tui --output-format json -z "${SECS}s" -c "$c" -m POST -T application/json \
    -Z "$OUT/bodies.jsonl" "$base/api/v1/chat/stream/" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["statusCodeDistribution"]; assert set(s)=={"201"}, s; print(int(d["summary"]["requestsPerSec"]))')
  variant_stop
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  echo "$rps"
}
METRICS_TOKEN=bench-metrics-token-0123456789abcdef

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A R
for backend in $BACKENDS; do
  for c in $CONCURRENCY; do
    for round in $(seq "$ROUNDS"); do
      for variant in $VARIANTS; do
        if [ "$backend" = postgres ]; then
          psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS rivo_post_streams" \
            -c "CREATE DATABASE rivo_post_streams" >/dev/null
          url=$PG/rivo_post_streams
          DATABASE_URL=$url "$BIN" migrate >/dev/null
        else
          rm -f "$OUT"/s.sqlite3*
          url="sqlite://$OUT/s.sqlite3?mode=rwc"
        fi
        R[$backend-c$c-$variant]+="$(post_run "$variant" "$url" "$c") "
      done
      echo "round $round $backend c=$c done" >&2
    done
  done
done
for key in $(printf '%s\n' "${!R[@]}" | sort); do
  m=$(printf '%s\n' ${R[$key]} | median)
  base=${key%-*}-plain
  p=$(printf '%s\n' ${R[$base]:-} | median)
  ratio=$([ -n "$p" ] && python3 -c "print(f'{$m/$p:.3f}')" || echo "-")
  printf '%-32s runs: %-40s median: %-6s vs plain: %s\n' "$key" "${R[$key]}" "$m" "$ratio"
done
