# Sourced by the suites that drive `cube-auth serve` (tests/sdk, tests/schemathesis).
# start_serve BIN DATA_DIR: starts local mode on a free loopback port with that data dir,
# waits until it announces itself, and sets `pid` and `addr` (host:port). Extra environment
# for the server goes in front of the call, as for any command.
start_serve() {
  local bin=$1 data=$2
  RUST_LOG=warn "$bin" serve --addr 127.0.0.1:0 --data-dir "$data" > "$data/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    [ -f "$data/serve.json" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$data/serve.log"; return 1; }
    sleep 0.05
  done
  addr=$(sed -nE 's/.*"addr" *: *"([^"]+)".*/\1/p' "$data/serve.json")
  [ -n "$addr" ] || { echo "serve did not announce its address"; return 1; }
}
