#!/usr/bin/env bash
# Sets up and runs every Tincan test: formatting, lints, unit and integration tests (real servers on
# loopback), and a short run of the signaling load benchmark (it prints figures; see README).
set -euo pipefail
cd "$(dirname "$0")/.."

TINCAN_SETUP_TESTS=1 ./scripts/setup.sh

echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== signaling load benchmark (short run; the full one is in the README)"
cargo build --release --locked -p tincan-signal --bins
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/release/tincan-signal-load" --clients 1000 --rate 500 --seconds 3
echo "== UI logic tests"
node --test ui/*.test.mjs
echo "== tests (the end-to-end ones run the built binaries: the app under Xvfb, tincan-cli peers)"
cargo build --workspace --bins --locked
cargo test --workspace --locked
