#!/usr/bin/env bash
# Generates the Python and TypeScript clients from the committed openapi.json and runs
# sdk/python/smoke.py and sdk/typescript/smoke.ts against a live rivo-server (debug binary, free
# port, temporary SQLite database, a superuser). Generated code and installed packages live
# under target/sdk/ and are not committed. Exits non-zero if generation or a script fails.
#
#   sdk/run.sh            # needs python3 (with venv), node >= 20 and npm; fetches from PyPI and npm
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/sdk
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
mkdir -p "$OUT"

echo "--> rivo-server binary"
cargo build --quiet -p rivo-server
BIN=$ROOT/target/debug/rivo-server

echo "--> Python client (openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION)"
[ -x "$OUT/venv/bin/python" ] || python3 -m venv "$OUT/venv"
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check \
  "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
rm -rf "$OUT/python"
mkdir -p "$OUT/python"
# The venv's bin on PATH: the generator formats its output with the ruff it depends on.
PATH="$OUT/venv/bin:$PATH" openapi-python-client generate --path "$ROOT/openapi.json" \
  --config "$ROOT/sdk/python/generator.yml" --meta none \
  --output-path "$OUT/python/rivo_api_client" --fail-on-warning

echo "--> TypeScript client (openapi-typescript + openapi-fetch, versions in sdk/typescript/package.json)"
mkdir -p "$OUT/typescript"
cp "$ROOT/sdk/typescript/package.json" "$ROOT/sdk/typescript/tsconfig.json" \
  "$ROOT/sdk/typescript/smoke.ts" "$OUT/typescript/"
(
  cd "$OUT/typescript"
  npm install --no-audit --no-fund --loglevel=error
  npx openapi-typescript "$ROOT/openapi.json" -o rivo-api.d.ts --default-non-nullable false
  npx tsc -p .
)

echo "--> live server"
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$WORK/rivo.sqlite3?mode=rwc" BIND_ADDRESS=127.0.0.1 PORT RUST_LOG=warn
export RIVO_EMAIL=sdk-admin@example.com RIVO_PASSWORD='violet tractor over 9412 hills'
"$BIN" migrate >/dev/null
RIVO_SUPERUSER_PASSWORD=$RIVO_PASSWORD "$BIN" createsuperuser --email "$RIVO_EMAIL" >/dev/null
"$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export RIVO_URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$RIVO_URL/readyz')" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log"; echo "rivo-server exited" >&2; exit 1; }
  sleep 0.2
done

echo "--> sdk/python/smoke.py"
PYTHONPATH="$OUT/python" "$OUT/venv/bin/python" "$ROOT/sdk/python/smoke.py"
echo "--> sdk/typescript/smoke.ts"
(cd "$OUT/typescript" && npx tsx smoke.ts)
echo "SDK smoke tests passed (python, typescript)"
