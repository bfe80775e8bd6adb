#!/usr/bin/env bash
# Builds the Linux packages of the desktop app: a .deb and an .rpm (Tauri's bundler, @tauri-apps/cli 2.x from
# npm), with the icons from icons/, a desktop entry that opens tincan:// links, and a stripped binary.
# Output: target/bundle/ (or $CARGO_TARGET_DIR/bundle/…), paths printed at the end.
# Install: sudo apt install ./Tincan_*.deb   (or: sudo dnf install ./Tincan-*.rpm)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
# The CLI lives outside the repo, pinned to the 2.x line like the tauri crate.
tools="${XDG_CACHE_HOME:-$HOME/.cache}/tincan/tauri-cli"
if [ ! -x "$tools/node_modules/.bin/tauri" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent "@tauri-apps/cli@^2"
fi
# Packages carry a stripped binary; the release profile keeps line tables for everything else, so the
# bundle builds in a target dir of its own.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/bundle"
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_PROFILE_RELEASE_DEBUG=false
cd src-tauri
"$tools/node_modules/.bin/tauri" build --bundles deb,rpm "$@"
find "$CARGO_TARGET_DIR/release/bundle" -name '*.deb' -o -name '*.rpm' | while read -r f; do
  printf '%s\t%s\n' "$(du -h "$f" | cut -f1)" "$f"
done
