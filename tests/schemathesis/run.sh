#!/usr/bin/env bash
# Runs schemathesis (pinned, in .tools/schemathesis) against `cube-auth serve` on a temporary
# data dir and a free loopback port, with every route of openapi.yaml, a fixed seed and a
# bounded number of examples per operation. Fails on any server error, a response that does
# not match its schema, an undocumented status code, content type or header.
# Usage: tests/schemathesis/run.sh path/to/cube-auth [MAX_EXAMPLES] [SEED]
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
max_examples=${2:-20}
seed=${3:-20261126}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
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

# The fuzzing app's limits are out of the way, so that schemathesis reaches the handlers
# instead of 429s (which are still documented and checked where they occur).
"$bin" apps create --data-dir "$data" --name schemathesis --json \
  --limit-login-ip 1000000/60 --limit-login-account 1000000/60 --limit-login-account-ip 1000000/60 \
  --upload-quota 1000000/1000000000000000 \
  --limit-signup-ip 1000000/60 --limit-search-ip 1000000/60 > "$data/app.json"

. "$here/../serve.sh"
start_serve "$bin" "$data"

cd "$here"
status=0
CUBE_AUTH_API="http://$addr" CUBE_AUTH_APP_FILE="$data/app.json" SCHEMATHESIS_HOOKS=hooks \
  "$root/.tools/schemathesis/bin/schemathesis" run "$root/openapi.yaml" \
  --url "http://$addr" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" --seed "$seed" \
  --workers 1 --request-timeout 30 --no-color || status=$?
if grep -E "panicked|ERROR" "$data/serve.log"; then
  echo "the server logged errors or panics"
  status=1
fi
exit $status
