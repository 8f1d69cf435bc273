#!/usr/bin/env bash
# Installs what building and testing Woolly needs on a fresh Debian machine. Idempotent:
# each step checks first and says what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

# Debian packages. Vulkan's software driver (lavapipe) lets the GPU path run and be tested
# on machines without a GPU; gnome-keyring is the real Secret Service the keychain tests use
# (gdbus, from libglib2.0-bin, locks it for the locked-keychain test).
# The desktop app (Tauri 2) builds against WebKitGTK 4.1 and GTK 3; its end-to-end test runs
# the real window under Xvfb through WebKitWebDriver (webkit2gtk-driver). The install test
# (tests/dist) validates the packaged desktop entry and AppStream metainfo with
# desktop-file-validate and appstreamcli.
APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 pkg-config dbus gnome-keyring libsecret-tools libglib2.0-bin
  build-essential file libwebkit2gtk-4.1-dev libgtk-3-dev libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver fonts-dejavu-core
  desktop-file-utils appstream)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools used by tests: the reference GGUF dequantizer; the official OpenAI client
# (and pytest, and jsonschema to validate structured output) for the server's API tests.
if ! python3 -c 'import gguf, numpy, openai, pytest, jsonschema' 2>/dev/null; then
  say "installing Python test dependencies (gguf, numpy, openai, pytest, jsonschema)"
  python3 -m pip install --quiet --disable-pip-version-check gguf==0.19.0 numpy openai pytest jsonschema
fi

./scripts/fetch-test-model.sh
./scripts/fetch-gemma3.sh

# npm packages, pinned by the root package-lock.json: the UI's (React + Vite; ui/ is an npm
# workspace) and the Tauri CLI (@tauri-apps/cli, prebuilt for this platform) that bundles the
# installers (make dist).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the npm packages (npm ci: the UI workspace and the Tauri CLI)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# tauri-driver (the WebDriver bridge of the desktop app's end-to-end test), built once into a
# cache outside the clone.
TOOLS_DIR="${WOOLLY_TOOLS_DIR:-$HOME/.cache/woolly/tools}"
if [ ! -x "$TOOLS_DIR/bin/tauri-driver" ]; then
  say "installing tauri-driver into $TOOLS_DIR (cargo install, once)"
  cargo install tauri-driver --locked --root "$TOOLS_DIR" --quiet
fi

# cargo-deny (the supply-chain check of `make test`: licences, bans, sources; deny.toml),
# built once into the same cache. It reads every crate of the lockfile, for every platform:
# fetch them all here so the check itself runs offline.
CARGO_DENY_VERSION=0.20.2
if ! "$TOOLS_DIR/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
  say "installing cargo-deny $CARGO_DENY_VERSION into $TOOLS_DIR (cargo install, once)"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --root "$TOOLS_DIR" --quiet
fi
cargo fetch --locked --quiet
