#!/usr/bin/env bash
# Installs what building and testing Tincan needs on Debian: system packages (apt) and Rust components.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  build-essential pkg-config ca-certificates curl file
  nasm libopus-dev libvpx-dev                                      # codecs
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev  # the desktop app (Tauri 2)
  libxdo-dev libssl-dev
  xvfb xdotool dbus-x11 xauth webkit2gtk-driver imagemagick        # a real window without a display, WebDriver, screenshots
  openbox x11-utils                                                 # a window manager where full screen is tested
  nodejs                                                            # the UI's logic tests
  coturn                                                            # TURN server the relay tests start
  iptables iproute2 util-linux                                      # network namespaces: browser tests, NAT lab, lossy paths
  chromium chromium-driver                                          # the browser peer of the interop tests
  libasound2-dev libclang-dev                                       # microphone/speakers (cpal: ALSA), camera (nokhwa: V4L2 bindings)
  libdbus-1-dev                                                     # real-time audio threads through rtkit
  libpulse-dev                                                      # the computer's sound for a screen share (libpulse-simple)
  libpipewire-0.3-dev                                               # sharing on Wayland: the portal's PipeWire stream
  xdg-desktop-portal pipewire wireplumber                           # the ScreenCast portal and PipeWire the Wayland share is tested on
  pulseaudio pulseaudio-utils libasound2-plugins sox                # the audio server the device tests start, and its tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=900 update -qq
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
# WebDriver front for the app's webview, for the end-to-end tests (pinned to the 2.x line like Tauri);
# test.sh asks for it with TINCAN_SETUP_TESTS=1.
if [ "${TINCAN_SETUP_TESTS:-}" = 1 ] && ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version '^2' --locked --quiet
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
