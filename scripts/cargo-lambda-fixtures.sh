#!/usr/bin/env bash
# The README's `cargo lambda invoke` recipe, run as written: seed a fresh table on DynamoDB
# Local with `cube-auth fixtures seed`, start `cargo lambda watch` for FUNCTION with the same
# environment the README shows, invoke each of its fixtures in order and compare the answers
# with events/expectations.json. Prints "pass N" / "fail N"; exits non-zero on any failure.
#   usage: scripts/cargo-lambda-fixtures.sh FUNCTION CUBE_AUTH_BINARY DYNAMODB_ENDPOINT
set -uo pipefail
function=$1 cube_auth=$2 endpoint=$3
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/venv/bin:$PATH"
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local} AWS_EC2_METADATA_DISABLED=true

table="fixtures-$function-$$-$RANDOM"
log=$(mktemp)
watch_pid=""
stop() {
  if [ -n "$watch_pid" ]; then
    kill -- "-$watch_pid" 2>/dev/null || kill "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap stop EXIT

TABLE_NAME=$table DYNAMODB_ENDPOINT=$endpoint "$cube_auth" fixtures seed || { echo "fail 1"; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env_vars="TABLE_NAME=$table,DYNAMODB_ENDPOINT=$endpoint,AWS_REGION=$AWS_REGION,AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
env_vars="$env_vars,AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY,AWS_EC2_METADATA_DISABLED=true"
setsid cargo lambda watch -p "$function" -A 127.0.0.1 -P "$port" --env-var "$env_vars" >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 600); do grep -q "starting Runtime server" "$log" && break; sleep 0.5; done
grep -q "starting Runtime server" "$log" || { tail -20 "$log"; echo "fail 1"; exit 1; }

pass=0 fail=0
for event in $(python3 -c "import json, sys; print(' '.join(c['event'] for c in json.load(open('events/expectations.json'))[sys.argv[1]]))" "$function"); do
  answer=$(timeout 600 cargo lambda invoke "$function" -A 127.0.0.1 -P "$port" --data-file "events/$event.json" 2>&1)
  if python3 - "$function" "$event" "$answer" <<'EOF'
import json, sys
function, event, answer = sys.argv[1:4]
case = next(c for c in json.load(open("events/expectations.json"))[function] if c["event"] == event)
try:
    response = json.loads(answer)
except ValueError:
    sys.exit(f"{event}: not an HTTP API response: {answer[:300]}")
body = response.get("body") or ""
if response.get("statusCode") != case["status"]:
    sys.exit(f"{event}: status {response.get('statusCode')}, expected {case['status']}: {body[:300]}")
missing = [needle for needle in case.get("contains", []) if needle not in body]
if missing:
    sys.exit(f"{event}: body lacks {missing}: {body[:300]}")
EOF
  then pass=$((pass + 1)); echo "ok   $function/$event"; else fail=$((fail + 1)); fi
done
echo "pass $pass"
echo "fail $fail"
[ "$fail" -eq 0 ]
