#!/usr/bin/env bash
# `make bench-scale`: user search at 1,000, 10,000 and 100,000 matching users on AWS DynamoDB
# Local (started here on 127.0.0.1, stopped by pid); writes the table into docs/scale.md.
#   SCALE_SIZES=1000,10000,100000  SCALE_RUNS=10
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true

echo "== release build" >&2
cargo build --quiet --release -p bench --features driver --bin scale

state=$(mktemp -d)/dynamodb-local.state
# 111,000 users and their index items live in DynamoDB Local's Java heap.
endpoint=$(DYNAMODB_LOCAL_HEAP=${DYNAMODB_LOCAL_HEAP:-4g} scripts/dynamodb-local/run.sh start "$state")
trap 'scripts/dynamodb-local/run.sh stop "$state"; rm -rf "$(dirname "$state")"' EXIT
echo "== DynamoDB Local on $endpoint" >&2
DYNAMODB_LOCAL_ENDPOINT=$endpoint target/release/scale \
  --sizes "${SCALE_SIZES:-1000,10000,100000}" --runs "${SCALE_RUNS:-10}" --out docs/scale.md
