#!/usr/bin/env bash
# Runs the SDK suite against `cube-auth serve` on a temporary data dir and a free loopback
# port. Usage: tests/sdk/run.sh path/to/cube-auth
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
data=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

# Apps that some tests need, made before the server takes the data dir.
"$bin" apps create --data-dir "$data" --name sdk-short-lived --session-ttl 2 --json > "$data/short-app.json"
"$bin" apps create --data-dir "$data" --name sdk-v1-listing --users-v1-listing --json > "$data/v1-app.json"

RUST_LOG=warn "$bin" serve --addr 127.0.0.1:0 --data-dir "$data" > "$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [ -f "$data/serve.json" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/serve.log"; exit 1; }
  sleep 0.05
done
addr=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).addr)' "$data/serve.json")

cd "$here"
CUBE_AUTH_API="http://$addr" CUBE_AUTH_DATA_DIR="$data" node --test --test-reporter=spec ./*.test.mjs
