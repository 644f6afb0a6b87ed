#!/usr/bin/env bash
# `make test`: every test tier from a clean clone, with a count per tier.
#   1. unit and handler tests          (cargo, shared + function crates)
#   2. flow and storage tests          (cargo, on dynoxide and on AWS DynamoDB Local)
#   3. template and contract checks    (cargo)
#   4. runtime-API harness             (each built function binary fed its fixtures)
#      CLI and local mode              (apps on a real table and a data dir; restart; Ctrl-C)
#      cargo lambda invoke             (the README's recipe on login's fixtures, DynamoDB Local)
#   5. SDK suite                       (official connectycube@6.1.2 against cube-auth serve)
#   6. schemathesis                    (openapi.yaml, fixed seed, bounded examples, against serve)
#      sam validate --lint
#   7. cargo fmt --check and cargo clippy -D warnings
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 CARGO_TERM_COLOR=never
# One clean build, never rebuilt: incremental caches would only add gigabytes of disk.
export CARGO_INCREMENTAL=0
# The concurrency tests hold over a thousand loopback connections at once (eight instances'
# bursts against an engine in the same process), more than a common default of 1,024 open
# files: raise the limit as far as this shell may.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

logs=$(mktemp -d)
state="$root/.tools/dynamodb-local.state"
smtp_pid=""
summary=()
failed=0
total_pass=0
total_fail=0

cleanup() {
  scripts/dynamodb-local/run.sh stop "$state" 2>/dev/null || true
  if [ -n "$smtp_pid" ]; then
    kill "$smtp_pid" 2>/dev/null || true
    wait "$smtp_pid" 2>/dev/null || true
  fi
  rm -rf "$logs"
}
trap cleanup EXIT

record() { # name passed failed
  summary+=("$(printf '%-34s %5s passed, %s failed' "$1" "$2" "$3")")
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
  [ "$3" -eq 0 ] || failed=1
}

# Runs a step under a time budget (seconds): a step that hangs is killed with every process
# it started (timeout signals the whole process group) and fails, instead of holding CI until
# its own limit with nothing said about where it stopped. Exit status 124 means "timed out".
bounded() { # seconds, command...
  local seconds=$1
  shift
  timeout --kill-after=20 "$seconds" "$@"
}

