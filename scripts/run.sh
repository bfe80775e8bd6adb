#!/usr/bin/env bash
# Sets up, builds and runs the Tincan desktop app. With no signaling server configured (TINCAN_SERVER), the
# app runs one itself on port 7878, so two people on one network can call each other with no setup.
# `./scripts/run.sh --server-only [flags]` runs just the signaling server (`tincan-signal --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
target_dir="${CARGO_TARGET_DIR:-target}"
if [ "${1:-}" = "--server-only" ]; then
  shift
  cargo build --release --locked -p tincan-signal --bin tincan-signal
  exec "$target_dir/release/tincan-signal" "$@"
fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run.sh: the app needs a desktop session (no DISPLAY or WAYLAND_DISPLAY here)." >&2
  echo "        Use './scripts/run.sh --server-only' for the signaling server alone." >&2
  exit 1
fi
cargo build --release --locked -p tincan-app --bin tincan
exec "$target_dir/release/tincan" "$@"
