# Sourced by the POST benchmarks: `post_load URL CONNECTIONS SECONDS BODIES_FILE` prints the
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