cargo_tier() { # name, budget in seconds, cargo test args...
  local name=$1 budget=$2 log="$logs/$(echo "$1" | tr ' /' '__').log"
  shift 2
  echo "== $name"
  # --no-fail-fast: every test binary runs and counts, not only those before a failing one.
  # Printed as they come (flushed, so that a CI log cut short still shows them): each test
  # binary as it starts, each result line, a test still running after a minute, and each
  # panic with the two lines after it (the assertion's message).
  bounded "$budget" cargo test --no-fail-fast "$@" 2>&1 | tee "$log" |
    awk '/^ +Running / { t = $0; sub(/^ +Running /, "", t); sub(/ \(.*/, "", t); print "  " t; fflush() }
         /^test result|FAILED|has been running for over/ { print; fflush() }
         /panicked/ { n = 3 } n > 0 { print; fflush(); n-- }' || true
  local status=${PIPESTATUS[0]}
  local pass fail
  pass=$(awk '/^test result/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
  fail=$(awk '/^test result/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i } END { print n + 0 }' "$log")
  pass=${pass:-0}
  fail=${fail:-0}
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "!! $name: stopped after its budget of $budget s, in $(grep -E '^ +Running ' "$log" | tail -n 1 | sed -E 's/^ +Running //; s/ \(.*//')"
    fail=$((fail + 1))
    tail -20 "$log"
  elif [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1
    tail -40 "$log"
  fi
  record "$name" "$pass" "$fail"
}

echo "== tools (open files: $(ulimit -n))"
scripts/ensure-tools.sh || { echo "tool installation failed"; exit 1; }

echo "== build (one debug build of every crate, binary and test)"
cargo build --workspace --bins --features bench/driver --quiet && cargo test --workspace --features bench/driver --no-run --quiet || { echo "build failed"; exit 1; }

echo "== DynamoDB Local"
endpoint=$(scripts/dynamodb-local/run.sh start "$state") || { echo "DynamoDB Local did not start"; exit 1; }
echo "listening on $endpoint"
export DYNAMODB_LOCAL_ENDPOINT=$endpoint REQUIRE_DYNAMODB_LOCAL=1

echo "== SMTP server (aiosmtpd) on loopback"
.tools/venv/bin/python scripts/smtp-sink.py --dir "$logs/mail" --port-file "$logs/smtp.port" &
smtp_pid=$!
for _ in $(seq 1 100); do [ -s "$logs/smtp.port" ] && break; sleep 0.1; done
[ -s "$logs/smtp.port" ] || { echo "the SMTP server did not start"; exit 1; }
export SMTP_SINK_PORT=$(cat "$logs/smtp.port") SMTP_SINK_DIR="$logs/mail" REQUIRE_SMTP_SINK=1
echo "listening on 127.0.0.1:$SMTP_SINK_PORT"

cargo_tier "unit and handler tests" 600 --workspace --lib --bins --features bench/driver
# Every tier names the build step's package set and features, so that cargo reuses its test
# binaries instead of linking each one a second time with other features (about 3 GB more).
tier_args=(--workspace --features bench/driver)
cargo_tier "flows and storage (both engines)" 1500 "${tier_args[@]}" --test flows --test storage --test users --test seeded --test blobs --test identity --test social --test migration --test reset --test budgets --test abuse --test faults --test logs --test hostile --test instances --test takeover --test in_process
cargo_tier "template and contract checks" 600 "${tier_args[@]}" --test template --test policies
cargo_tier "runtime-API harness" 900 "${tier_args[@]}" --test harness
cargo_tier "CLI and local mode" 900 "${tier_args[@]}" --test cli

echo "== cargo lambda invoke (README recipe: fixtures seed + cargo lambda watch/invoke, login's fixtures)"
bounded 900 scripts/cargo-lambda-fixtures.sh login target/debug/cube-auth "$endpoint" > "$logs/cargo-lambda.log" 2>&1
cl_status=$?
grep -E "^ok|fail [1-9]|:" "$logs/cargo-lambda.log" | tail -20
cl_pass=$(sed -nE 's/^pass ([0-9]+)$/\1/p' "$logs/cargo-lambda.log")
cl_fail=$(sed -nE 's/^fail ([0-9]+)$/\1/p' "$logs/cargo-lambda.log")
cl_pass=${cl_pass:-0}
cl_fail=${cl_fail:-0}
if [ "$cl_status" -ne 0 ] && [ "$cl_fail" -eq 0 ]; then cl_fail=1; tail -20 "$logs/cargo-lambda.log"; fi
record "cargo lambda invoke (fixtures)" "$cl_pass" "$cl_fail"
scripts/dynamodb-local/run.sh stop "$state"

echo "== SDK suite (connectycube@6.1.2 against cube-auth serve)"
bounded 900 tests/sdk/run.sh target/debug/cube-auth 2>&1 | tee "$logs/sdk.log" | grep -E '^(✔|✖)' || true
sdk_status=${PIPESTATUS[0]}
sdk_pass=$(sed -nE 's/^ℹ pass ([0-9]+)$/\1/p' "$logs/sdk.log" | tail -n 1)
sdk_fail=$(sed -nE 's/^ℹ fail ([0-9]+)$/\1/p' "$logs/sdk.log" | tail -n 1)
sdk_pass=${sdk_pass:-0}
sdk_fail=${sdk_fail:-0}
if [ "$sdk_status" -ne 0 ] && [ "$sdk_fail" -eq 0 ]; then sdk_fail=1; tail -40 "$logs/sdk.log"; fi
record "SDK suite" "$sdk_pass" "$sdk_fail"

echo "== schemathesis (every route of openapi.yaml against cube-auth serve)"
bounded 1200 tests/schemathesis/run.sh target/debug/cube-auth "${SCHEMATHESIS_EXAMPLES:-20}" > "$logs/schemathesis.log" 2>&1
st_status=$?
sed -n '/SUMMARY/,$p' "$logs/schemathesis.log" | grep -E "generated|Seed" || true
st_generated=$(sed -nE 's/^ *([0-9]+) generated.*/\1/p' "$logs/schemathesis.log" | tail -n 1)
if [ "$st_status" -eq 0 ] && [ -n "$st_generated" ]; then
  record "schemathesis ($st_generated requests)" 1 0
else
  grep -vE "^\s*$" "$logs/schemathesis.log" | tail -60
  record "schemathesis (${st_generated:-0} requests)" 0 1
fi

echo "== sam validate --lint"
if .tools/venv/bin/sam validate --lint 2>&1 | tail -5; then record "sam validate --lint" 1 0; else record "sam validate --lint" 0 1; fi

echo "== cargo fmt --check, cargo clippy"
if cargo fmt --all -- --check >/dev/null; then record "cargo fmt --check" 1 0; else cargo fmt --all -- --check | head -20; record "cargo fmt --check" 0 1; fi
if cargo clippy --workspace --all-targets --features bench/driver,bench/one-call --quiet -- -D warnings 2>"$logs/clippy.log"; then
  record "cargo clippy -D warnings" 1 0
else
  head -60 "$logs/clippy.log"
  record "cargo clippy -D warnings" 0 1
fi

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "total: $total_pass passed, $total_fail failed"
exit "$failed"
