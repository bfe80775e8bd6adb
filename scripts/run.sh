#!/usr/bin/env bash
# Sets up, builds and runs Tincan. Until the desktop app lands, that is the signaling server, listening on
# 127.0.0.1:7878 unless flags say otherwise (see `--help`). Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked -p tincan-signal --bin tincan-signal
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/tincan-signal" "$@"
