#!/usr/bin/env bash
# `make fuzz` (not part of `make test`): a long schemathesis run against `cube-auth serve`,
# then each cargo fuzz target for a bounded time.
#   FUZZ_EXAMPLES=300   schemathesis examples per operation
#   FUZZ_SEED=…         schemathesis seed (default: a new one each run, printed)
#   FUZZ_SECONDS=60     libFuzzer time per cargo fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh

echo "== schemathesis (${FUZZ_EXAMPLES:-300} examples per operation)"
cargo build --quiet --bin cube-auth
tests/schemathesis/run.sh target/debug/cube-auth "${FUZZ_EXAMPLES:-300}" "${FUZZ_SEED:-$RANDOM$RANDOM}"

echo "== cargo fuzz (${FUZZ_SECONDS:-60} s per target)"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in params signature v2_query; do
  echo "-- $target"
  cargo +nightly fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048
done
