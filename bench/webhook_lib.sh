# Shared by the webhook benchmarks (sourced, not run, after bench/lib.sh): a receiver on loopback
# that answers every webhook 200, and the benchmark's endpoint. Expects OUT and RPORT.

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
