#!/usr/bin/env bash
# Startup time (exec of `rivo-server serve` to the first 200 on /readyz, SQLite, migrations
# already applied) and idle RSS (VmRSS 2 s after ready), median of RUNS runs (default 20).
#
# Usage: rivo-server/bench/startup.sh        Env: RUNS (20), PORT (5079)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${BIN:-}" ]; then   # BIN=path/to/rivo-server measures a given binary, no build
  cargo build --release -p rivo-server >&2
  BIN=$PWD/${CARGO_TARGET_DIR:-target}/release/rivo-server
fi
BIN=$BIN RUNS=${RUNS:-20} PORT=${PORT:-5079} python3 - <<'PY'
import os, socket, statistics, subprocess, tempfile, time
bin_, runs, port = os.environ["BIN"], int(os.environ["RUNS"]), int(os.environ["PORT"])
tmp = tempfile.mkdtemp()
env = dict(os.environ, DATABASE_URL=f"sqlite://{tmp}/s.sqlite3?mode=rwc", PORT=str(port),
           BIND_ADDRESS="127.0.0.1", RUST_LOG="warn")
subprocess.run([bin_, "migrate"], env=env, check=True, capture_output=True)

def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

times, rss = [], []
for _ in range(runs):
    start = time.perf_counter()
    proc = subprocess.Popen([bin_, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready():
        if time.perf_counter() - start > 10:
            raise SystemExit("server did not become ready")
        time.sleep(0.001)
    times.append((time.perf_counter() - start) * 1000)
    time.sleep(2)
    with open(f"/proc/{proc.pid}/status") as f:
        rss.append(next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024)
    proc.terminate()
    proc.wait()
print(f"startup (exec to first 200 on /readyz): median {statistics.median(times):.1f} ms, "
      f"min {min(times):.1f}, max {max(times):.1f}, runs {runs}")
print(f"idle RSS 2 s after ready: median {statistics.median(rss):.1f} MiB, "
      f"min {min(rss):.1f}, max {max(rss):.1f}")
PY
