# Shared by bench/webhook_post.sh and bench/webhook_callgrind.sh (sourced, not run): a receiver
# on loopback that answers every webhook 200, a fresh migrated database per run, SQL against it,
# and the benchmark's endpoint. Expects OUT (a scratch dir), PG (a PostgreSQL server URL), DB_NAME
# (the PostgreSQL database to recreate), BIN and RPORT.

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

# A fresh, migrated database for `backend`; prints its URL.
fresh() {
  local url
  if [ "$1" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" >/dev/null
    url="$PG/$DB_NAME"
  else
    rm -f "$OUT"/bench.sqlite3*
    url="sqlite://$OUT/bench.sqlite3?mode=rwc"
  fi
  DATABASE_URL=$url "$BIN" migrate >/dev/null
  echo "$url"
}

sql() { # run SQL $2 on database $1, print the rows
  if [[ $1 == postgres* ]]; then
    psql "$1" -qAtc "$2"
  else
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
rows = c.execute(sys.argv[2]).fetchall()
c.commit()
print("\n".join("|".join(map(str, r)) for r in rows))' "$(echo "${1#sqlite://}" | cut -d'?' -f1)" "$2"
  fi
}

# The endpoint every variant but `plain` registers: all of `message.created`, to the receiver.
add_endpoint() {
  local now
  now=$(date +%s%6N)
  sql "$1" "INSERT INTO webhook_endpoints (url, secret, event_mask, active, description, created_at, updated_at) VALUES ('http://127.0.0.1:$RPORT/hook', 'whsec_benchbenchbenchbench', 1, TRUE, 'bench', $now, $now)" >/dev/null
}

# Waits until the server on $PORT answers /readyz (up to `$1` tenths of a second).
wait_ready() {
  for _ in $(seq "$1"); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
}
