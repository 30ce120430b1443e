#!/usr/bin/env bash
# Instructions the rivo-server process executes per `GET /api/v1/chat/history/` on SQLite,
# counted by valgrind's callgrind (the same on a quiet or a loaded machine): a session of 30
# messages read page by page (`limit=20`, the first page) N times over keep-alive. Startup
# cancels out: per request = (run with N2 requests − run with N1 requests) / (N2 − N1).
#
#   bench/history_callgrind.sh BIN [BIN …]   # env: N1 (100), N2 (600)
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-100}
N2=${N2:-600}
PORT=${PORT:-5094}
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init
SESSION=8a1c2f4e-1b2c-4d3e-8f40-123456789abc
cat > "$OUT/get.py" <<'PY'
import socket, sys
port, n, session = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def call(method, path, body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    s.sendall(head.encode() + body)
    status = int(f.readline().split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    f.read(length)
    return status
if n < 0:
    for i in range(30):
        body = ('{"session_id":"%s","message":"message %d","sender_type":"client"}' % (session, i)).encode()
        assert call("POST", "/api/v1/chat/stream/", body) == 201
else:
    for _ in range(n):
        assert call("GET", f"/api/v1/chat/history/?session_id={session}&limit=20") == 200
PY
run() { # bin n -> total instructions
  rm -f "$OUT/cg.out"
  local url
  url=$(fresh_db sqlite db "$1")
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 "$1" serve >/dev/null 2>&1 &
  local pid=$!
  wait_ready "http://127.0.0.1:$PORT"
  python3 "$OUT/get.py" "$PORT" -1 "$SESSION"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  DATABASE_URL=$url PORT=$PORT BIND_ADDRESS=127.0.0.1 \
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "$1" serve >/dev/null 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT" 600
  python3 "$OUT/get.py" "$PORT" "$2" "$SESSION"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$OUT/cg.out" | head -1 | awk '{print $2}'
}
for bin in "$@"; do
  a=$(run "$bin" "$N1"); b=$(run "$bin" "$N2")
  echo "$bin: $(( (b - a) / (N2 - N1) )) instructions per GET /api/v1/chat/history/ (SQLite)"
done
