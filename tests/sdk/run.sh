#!/usr/bin/env bash
# Runs the SDK suite against `cube-auth serve` on a temporary data dir and a free loopback
# port. Usage: tests/sdk/run.sh path/to/cube-auth
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
data=$(mktemp -d)
pid=""
providers_pid=""
old_pid=""
cleanup() {
  for p in $pid $providers_pid $old_pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$data"
}
trap cleanup EXIT

# A local stand-in for Google's signing keys and for a customer's identity provider.
node "$here/fake-providers.mjs" "$data/providers.json" &
providers_pid=$!
for _ in $(seq 1 100); do
  [ -s "$data/providers.json" ] && break
  sleep 0.05
done
providers="http://127.0.0.1:$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).port)' "$data/providers.json")"

# Apps that some tests need, made before the server takes the data dir.
"$bin" apps create --data-dir "$data" --name sdk-short-lived --session-ttl 2 --json > "$data/short-app.json"
"$bin" apps create --data-dir "$data" --name sdk-v1-listing --users-v1-listing --json > "$data/v1-app.json"
"$bin" apps create --data-dir "$data" --name sdk-firebase --firebase-project cube-sdk-project --json > "$data/firebase-app.json"
"$bin" apps create --data-dir "$data" --name sdk-cidp --cidp-url "$providers/verify" --cidp-method GET \
  --cidp-request '{"token":"#{login}"}' --cidp-response '{"uid":"#{user.id}","login":"#{user.login}","full_name":"#{user.name}"}' \
  --json > "$data/cidp-app.json"
"$bin" apps create --data-dir "$data" --name sdk-facebook --facebook-app-id sdk-fb-app --facebook-app-secret sdk-fb-secret \
  --users-v1-listing --json > "$data/facebook-app.json"

. "$here/../serve.sh"

# The service an application moves from: a second local-mode server standing in for hosted
# ConnectyCube, with the application the SDK keeps using. Its new home here keeps the same
# credentials and moves passwords lazily; a second moving app's old service has stalled.
old_data="$data/old-home"
mkdir -p "$old_data"
moving=(--application-id 4242 --auth-key sdk-moving-key --auth-secret sdk-moving-secret)
"$bin" apps create --data-dir "$old_data" --name sdk-old-home "${moving[@]}" --json > /dev/null
# Ids as a big hosted service hands them out, and the new home keeping that range free.
"$bin" users reserve-ids --data-dir "$old_data" --up-to 5000000 > /dev/null
"$bin" users reserve-ids --data-dir "$data" --up-to 9000000 > /dev/null
start_serve "$bin" "$old_data"
old_pid=$pid
old_addr=$addr
"$bin" apps create --data-dir "$data" --name sdk-moving "${moving[@]}" --migrate-from "http://$old_addr" \
  --json > "$data/moving-app.json"
"$bin" apps create --data-dir "$data" --name sdk-moving-stalled --application-id 4243 --auth-key sdk-stalled-key \
  --auth-secret sdk-stalled-secret --migrate-from "$providers/stall" --json > "$data/stalled-app.json"

FIREBASE_CERTS_URL="$providers/certs" FACEBOOK_GRAPH_URL="$providers/graph" start_serve "$bin" "$data"

cd "$here"
CUBE_AUTH_OLD_API="http://$old_addr" CUBE_AUTH_OLD_PID="$old_pid" \
CUBE_AUTH_API="http://$addr" CUBE_AUTH_DATA_DIR="$data" node --test --test-reporter=spec ./*.test.mjs
