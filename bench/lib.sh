# Sourced (not run) by the benchmark scripts, from the repository root. What every one of them
# needs once:
#   bench_init [DB ...]       OUT (a scratch dir), PG (the PostgreSQL server's URL), RUST_LOG=warn,
#                             and an EXIT trap that stops the background jobs, drops the named
#                             PostgreSQL databases and removes OUT;
#   fresh_db BACKEND NAME [BIN]  a fresh database migrated by BIN ($BIN): PostgreSQL database NAME
#                             on $PG, or $OUT/NAME.sqlite3; prints its URL;
#   wait_ready BASE_URL [TENTHS] waits (100: 10 s) until BASE_URL/readyz answers 200;
#   sql URL STATEMENT         runs one statement on a PostgreSQL or SQLite URL, prints the rows;
#   ticks PID                 the CPU time (user + system) PID has used so far, in 1/100 s;
#   median                    the median of the numbers on stdin, one a line;
#   post_load, chat_bodies    the load generator and its request bodies (below).

[ -n "${RIVO_BENCH_LIB:-}" ] && return 0 # sourced once
RIVO_BENCH_LIB=1

# The defaults every benchmark shares; each script's header says which it reads.
BIN=${BIN:-target/release/rivo-server}
SECS=${SECONDS_PER_RUN:-10}
BACKENDS=${BACKENDS:-postgres sqlite}

bench_init() {
  PG=${PG:-postgres://postgres@127.0.0.1:5432}
  OUT=$(mktemp -d)
  export RUST_LOG=${RUST_LOG:-warn}
  BENCH_DBS=$*
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local db
  # shellcheck disable=SC2046
  kill $(jobs -p) 2>/dev/null || true
  for db in $BENCH_DBS; do
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  rm -rf "$OUT"
}

fresh_db() {
  local backend=$1 name=$2 bin=${3:-$BIN} url
  if [ "$backend" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    url=$PG/$name
  else
    rm -f "$OUT/$name".sqlite3*
    url="sqlite://$OUT/$name.sqlite3?mode=rwc"
  fi
  DATABASE_URL=$url "$bin" migrate >/dev/null
  echo "$url"
}

wait_ready() {
  local base=$1 tenths=${2:-100}
  for _ in $(seq "$tenths"); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "no 200 from $base/readyz within $tenths tenths of a second" >&2
  return 1
}

sql() {
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

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The results of the interleaved rounds: R[KEY] holds KEY's runs, space-separated.
declare -A R

# each_round FN: for every backend of $BACKENDS and concurrency of $CONCURRENCY, calls
# `FN BACKEND C` $ROUNDS times; FN runs every contender once, so that the machine's noise falls
# on all of them alike. Says on stderr when each round is done.
each_round() {
  local backend c round
  for backend in $BACKENDS; do
    for c in $CONCURRENCY; do
      for round in $(seq "$ROUNDS"); do
        "$1" "$backend" "$c"
        echo "round $round $backend c=$c done" >&2
      done
    done
  done
}

# runs_median KEY: the median of R[KEY]'s runs (empty when KEY has none).
# shellcheck disable=SC2086
runs_median() { [ -n "${R[$1]:-}" ] && printf '%s\n' ${R[$1]} | median; }

# report_runs WIDTH: every key of R, sorted, with its runs and their median.
report_runs() {
  local key
  for key in $(printf '%s\n' "${!R[@]}" | sort); do
    printf "%-${1}s runs: %-40s median: %s\n" "$key" "${R[$key]}" "$(runs_median "$key")"
  done
}

# `post_load URL CONNECTIONS SECONDS BODIES_FILE` prints the
# requests/s of POSTing the JSON bodies of BODIES_FILE (one a line, cycled) to URL, and fails
# unless every answer was 201. Uses oha when installed (OHA or ~/.cargo/bin/oha), else Debian's
# wrk with bench/post_bodies.lua (LOADGEN=wrk forces it).
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
if [ -z "${LOADGEN:-}" ]; then
  if [ -x "$OHA" ]; then LOADGEN=oha; else LOADGEN=wrk; fi
fi
post_load() {
  local url=$1 c=$2 secs=$3 bodies=$4
  if [ "$LOADGEN" = wrk ]; then
    BODIES=$bodies wrk -t2 -c "$c" -d "${secs}s" -s bench/post_bodies.lua "$url" |
      awk -F'[= ]' '/^rps=/ { if ($4 != 0 || $6 != 0) { print "non-2xx or errors: " $0 > "/dev/stderr"; exit 1 } print $2 }'
  else
    "$OHA" --no-tui --output-format json -z "${secs}s" -c "$c" -m POST -T application/json \
      -Z "$bodies" "$url" |
      python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["statusCodeDistribution"]; assert set(s)=={"201"}, s; print(int(d["summary"]["requestsPerSec"]))'
  fi
}

# `chat_bodies FILE [N] [MESSAGE]` writes N (1000) chat POST bodies to FILE, one a line, each for
# a new random session, from a `client`.
chat_bodies() {
  local file=$1 n=${2:-1000} message=${3:-Hello, I would like to know more}
  for _ in $(seq "$n"); do
    printf '{"session_id":"%s","message":"%s","sender_type":"client"}\n' \
      "$(cat /proc/sys/kernel/random/uuid)" "$message"
  done > "$file"
}
