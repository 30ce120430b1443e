#!/usr/bin/env bash
# Starts Debian's pgbouncer in transaction mode in front of PostgreSQL on 127.0.0.1:5432, on a
# free port, with its config, log and pid under target/pgbouncer/ (run as the `postgres` user
# when started as root: pgbouncer refuses root). Prints the port. `.ci/pgbouncer.sh stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/target/pgbouncer"
if [ "${1:-}" = stop ]; then
  if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi
  exit 0
fi
if ! command -v pgbouncer >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
mkdir -p "$dir"
if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; sleep 1; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/userlist.txt" <<USERS
"postgres" ""
USERS
cat > "$dir/pgbouncer.ini" <<INI
[databases]
; every database name, auto-created pools (the tests make one database per test)
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
; sqlx sends extra_float_digits unless told not to (rivo does not, in pooler mode)
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  pgbouncer -d -u postgres "$dir/pgbouncer.ini"
else
  pgbouncer -d "$dir/pgbouncer.ini"
fi
for _ in $(seq 30); do
  pg_isready -h 127.0.0.1 -p "$port" -q && break
  sleep 0.2
done
pg_isready -h 127.0.0.1 -p "$port" -q
echo "$port"
