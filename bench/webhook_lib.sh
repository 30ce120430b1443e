# Shared by the webhook benchmarks (sourced, not run): a receiver on loopback that answers every
# webhook 200, and the benchmark's endpoint, on top of bench/lib.sh. Expects RPORT.
# shellcheck source=bench/lib.sh
source bench/lib.sh

# The variants: `plain` (no endpoint), `outbox` (one endpoint subscribed, the server's worker off:
# the outbox rows alone) and `webhook` (the endpoint, and the worker delivering).
VARIANTS=${VARIANTS:-plain outbox webhook}

# serve_variant VARIANT URL [WRAPPER ...]: the server on $PORT for VARIANT on the fresh database
# URL (run under WRAPPER, e.g. valgrind, when given), ready; its pid in SERVER_PID.
serve_variant() {
  local variant=$1 url=$2 workers=16
  shift 2
  [ "$variant" = outbox ] && workers=0
  [ "$variant" != plain ] && add_endpoint "$url"
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 RIVO_DB_MAX_CONNECTIONS=16 \
    RIVO_WEBHOOK_CONCURRENCY=$workers RIVO_WEBHOOK_ALLOW_PRIVATE=True "$@" "$BIN" serve \
    > "$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$PORT" 600
}

# webhook_bench_init DB: bench_init DB, and the receiver started.
webhook_bench_init() {
  bench_init "$1"
  start_receiver
}

# The receiver: keep-alive HTTP/1.1, answers every request 200 with an empty body.
start_receiver() {
  cat > "$OUT/receiver.py" <<'PY'
import asyncio, sys
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            await r.readexactly(n)
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
  python3 "$OUT/receiver.py" "$RPORT" &
  RECEIVER=$!
}

# The endpoint every variant but `plain` registers: all of `message.created`, to the receiver.
add_endpoint() {
  local now
  now=$(date +%s%6N)
  sql "$1" "INSERT INTO webhook_endpoints (url, secret, event_mask, active, description, created_at, updated_at) VALUES ('http://127.0.0.1:$RPORT/hook', 'whsec_benchbenchbenchbench', 1, TRUE, 'bench', $now, $now)" >/dev/null
}
