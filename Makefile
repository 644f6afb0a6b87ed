# cube-auth: `make test` runs every test tier from a clean clone (installing what it needs);
# `make serve` runs local mode.
.PHONY: test bench bench-scale fuzz serve build lint fmt clean screenshots

test:
	bash scripts/test.sh

# Release build, cold starts, warm load and hashing; writes docs/benchmarks.md (not part of test).
bench:
	bash scripts/bench.sh

# User search at 1,000 / 10,000 / 100,000 matching users on DynamoDB Local; writes the table
# into docs/scale.md (not part of test).
bench-scale:
	bash scripts/bench-scale.sh

# A long schemathesis run and the cargo fuzz targets, time-bounded (not part of test).
fuzz:
	bash scripts/fuzz.sh

serve:
	cargo run --release --bin cube-auth -- serve

build:
	cargo build --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features bench/driver,bench/one-call -- -D warnings

fmt:
	cargo fmt --all

# Refreshes docs/reset-*.png from the SDK suite's browser check.
screenshots:
	cargo build --bin cube-auth
	SCREENSHOT_DIR=$(CURDIR)/docs bash tests/sdk/run.sh target/debug/cube-auth

clean:
	cargo clean
	rm -rf .tools
